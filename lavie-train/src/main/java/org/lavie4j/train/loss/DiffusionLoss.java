package org.lavie4j.train.loss;

import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.schedulers.NoiseSchedule;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.nn.schedulers.Scheduler;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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

    /**
     * Min-SNR-γ weights (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy"; diffusers
     * {@code train_text_to_image.py --snr_gamma}): per sample {@code min(SNR_t, γ)/SNR_t} for epsilon,
     * {@code min(SNR_t, γ)/(SNR_t + 1)} for v_prediction and {@code min(SNR_t, γ)} for sample, with
     * {@code SNR_t = ᾱ_t/(1−ᾱ_t)} of the scheduler's schedule. Shape (b), float32.
     */
    public static INDArray minSnrWeights(PredictionType type, Scheduler scheduler, INDArray timesteps, double gamma) {
        if (!(gamma > 0) || Double.isInfinite(gamma)) throw new IllegalArgumentException("DiffusionLoss: snr gamma must be > 0, got " + gamma);
        NoiseSchedule schedule = NoiseSchedule.of(scheduler.config());
        long n = timesteps.length();
        float[] w = new float[(int) n];
        for (int i = 0; i < n; i++) {
            double ab = schedule.alphaCumprod(timesteps.getLong(i));
            double snr = ab / (1 - ab), clipped = Math.min(snr, gamma);
            w[i] = (float) switch (type) {
                case EPSILON -> clipped / snr;
                case V_PREDICTION -> clipped / (snr + 1);
                case SAMPLE -> clipped;
            };
        }
        return Nd4j.createFromArray(w);
    }

    /**
     * {@code mean_b(weights_b · mean((prediction_b − target_b)²))}, shape [1]: each sample's mean squared error weighted
     * (diffusers' {@code mse_loss(reduction="none").mean(dims 1..) * weights}, then the mean); {@code weights} (b) or
     * null for the plain {@link #mse}.
     */
    public static Tensor weightedMse(Tensor prediction, INDArray target, INDArray weights) {
        if (weights == null) return mse(prediction, target);
        long[] s = prediction.shape();
        if (weights.length() != s[0])
            throw new IllegalArgumentException("DiffusionLoss: " + weights.length() + " weights for a batch of " + s[0]);
        mse(prediction, target);                                            // the same shape and dtype checks
        int[] inner = new int[s.length - 1];
        for (int d = 1; d < s.length; d++) inner[d - 1] = d;
        Tensor perSample = Ops.mean(Ops.square(Ops.sub(prediction, Tensor.of(target))), false, inner);          // (b)
        Tensor w = Tensor.of(weights.castTo(prediction.dtype()).reshape(s[0]));
        return Ops.reshape(Ops.mean(Ops.mul(perSample, w), false, 0), 1);
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
