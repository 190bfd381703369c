package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * Sub-range views built directly from an array's buffer, shape, strides and offset.
 *
 * <p>Why not {@code INDArray.get(NDArrayIndex...)}: on ND4J 1.0.0-M2.1, {@code get} of an interval at a non-zero offset
 * of an array that is itself an offset view with a leading dimension of 1 returns an array whose {@code data()} is null
 * (any use then throws a NullPointerException). Concat's and slice's backward produce exactly such views of
 * gradients. These views share memory with {@code x} like {@code get} does.
 */
public final class Views {
    private Views() {}

    /** Elements [start, end) of dimension {@code dim} of {@code x}, sharing its memory. */
    public static INDArray interval(INDArray x, int dim, long start, long end) {
        int d = dim < 0 ? dim + x.rank() : dim;
        if (d < 0 || d >= x.rank()) throw new IllegalArgumentException("dim " + dim + " for rank " + x.rank());
        long n = x.size(d);
        if (start < 0 || end > n || start > end)
            throw new IllegalArgumentException("interval [" + start + ", " + end + ") of dim " + d + " with size " + n);
        if (start == 0 && end == n) return x;
        if (start == end || x.isEmpty()) {        // zero-length: ND4J's own path handles empty shapes
            var idx = new org.nd4j.linalg.indexing.INDArrayIndex[x.rank()];
            Arrays.fill(idx, NDArrayIndex.all());
            idx[d] = NDArrayIndex.interval(start, end);
            return x.get(idx);
        }
        DataBuffer b = x.data();
        DataBuffer root = b.originalDataBuffer() != null ? b.originalDataBuffer() : b;
        long[] shape = x.shape().clone();
        shape[d] = end - start;
        long[] stride = x.stride().clone();
        return Nd4j.create(root, shape, stride, x.offset() + start * stride[d], x.ordering());
    }
}
