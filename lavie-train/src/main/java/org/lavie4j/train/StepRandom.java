package org.lavie4j.train;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;

/**
 * The trainer's randomness, counter-based: the generator of micro-batch {@code i} is a fresh {@link SplittableRandom}
 * seeded with {@code mix(seed, i)}, so it depends on nothing but the run's seed and the micro-batch's index. A
 * checkpoint therefore needs no generator state (only the step), and a resumed run draws exactly what an uninterrupted
 * one would. {@link #mix} is the SplitMix64 finaliser (Steele, Lea &amp; Flood 2014) applied to the pair, so nearby
 * counters give unrelated seeds.
 */
public final class StepRandom {
    private StepRandom() {}

    /** The generator of micro-batch {@code index} (= step × grad_accumulation + micro-batch within the step). */
    public static SplittableRandom forMicroBatch(long seed, long index) {
        return new SplittableRandom(mix(seed, index));
    }

    /** A 64-bit hash of (seed, counter). */
    public static long mix(long seed, long counter) {
        return fmix(fmix(seed) ^ (counter * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L));
    }

    private static long fmix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Standard normal float32 noise of {@code shape}, drawn in row-major order. */
    public static INDArray randn(SplittableRandom g, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) g.nextGaussian();
        return Nd4j.createFromArray(v).reshape('c', shape);
    }

    /** {@code count} uniform integers in [0, bound) as INT64 (the training timesteps). */
    public static INDArray randint(SplittableRandom g, int bound, int count) {
        long[] t = new long[count];
        for (int i = 0; i < count; i++) t[i] = g.nextInt(bound);
        return Nd4j.createFromArray(t);
    }
}
