package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The training noise schedule shared by the diffusers 0.16 schedulers: betas, alphas = 1 − betas and ᾱ = cumprod(alphas),
 * held as the reference holds them: float32 torch tensors. Betas are computed in double and rounded once to float32
 * (torch's float32 linspace may differ by an ulp), {@code scaled_linear} squares in float32, alphas are float32, and
 * the cumulative product accumulates in double and rounds each entry to float32, as torch's CPU {@code cumprod} does
 * (its accumulator type for float is double).
 */
public final class NoiseSchedule {
    private final float[] betas;
    private final float[] alphas;
    private final float[] alphasCumprod;

    private NoiseSchedule(float[] betas) {
        this.betas = betas;
        this.alphas = new float[betas.length];
        this.alphasCumprod = new float[betas.length];
        double acc = 1.0;
        for (int i = 0; i < betas.length; i++) {
            alphas[i] = 1f - betas[i];
            acc *= alphas[i];
            alphasCumprod[i] = (float) acc;
        }
    }

    /** The schedule a config describes. */
    public static NoiseSchedule of(SchedulerConfig c) {
        return of(c.betaSchedule(), c.numTrainTimesteps(), c.betaStart(), c.betaEnd());
    }

    /** {@code n} betas of {@code schedule} between {@code betaStart} and {@code betaEnd} (ignored by the cosine schedule). */
    public static NoiseSchedule of(BetaSchedule schedule, int n, double betaStart, double betaEnd) {
        if (n <= 1) throw new IllegalArgumentException("num_train_timesteps must be > 1, got " + n);
        if (schedule == null) throw new IllegalArgumentException("beta schedule must not be null");
        float[] b = new float[n];
        switch (schedule) {
            case LINEAR -> {
                double[] l = linspace(betaStart, betaEnd, n);
                for (int i = 0; i < n; i++) b[i] = (float) l[i];
            }
            case SCALED_LINEAR -> {
                double[] l = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), n);
                for (int i = 0; i < n; i++) {
                    float s = (float) l[i];
                    b[i] = s * s; // float32 ** 2
                }
            }
            case SQUAREDCOS_CAP_V2 -> {
                for (int i = 0; i < n; i++) {
                    double t1 = (double) i / n, t2 = (double) (i + 1) / n;
                    b[i] = (float) Math.min(1 - alphaBar(t2) / alphaBar(t1), 0.999);
                }
            }
        }
        return new NoiseSchedule(b);
    }

    /** Glide's ᾱ(t) = cos((t + 0.008) / 1.008 · π/2)². */
    private static double alphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** torch linspace in double: start + step·i for the first half, end − step·(n−1−i) for the second. */
    private static double[] linspace(double start, double end, int n) {
        double step = (end - start) / (n - 1);
        double[] out = new double[n];
        int half = n / 2;
        for (int i = 0; i < n; i++) out[i] = i < half ? start + step * i : end - step * (n - 1 - i);
        return out;
    }

    /** Number of training timesteps T. */
    public int size() { return betas.length; }

    /** beta_t (float32). */
    public float beta(int t) { return betas[check(t)]; }

    /** ᾱ_t (float32). */
    public float alphaCumprod(long t) { return alphasCumprod[check(t)]; }

    /** A copy of all betas. */
    public float[] betas() { return betas.clone(); }

    /** A copy of ᾱ. */
    public float[] alphasCumprod() { return alphasCumprod.clone(); }

    /** ᾱ as a float32 [T] array. */
    public INDArray alphasCumprodArray() { return Nd4j.createFromArray(alphasCumprod.clone()); }

    private int check(long t) {
        if (t < 0 || t >= betas.length)
            throw new IllegalArgumentException("timestep " + t + " is outside the training schedule [0, " + (betas.length - 1) + "]");
        return (int) t;
    }

    @Override
    public String toString() {
        return "NoiseSchedule{T=" + betas.length + ", beta[0]=" + betas[0] + ", ᾱ[T-1]=" + alphasCumprod[betas.length - 1] + "}";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NoiseSchedule s && Arrays.equals(betas, s.betas);
    }

    @Override
    public int hashCode() { return Arrays.hashCode(betas); }
}
