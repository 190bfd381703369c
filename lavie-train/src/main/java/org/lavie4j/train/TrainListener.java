package org.lavie4j.train;

import java.nio.file.Path;

/**
 * What a {@link Trainer} reports while it runs (the CLI prints it; tests record it). Called on the training thread;
 * every method has an empty default.
 */
public interface TrainListener {
    /** A listener that ignores everything. */
    TrainListener NONE = new TrainListener() {};

    /** Before the first step of this run: the step it starts from (0, or a resumed checkpoint's). */
    default void onStart(long startStep, long totalSteps, long trainableParameters) {}

    /** After each optimizer step; return false to stop (the trainer then writes a checkpoint and returns). */
    default boolean onStep(StepStats stats) { return true; }

    /** After a checkpoint is complete and is the latest. */
    default void onCheckpoint(long step, Path dir) {}

    /** After the validation prompts were sampled and written as one GIF grid. */
    default void onValidation(long step, Path gif) {}
}
