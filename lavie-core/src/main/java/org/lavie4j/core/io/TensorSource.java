package org.lavie4j.core.io;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * One named tensor of a checkpoint or of a module's state: its dtype and shape are known without reading the data;
 * {@link #load()} reads (or returns) the values. Sources from files read lazily (memory-mapped where the format allows).
 */
public interface TensorSource {
    /** The full dotted key, e.g. {@code down_blocks.0.resnets.0.conv1.weight}. */
    String key();

    /** The stored element type. */
    DType dtype();

    /** The shape (a fresh copy). */
    long[] shape();

    /** The values in the stored dtype, as a new array the caller owns (or the live array for in-memory sources). */
    INDArray load();

    /** The values converted to {@code type}; the caller owns the result. */
    default INDArray load(DataType type) {
        INDArray a = load();
        return a.dataType() == type ? a : a.castTo(type);
    }

    default long numel() {
        long n = 1;
        for (long s : shape()) n *= s;
        return n;
    }

    /** A source over an existing array (no copy). */
    static TensorSource of(String key, INDArray array) {
        DType dtype = DType.of(array.dataType());
        return new TensorSource() {
            @Override public String key() { return key; }
            @Override public DType dtype() { return dtype; }
            @Override public long[] shape() { return array.shape().clone(); }
            @Override public INDArray load() { return array; }
            @Override public String toString() { return key + " " + dtype + Arrays.toString(array.shape()); }
        };
    }
}
