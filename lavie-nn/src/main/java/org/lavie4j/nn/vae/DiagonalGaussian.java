package org.lavie4j.nn.vae;

import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * diffusers 0.16 {@code DiagonalGaussianDistribution} (models/vae.py): the VAE posterior from the encoder's moments
 * {@code (B, 2L, ...)}: {@code mean = moments[:, :L]}, {@code logvar = clamp(moments[:, L:], −30, 20)},
 * {@code std = exp(0.5·logvar)}. Sampling takes its noise explicitly ({@code mean + std·ε}), so callers own the
 * generator. Works for images (B, 2L, h, w) and for videos (B, 2L, F, h, w).
 */
public final class DiagonalGaussian {
    /** Bounds of the log-variance clamp (the reference's {@code torch.clamp(self.logvar, -30.0, 20.0)}). */
    public static final double LOGVAR_MIN = -30.0, LOGVAR_MAX = 20.0;

    private final Tensor mean, logvar, std;

    private DiagonalGaussian(Tensor mean, Tensor logvar) {
        this.mean = mean;
        this.logvar = logvar;
        Tensor half = Ops.scale(logvar, 0.5);
        this.std = Ops.exp(half);
        half.release();
    }

    /**
     * The posterior of moments (B, 2L, ...): channels [0, L) are the mean, [L, 2L) the log-variance. Outside gradient
     * recording the moments are released (mean and logvar are copies).
     */
    public static DiagonalGaussian fromMoments(Tensor moments) {
        if (moments.rank() < 2 || moments.size(1) % 2 != 0)
            throw new IllegalArgumentException("DiagonalGaussian: moments must be (B, 2*latent_channels, ...), got " + Arrays.toString(moments.shape()));
        Tensor[] parts = Ops.chunk(moments, 2, 1);                     // 2 × (b, l, ...), views
        Tensor mean = Ops.contiguous(parts[0]);
        Tensor logvar = Ops.clamp(parts[1], LOGVAR_MIN, LOGVAR_MAX);
        moments.release();
        return new DiagonalGaussian(mean, logvar);
    }

    /** The mean (B, L, ...). */
    public Tensor mean() { return mean; }

    /** The clamped log-variance (B, L, ...). */
    public Tensor logvar() { return logvar; }

    /** {@code exp(0.5·logvar)}. */
    public Tensor std() { return std; }

    /** {@code exp(logvar)} (computed on each call). */
    public Tensor var() { return Ops.exp(logvar); }

    /** The mode of the distribution: the mean. */
    public Tensor mode() { return mean; }

    /** {@code mean + std·ε} for noise ε of the mean's shape (the reference draws ε ~ N(0, 1) itself). */
    public Tensor sample(Tensor eps) {
        if (!Arrays.equals(eps.shape(), mean.shape()))
            throw new IllegalArgumentException("DiagonalGaussian.sample: noise " + Arrays.toString(eps.shape()) + " must have the mean's shape "
                    + Arrays.toString(mean.shape()));
        Tensor scaled = Ops.mul(std, eps);
        Tensor out = Ops.add(mean, scaled);
        scaled.release();
        return out;
    }

    /** Releases mean, logvar and std (see {@link Tensor#release()}). */
    public void release() { Tensor.release(mean, logvar, std); }
}
