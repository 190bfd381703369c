package org.lavie4j.nn.pipeline;

import java.time.Duration;

/**
 * Told after every denoising step of every chunk of {@link SuperResolutionPipeline#upscale}, and after each chunk is
 * finished (decoded). Returning {@code false} cancels the run: the pipeline frees its intermediate tensors and throws
 * {@link java.util.concurrent.CancellationException}. A listener may also throw {@code CancellationException} itself.
 */
@FunctionalInterface
public interface UpscaleProgress {
    /** A listener that never cancels. */
    UpscaleProgress NONE = (chunk, chunks, step, steps, timestep, elapsed) -> true;

    /**
     * @param chunk    0-based index of the chunk being denoised
     * @param chunks   number of chunks
     * @param step     the step just completed within the chunk, 1-based
     * @param steps    denoising steps per chunk
     * @param timestep the scheduler timestep of that step
     * @param elapsed  wall time since {@code upscale} started
     * @return {@code true} to go on, {@code false} to cancel
     */
    boolean onStep(int chunk, int chunks, int step, int steps, long timestep, Duration elapsed);

    /**
     * After chunk {@code chunk} (frames {@code [fromFrame, toFrame)}) is denoised and decoded.
     *
     * @return {@code true} to go on, {@code false} to cancel
     */
    default boolean onChunkDone(int chunk, int chunks, int fromFrame, int toFrame, Duration elapsed) { return true; }

    /**
     * A {@link ProgressListener} seeing the whole run as one sequence of {@code chunks · steps} steps (step
     * {@code chunk·steps + step} of {@code chunks·steps}).
     */
    static UpscaleProgress overall(ProgressListener listener) {
        return (chunk, chunks, step, steps, timestep, elapsed) ->
                listener.onStep(chunk * steps + step, chunks * steps, timestep, elapsed);
    }
}
