package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;

/**
 * Random initial weights that a seed reproduces: {@code Init.seed(s)} before building a model gives the same weights
 * in every run and at every thread count.
 *
 * <p>Measured on ND4J 1.0.0-M2.1: {@code Nd4j.getRandom().setSeed(s)} does not make the following
 * {@code Nd4j.rand(DataType, shape)} / {@code Nd4j.randn(DataType, shape)} draws repeat from one run to the next (the
 * same seed gave a different tiny UNet in each JVM, even at one thread), while the overloads that take the seed
 * themselves ({@code Nd4j.rand(long, long[])}, {@code Nd4j.randn(long, long[])}) are bit-identical across runs and
 * thread counts. So each initialiser here draws a fresh 64-bit seed from one {@link SplittableRandom} stream and fills
 * its array with those seeded overloads: a model built after {@link #seed} gets the same weights whenever its
 * parameters are created in the same order (module constructors are deterministic). Without a {@link #seed} call the
 * stream starts from a random seed, as PyTorch's default generator does.
 */
public final class Init {
    private static SplittableRandom stream = new SplittableRandom();

    private Init() {}

    /** Restarts the initialisation stream from {@code seed} (for the whole process; call before building a model). */
    public static synchronized void seed(long seed) { stream = new SplittableRandom(seed); }

    private static synchronized long next() { return stream.nextLong(); }

    /** U(−bound, bound) in float32: PyTorch's Kaiming-uniform / default Linear and Conv initialisation. */
    public static INDArray uniform(double bound, long... shape) {
        return float32(Nd4j.rand(next(), shape)).muli(2 * bound).subi(bound);
    }

    /** N(0, std²) in float32 (embeddings). */
    public static INDArray normal(double std, long... shape) {
        INDArray x = float32(Nd4j.randn(next(), shape));
        return std == 1.0 ? x : x.muli(std);
    }

    private static INDArray float32(INDArray x) {
        if (x.dataType() == DataType.FLOAT) return x;
        INDArray f = x.castTo(DataType.FLOAT);
        Memory.free(x);
        return f;
    }
}
