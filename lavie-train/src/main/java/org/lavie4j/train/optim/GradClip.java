package org.lavie4j.train.optim;

import org.lavie4j.core.Parameter;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/** Gradient clipping by global norm, as {@code torch.nn.utils.clip_grad_norm_} (norm type 2). */
public final class GradClip {
    private GradClip() {}

    /**
     * The 2-norm of all gradients taken together, {@code √(Σ_p ‖g_p‖²)}, accumulated in double; parameters without a
     * gradient are skipped.
     */
    public static double globalNorm(Collection<Parameter> params) {
        double sum = 0;
        for (Parameter p : params) {
            INDArray g = p.grad();
            if (g == null) continue;
            double n = g.norm2Number().doubleValue();
            sum += n * n;
        }
        return Math.sqrt(sum);
    }

    /**
     * Scales every gradient in place by {@code clip_coef = maxNorm / (total_norm + 1e-6)} when that is below 1 (torch
     * multiplies by {@code min(clip_coef, 1)}, the same thing), and returns {@code total_norm}, the norm before
     * clipping. Deviation: a non-finite norm (a NaN or infinite gradient) is returned with the gradients left
     * unchanged, so the caller can skip the step (torch would multiply them by NaN or 0).
     */
    public static double clipGradNorm(Collection<Parameter> params, double maxNorm) {
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm)) throw new IllegalArgumentException("clipGradNorm: maxNorm must be finite and > 0, got " + maxNorm);
        double total = globalNorm(params);
        if (!Double.isFinite(total)) return total;
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1) {
            for (Parameter p : params) if (p.grad() != null) p.grad().muli(coef);
        }
        return total;
    }

    /** {@link #clipGradNorm} when {@code maxNorm} > 0; {@code maxNorm} = 0 means no clipping ({@link #globalNorm} only). */
    public static double clipOrMeasure(Collection<Parameter> params, double maxNorm) {
        return maxNorm == 0 ? globalNorm(params) : clipGradNorm(params, maxNorm);
    }
}
