package org.lavie4j.train;

import java.time.Duration;

/**
 * The figures of one optimizer step.
 *
 * @param step           optimizer steps completed (1 after the first)
 * @param totalSteps     the run's total
 * @param loss           the objective, mean over the step's micro-batches ({@code L_video + α·L_image})
 * @param videoLoss      its video term
 * @param imageLoss      its image term; NaN when the batches had no images
 * @param lr             the learning rate this step used
 * @param gradNorm       global gradient norm before clipping
 * @param skipped        true when the update was skipped (non-finite loss or gradient)
 * @param clipsPerSecond samples (clips) per second of this step, data loading included
 * @param stepTime       wall time of this step
 * @param elapsed        wall time since this run started
 */
public record StepStats(long step, long totalSteps, double loss, double videoLoss, double imageLoss, double lr, double gradNorm,
                        boolean skipped, double clipsPerSecond, Duration stepTime, Duration elapsed) {}
