package org.lavie4j.nn.pipeline;

import java.time.Duration;

/**
 * Told about every denoising step of every stage of {@link CascadePipeline}, and when each stage starts and ends.
 * Returning {@code false} from {@link #onStep} cancels the run: the running stage frees its tensors, the cascade frees
 * what it holds, and {@link java.util.concurrent.CancellationException} is thrown. A listener may also throw
 * {@code CancellationException} itself.
 */
@FunctionalInterface
public interface CascadeProgress {
    /** A listener that never cancels and ignores everything. */
    CascadeProgress NONE = (stage, step, total, elapsed) -> true;

    /**
     * @param stage   the stage running
     * @param step    the step just completed within the stage, 1-based. The VSR stage counts across its chunks:
     *                chunk c's step s is {@code c·steps + s} of {@code chunks·steps}
     * @param total   the stage's number of steps
     * @param elapsed wall time since the stage started
     * @return {@code true} to go on, {@code false} to cancel
     */
    boolean onStep(CascadeStage stage, int step, int total, Duration elapsed);

    /**
     * Before a stage runs, with the shape it will produce.
     *
     * @param index  0-based position of the stage in this run
     * @param stages number of stages in this run
     */
    default void onStageStart(CascadePipeline.StagePlan stage, int index, int stages) {}

    /** After a stage's output is ready (and, when another stage follows, converted for it). */
    default void onStageDone(CascadeResult.StageOutput output) {}
}
