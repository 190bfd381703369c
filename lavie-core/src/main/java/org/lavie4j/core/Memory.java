package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Freeing ND4J native memory at once instead of waiting for the garbage collector.
 *
 * <p>Measured on ND4J 1.0.0-M2.1 (CPU): {@code INDArray.close()} on the result of an op (dup, add, mul, ...) does
 * <em>not</em> return its buffer (resident memory grows by the array's size per call), while closing the array's
 * {@code DataBuffer} does. {@link #free} closes the buffer. Only free arrays you own outright: a reshape or permute
 * of an array shares its buffer, so freeing it frees the array; a slice over part of a buffer is left alone.
 */
public final class Memory {
    private Memory() {}

    /** Frees the native buffer of an array the caller owns (null and already-freed arrays are ignored). */
    public static void free(INDArray a) {
        if (a == null || a.wasClosed()) return;
        DataBuffer d = a.data();
        if (d.closeable()) {
            d.close();
            return;
        }
        // a view's buffer wraps its parent's: a view over the whole parent (a reshape) frees it, a slice does not
        DataBuffer parent = d.originalDataBuffer();
        if (parent != null && a.offset() == 0 && a.length() == parent.length() && parent.closeable() && !parent.wasClosed())
            parent.close();
    }

    /** Frees several arrays (see {@link #free(INDArray)}). */
    public static void free(INDArray... arrays) {
        for (INDArray a : arrays) free(a);
    }
}
