package org.lavie4j.core;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Freeing ND4J native memory at once instead of waiting for the garbage collector.
 *
 * <p>Measured on ND4J 1.0.0-M2.1 (CPU): {@code INDArray.close()} on the result of an op (dup, add, mul, ...) does
 * <em>not</em> return its buffer (resident memory grows by the array's size per call), while closing the array's
 * {@code DataBuffer} does. {@link #free} closes the buffer. Only free arrays you own outright: a view (reshape, slice,
 * permute) shares its parent's buffer, and freeing it frees the parent.
 */
public final class Memory {
    private Memory() {}

    /** Frees the native buffer of an array the caller owns (null and already-freed arrays are ignored). */
    public static void free(INDArray a) {
        if (a == null || a.wasClosed()) return;
        if (a.isView()) return; // reshape/slice views: the parent owns the buffer
        a.data().close();
    }

    /** Frees several arrays (see {@link #free(INDArray)}). */
    public static void free(INDArray... arrays) {
        for (INDArray a : arrays) free(a);
    }
}
