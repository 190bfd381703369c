package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * A named piece of module state: a trainable parameter (gradient accumulates in {@link #grad()}) or a buffer
 * (non-trainable state that is still saved and loaded, such as the RoPE frequency table).
 *
 * <p>A frozen parameter may be <em>stored</em> in half precision ({@link #storeAs}: FLOAT16 or BFLOAT16, half the
 * memory) while every op still computes in FLOAT: {@link #tensor()} then returns a fresh FLOAT copy that the caller
 * releases right after the op that used it (ND4J's half-precision matmul and conv are scalar fallbacks; widening
 * costs ~7 ns per weight per forward, a few seconds for LaVie's base UNet against minutes of compute). Training
 * keeps FLOAT: a trainable parameter refuses half storage.
 */
public final class Parameter {
    private final boolean buffer;
    private boolean trainable;
    private Tensor tensor;
    private boolean halfStored;   // data in HALF/BFLOAT16, computed with as FLOAT
    private boolean ownsData;     // the array was given to (of/buffer) or made by this parameter: safe to free

    private Parameter(INDArray data, boolean buffer) {
        this.buffer = buffer;
        this.trainable = !buffer;
        this.tensor = Tensor.leaf(data, trainable);
        this.ownsData = true;
    }

    /** A trainable parameter over {@code data} (taken, not copied). */
    public static Parameter of(INDArray data) { return new Parameter(data, false); }

    /** A buffer: saved and loaded with the module, never trained. */
    public static Parameter buffer(INDArray data) { return new Parameter(data, true); }

    /**
     * The tensor to compute with: the stored leaf (requiring a gradient when trainable), or, when the values are
     * {@link #storeAs stored in half precision}, a fresh FLOAT copy of them. Callers should {@link Tensor#release()}
     * what they got once the op that used it has returned: a no-op for the leaf, and it frees the FLOAT copy at once.
     * While a tape records, the copy belongs to the tape instead (ops may have captured it for backward) and is freed
     * with the other activations after backward.
     */
    public Tensor tensor() {
        if (!halfStored) return tensor;
        INDArray full = HalfFloats.toFloat(tensor.data());   // exact widening
        Tape tape = Grad.current();
        if (tape != null) tape.own(full);
        return Tensor.result(full);
    }

    public INDArray data() { return tensor.data(); }

    public long[] shape() { return tensor.shape(); }

    /** The dtype the values are stored in (what loading converts to). */
    public DataType dtype() { return tensor.dtype(); }

    /** The dtype ops compute with: FLOAT for half-stored parameters, otherwise the stored dtype. */
    public DataType computeType() { return halfStored ? DataType.FLOAT : dtype(); }

    /** True when the values are stored in FLOAT16/BFLOAT16 and computed with in FLOAT (see {@link #storeAs}). */
    public boolean isHalfStored() { return halfStored; }

    /** Bytes of the stored values. */
    public long bytes() { return tensor.numel() * dtype().width(); }

    public boolean isBuffer() { return buffer; }

    public boolean isTrainable() { return trainable; }

    /** Freezes or unfreezes a parameter (buffers are never trainable). Drops any accumulated gradient. */
    public void setTrainable(boolean trainable) {
        if (buffer && trainable) throw new IllegalStateException("a buffer cannot be made trainable");
        if (this.trainable == trainable) return;
        if (trainable && halfStored)
            throw new IllegalStateException("a parameter stored in " + dtype() + " cannot be made trainable (training keeps FLOAT "
                    + "weights): storeAs(FLOAT) first");
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
        INDArray v = values.dataType() == dtype() ? values : values.castTo(dtype());   // half-stored: rounded here
        tensor = Tensor.leaf(v, trainable);
        ownsData = v != values;
    }

    /**
     * Converts the values to {@code type} and computes in it from now on (e.g. DOUBLE for gradient checks). For
     * half-precision <em>storage</em> with FLOAT compute use {@link #storeAs}; this clears that mode.
     */
    public void to(DataType type) {
        if (type != dtype()) {
            tensor = Tensor.leaf(tensor.data().castTo(type), trainable);
            ownsData = true;
        }
        halfStored = false;
    }

    /**
     * Stores the values as {@code type} while ops keep computing in FLOAT: FLOAT16 or BFLOAT16 (half the memory; the
     * values are rounded once, to 11 or 8 significant bits), or FLOAT to return to full-precision storage (the
     * rounding is not undone). Only FLOAT parameters that are not trainable may be stored in half: training keeps
     * FLOAT weights (freeze first with {@code setTrainable(false)}). The FLOAT array is freed when this parameter
     * owns it (its initial values, or a converted copy; not an array {@link #set} took from a caller): arrays obtained
     * from {@link #data()} before the call must not be used after it. Storing before {@link Module#load} is cheapest:
     * loading then converts each checkpoint tensor straight to the stored dtype.
     *
     * @throws IllegalArgumentException for any other dtype
     * @throws IllegalStateException for a trainable parameter, or values that are not FLOAT
     */
    public void storeAs(DataType type) {
        if (type == DataType.FLOAT) {
            if (halfStored) {
                tensor = Tensor.leaf(tensor.data().castTo(DataType.FLOAT), trainable);
                halfStored = false;
                ownsData = true;
            }
            return;
        }
        if (type != DataType.HALF && type != DataType.BFLOAT16)
            throw new IllegalArgumentException("weight storage dtype must be FLOAT, HALF (fp16) or BFLOAT16 (bf16), got " + type);
        if (trainable)
            throw new IllegalStateException("a trainable parameter " + Arrays.toString(shape()) + " cannot be stored in " + type
                    + " (training keeps FLOAT weights): freeze it first (setTrainable(false))");
        if (!halfStored && dtype() != DataType.FLOAT)
            throw new IllegalStateException("only FLOAT values can be stored in half precision, this parameter holds " + dtype());
        if (dtype() == type) return;
        INDArray old = tensor.data();
        tensor = Tensor.leaf(old.castTo(type), false);
        halfStored = true;
        // the FLOAT copy would otherwise live until the GC finds it; one loaded from a caller's array is left alone
        if (ownsData) Memory.free(old);
        ownsData = true;

    }

    @Override
    public String toString() {
        return (buffer ? "Buffer" : "Parameter") + Arrays.toString(shape()) + " " + dtype() + (halfStored ? " (computes in FLOAT)" : "");
    }
}
