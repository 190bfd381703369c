package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * A named piece of module state: a trainable parameter (gradient accumulates in {@link #grad()}) or a buffer
 * (non-trainable state that is still saved and loaded, such as the RoPE frequency table).
 */
public final class Parameter {
    private final boolean buffer;
    private boolean trainable;
    private Tensor tensor;

    private Parameter(INDArray data, boolean buffer) {
        this.buffer = buffer;
        this.trainable = !buffer;
        this.tensor = Tensor.leaf(data, trainable);
    }

    /** A trainable parameter over {@code data} (taken, not copied). */
    public static Parameter of(INDArray data) { return new Parameter(data, false); }

    /** A buffer: saved and loaded with the module, never trained. */
    public static Parameter buffer(INDArray data) { return new Parameter(data, true); }

    /** The tensor to compute with (a leaf; requires a gradient when trainable). */
    public Tensor tensor() { return tensor; }

    public INDArray data() { return tensor.data(); }

    public long[] shape() { return tensor.shape(); }

    public DataType dtype() { return tensor.dtype(); }

    public boolean isBuffer() { return buffer; }

    public boolean isTrainable() { return trainable; }

    /** Freezes or unfreezes a parameter (buffers are never trainable). Drops any accumulated gradient. */
    public void setTrainable(boolean trainable) {
        if (buffer && trainable) throw new IllegalStateException("a buffer cannot be made trainable");
        if (this.trainable == trainable) return;
        this.trainable = trainable;
        this.tensor = Tensor.leaf(tensor.data(), trainable);
    }

    public INDArray grad() { return tensor.grad(); }

    public void zeroGrad() { tensor.zeroGrad(); }

    /**
     * Replaces the values (shape must match; converted to this parameter's dtype unless {@code keepDtype}).
     * The gradient is dropped.
     */
    public void set(INDArray values) {
        if (!Arrays.equals(values.shape(), shape()))
            throw new IllegalArgumentException("shape " + Arrays.toString(values.shape()) + " does not match parameter shape " + Arrays.toString(shape()));
        INDArray v = values.dataType() == dtype() ? values : values.castTo(dtype());
        tensor = Tensor.leaf(v, trainable);
    }

    /** Converts the stored values to {@code type} (e.g. DOUBLE for gradient checks, HALF for storage). */
    public void to(DataType type) {
        if (type != dtype()) tensor = Tensor.leaf(tensor.data().castTo(type), trainable);
    }

    @Override
    public String toString() {
        return (buffer ? "Buffer" : "Parameter") + Arrays.toString(shape()) + " " + dtype();
    }
}
