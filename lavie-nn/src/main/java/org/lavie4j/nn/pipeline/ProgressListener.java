package org.lavie4j.nn.pipeline;

import java.time.Duration;

/**
 * Told after every denoising step of {@link TextToVideoPipeline#generate}. Returning {@code false} cancels the run:
 * {@code generate} then frees its intermediate tensors and throws {@link java.util.concurrent.CancellationException}.
 * A listener may also throw {@code CancellationException} itself, with the same effect.
 */
@FunctionalInterface
public interface ProgressListener {
    /** A listener that never cancels and ignores every step. */
    ProgressListener NONE = (step, total, timestep, elapsed) -> true;

    /**
     * @param step     the step just completed, 1-based
     * @param total    the number of denoising steps
     * @param timestep the scheduler timestep of that step
     * @param elapsed  wall time since {@code generate} started
     * @return {@code true} to go on, {@code false} to cancel
     */
    boolean onStep(int step, int total, double timestep, Duration elapsed);
}
