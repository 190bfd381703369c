package org.lavie4j.train.loss;

import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.nn.schedulers.Scheduler;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The denoising objective of latent diffusion training (Ho et al. 2020 eq. 14, "simple" loss; diffusers
 * {@code train_text_to_image.py}): the model sees {@code x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε} and regresses the target of
 * the scheduler's prediction type with a mean squared error over all elements.
 */
public final class DiffusionLoss {
    private DiffusionLoss() {}

    /**
     * The regression target for {@code x_t} built from {@code latents} (x0) and {@code noise} (ε) at
     * {@code timesteps} (one per sample, or one): ε for {@code epsilon}, the velocity
     * {@code v = √ᾱ_t·ε − √(1−ᾱ_t)·x0} for {@code v_prediction} (Salimans &amp; Ho 2022 §4), x0 for {@code sample}.
     * For epsilon and sample the result is {@code noise} / {@code latents} itself (not a copy).
     */
    public static INDArray target(PredictionType type, Scheduler scheduler, INDArray latents, INDArray noise, INDArray timesteps) {
        if (!Arrays.equals(latents.shape(), noise.shape()))
            throw new IllegalArgumentException("DiffusionLoss: latents " + Arrays.toString(latents.shape()) + " and noise "
                    + Arrays.toString(noise.shape()) + " must have the same shape");
        return switch (type) {
            case EPSILON -> noise;
            case V_PREDICTION -> scheduler.getVelocity(latents, noise, timesteps);
            case SAMPLE -> latents;
        };
    }

    /** As {@link #target(PredictionType, Scheduler, INDArray, INDArray, INDArray)} with the scheduler's own prediction type. */
    public static INDArray target(Scheduler scheduler, INDArray latents, INDArray noise, INDArray timesteps) {
        return target(scheduler.config().predictionType(), scheduler, latents, noise, timesteps);
    }

    /** {@code mean((prediction − target)²)} over all elements, shape [1] ({@code F.mse_loss}, reduction "mean"). */
    public static Tensor mse(Tensor prediction, INDArray target) {
        if (!Arrays.equals(prediction.shape(), target.shape()))
            throw new IllegalArgumentException("DiffusionLoss: prediction " + Arrays.toString(prediction.shape()) + " and target "
                    + Arrays.toString(target.shape()) + " must have the same shape");
        if (prediction.dtype() != target.dataType())
            throw new IllegalArgumentException("DiffusionLoss: prediction is " + prediction.dtype() + ", target " + target.dataType());
        return Ops.mseLoss(prediction, Tensor.of(target));
    }
}
