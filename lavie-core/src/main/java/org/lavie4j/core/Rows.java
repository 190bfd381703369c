package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The rows of a float32 view whose last dimension is contiguous: where each row starts, as a flat index counted from the
 * view's first element (where its buffer pointer starts, {@link Kernels#viewBuffer}). Row r is the r-th row of the
 * leading indices in c order, whatever the view's strides, so a row-wise kernel (LayerNorm, a bias and residual pass)
 * can read a permuted view, e.g. the temporal attention's ((B·H·W), F, C) view of the (B·F, H·W, C) tokens, in place
 * instead of through ND4J's strided loops or a copy.
 */
final class Rows {
    /** Number of rows. */
    final long count;
    /** Elements per row. */
    final int length;
    private final long[] sizes, strides;   // the leading dimensions, outermost first
    private final boolean dense;

    private Rows(long count, int length, long[] sizes, long[] strides, boolean dense) {
        this.count = count;
        this.length = length;
        this.sizes = sizes;
        this.strides = strides;
        this.dense = dense;
    }

    /**
     * The rows of x, or null where the kernels cannot take it: not float32, a scalar, an empty dimension, a last
     * dimension that is not contiguous, a negative stride, or elements beyond int indices.
     */
    static Rows of(INDArray x) {
        int rank = x.rank();
        if (x.dataType() != DataType.FLOAT || rank < 1) return null;
        for (int d = 0; d < rank; d++) if (x.size(d) < 1 || x.stride(d) < 0) return null;
        long length = x.size(rank - 1);
        if ((length > 1 && x.stride(rank - 1) != 1) || Kernels.extent(x) >= Integer.MAX_VALUE) return null;
        long[] sizes = new long[rank - 1], strides = new long[rank - 1];
        long count = 1, expected = length;
        boolean dense = true;
        for (int d = rank - 2; d >= 0; d--) {
            sizes[d] = x.size(d);
            strides[d] = x.stride(d);
            if (sizes[d] > 1 && strides[d] != expected) dense = false;
            expected *= sizes[d];
            count *= sizes[d];
        }
        return new Rows(count, (int) length, sizes, strides, dense);
    }

    /** The flat index of row {@code row}'s first element, from the view's first element. */
    long start(long row) {
        if (dense) return row * length;
        long at = 0;
        for (int d = sizes.length - 1; d >= 0; d--) {
            at += (row % sizes[d]) * strides[d];
            row /= sizes[d];
        }
        return at;
    }

    /** Whether row r starts at r·length: the view is one c-order run of floats. */
    boolean dense() { return dense; }

    /**
     * A fresh float32 array shaped as x and laid out with x's strides, as a view of a dense buffer of x's length: the
     * permuted view a c-contiguous array would give, so that {@code permute}s undoing x's make it contiguous again.
     * Null where x's elements do not tile a dense block (a slice, a broadcast or overlapping rows): then no array has
     * its strides without gaps.
     */
    static INDArray likeStrides(INDArray x) {
        int rank = x.rank();
        Integer[] order = new Integer[rank];          // the dimensions from the largest stride to the smallest
        for (int d = 0; d < rank; d++) order[d] = d;
        Arrays.sort(order, Comparator.comparingLong((Integer d) -> x.size(d) == 1 ? Long.MAX_VALUE : x.stride(d)).reversed());
        long expected = 1;
        for (int i = rank - 1; i >= 0; i--) {
            int d = order[i];
            if (x.size(d) == 1) continue;
            if (x.stride(d) != expected) return null;
            expected *= x.size(d);
        }
        long[] physical = new long[rank];
        int[] back = new int[rank];
        for (int i = 0; i < rank; i++) {
            physical[i] = x.size(order[i]);
            back[order[i]] = i;
        }
        return Memory.uninitialized(DataType.FLOAT, physical).permute(back);
    }
}
