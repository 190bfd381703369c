package org.lavie4j.nn.schedulers;

import org.lavie4j.core.Memory;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/** Shared pieces of the ported schedulers: argument checks, float32 scalar maths, the ᾱ-based add_noise / velocity. */
final class Schedulers {
    private Schedulers() {}

    /** float32 square root, as torch {@code x ** 0.5} on a float32 tensor (sqrt is correctly rounded either way). */
    static float sqrt(float x) { return (float) Math.sqrt(x); }

    static void checkSteps(int numTrainTimesteps, int n) {
        if (n <= 0) throw new IllegalArgumentException("num_inference_steps must be > 0, got " + n);
        if (n > numTrainTimesteps)
            throw new IllegalArgumentException("num_inference_steps " + n + " cannot be larger than num_train_timesteps "
                    + numTrainTimesteps + ": the model was trained on " + numTrainTimesteps + " timesteps");
    }

    static void sameShape(INDArray a, String an, INDArray b, String bn) {
        if (a == null || b == null) throw new IllegalArgumentException(an + " and " + bn + " must not be null");
        if (!Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException(an + " " + Arrays.toString(a.shape()) + " and " + bn + " "
                    + Arrays.toString(b.shape()) + " must have the same shape");
    }

    /** The timesteps argument of add_noise / get_velocity as longs: one per batch element, or one for all. */
    static long[] timesteps(INDArray t, long batch) {
        if (t == null) throw new IllegalArgumentException("timesteps must not be null");
        long[] ts = new long[(int) t.length()];
        INDArray flat = t.reshape(t.length());
        for (int i = 0; i < ts.length; i++) {
            double v = flat.getDouble(i);
            if (v != Math.rint(v)) throw new IllegalArgumentException("timestep " + v + " is not an integer training timestep");
            ts[i] = (long) v;
        }
        if (ts.length != 1 && ts.length != batch)
            throw new IllegalArgumentException(ts.length + " timesteps for a batch of " + batch + " (give 1 or " + batch + ")");
        return ts;
    }

    /** a[b]·x[b] + c[b]·y[b] per batch element b (float32 coefficients; one coefficient pair broadcasts). */
    static INDArray perBatch(INDArray x, float[] a, INDArray y, float[] c) {
        if (a.length == 1) return x.mul(a[0]).addi(y.mul(c[0]));
        INDArray out = Memory.uninitialized(x.dataType(), x.shape());
        for (int b = 0; b < a.length; b++) {
            INDArray xb = x.slice(b), yb = y.slice(b);
            out.slice(b).assign(xb.mul(a[b]).addi(yb.mul(c[b])));
        }
        return out;
    }

    /** diffusers {@code add_noise}: √ᾱ_t·x0 + √(1−ᾱ_t)·ε (ᾱ in float32, the sample dtype). */
    static INDArray addNoise(NoiseSchedule s, INDArray original, INDArray noise, INDArray timesteps) {
        sameShape(original, "original samples", noise, "noise");
        float[][] k = sqrtAlphas(s, timesteps(timesteps, original.size(0)));
        return perBatch(original, k[0], noise, k[1]);
    }

    /** diffusers {@code get_velocity}: v = √ᾱ_t·ε − √(1−ᾱ_t)·x0. */
    static INDArray velocity(NoiseSchedule s, INDArray sample, INDArray noise, INDArray timesteps) {
        sameShape(sample, "sample", noise, "noise");
        float[][] k = sqrtAlphas(s, timesteps(timesteps, sample.size(0)));
        for (int i = 0; i < k[1].length; i++) k[1][i] = -k[1][i];
        return perBatch(noise, k[0], sample, k[1]);
    }

    /** Per sample: {√ᾱ_t, √(1−ᾱ_t)} in float32. */
    private static float[][] sqrtAlphas(NoiseSchedule s, long[] ts) {
        float[] a = new float[ts.length], c = new float[ts.length];
        for (int i = 0; i < ts.length; i++) {
            float ac = s.alphaCumprod(ts[i]);
            a[i] = sqrt(ac);
            c[i] = sqrt(1f - ac);
        }
        return new float[][]{a, c};
    }

    /** Clamps to ±range (clip_sample). */
    static INDArray clip(INDArray x, double range) {
        return Transforms.min(Transforms.max(x, -range, true), range, false);
    }

    /** Standard normal noise of {@code like}'s shape and dtype drawn from an explicit generator. */
    static INDArray randn(RandomGenerator generator, INDArray like) {
        if (generator == null) throw new IllegalArgumentException("a generator is required to draw noise");
        float[] v = new float[(int) like.length()];
        for (int i = 0; i < v.length; i++) v[i] = (float) generator.nextGaussian();
        return Nd4j.createFromArray(v).reshape(like.shape()).castTo(like.dataType());
    }
}
