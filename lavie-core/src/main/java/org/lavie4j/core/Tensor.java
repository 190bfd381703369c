package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * An ND4J array plus, while gradients are being recorded, the tape node of the op that produced it.
 *
 * <p>Three kinds of tensor exist:
 * <ul>
 *   <li>constants ({@link #of}): wrap caller-owned data, never need a gradient;</li>
 *   <li>leaves ({@link #leaf}, and every {@link Parameter}): caller-owned data whose gradient accumulates in
 *       {@link #grad()} when a {@link Tape} runs backward;</li>
 *   <li>results of {@link Ops}: own their data. Outside a recording scope they carry no node and can be
 *       {@link #release() released} as soon as they are dead, which frees native memory at once.</li>
 * </ul>
 * Tensors are not thread-safe objects to mutate, but a constant or parameter may be read by many threads.
 */
public final class Tensor {
    private INDArray data;
    private final boolean requiresGrad;
    private final boolean owned;
    private final INDArray owner;
    final Node node;
    private INDArray grad;

    private Tensor(INDArray data, INDArray owner, boolean requiresGrad, boolean owned, Node node) {
        if (data == null) throw new IllegalArgumentException("tensor data is null");
        this.data = data;
        this.owner = owner;
        this.requiresGrad = requiresGrad;
        this.owned = owned;
        this.node = node;
    }

    /** A constant over caller-owned data (no gradient, never closed by the library). */
    public static Tensor of(INDArray data) { return new Tensor(data, data, false, false, null); }

    /** A leaf over caller-owned data; when {@code requiresGrad}, backward accumulates into {@link #grad()}. */
    public static Tensor leaf(INDArray data, boolean requiresGrad) { return new Tensor(data, data, requiresGrad, false, null); }

    /** An op result that owns its data, not recorded. */
    static Tensor result(INDArray data) { return new Tensor(data, data, false, true, null); }

    /** An op result whose data may be a view of the fresh array {@code owner} (which release() frees). */
    static Tensor result(INDArray data, INDArray owner) { return new Tensor(data, owner, false, true, null); }

    /** An op result recorded on the tape. */
    static Tensor recorded(INDArray data, Node node) { return new Tensor(data, data, true, true, node); }

    /** The fresh array this op result owns (its data or the array its data is a view of); null for constants and leaves. */
    INDArray owner() { return owned ? owner : null; }

    /** The values. Do not mutate an array that a recorded op has captured. */
    public INDArray data() {
        if (data == null) throw new IllegalStateException("tensor was released");
        if (data.wasClosed()) throw new IllegalStateException("tensor memory was freed (op outputs are freed after backward; copy values you need before it)");
        return data;
    }

    public long[] shape() { return data().shape(); }

    public long size(int dim) { return data().size(dim < 0 ? dim + data.rank() : dim); }

    public int rank() { return data().rank(); }

    public DataType dtype() { return data().dataType(); }

    public long numel() { return data().length(); }

    /** True for leaves that want a gradient and for recorded results. */
    public boolean requiresGrad() { return requiresGrad; }

    /** True when this is a leaf (not produced by a recorded op). */
    public boolean isLeaf() { return node == null; }

    /** The accumulated gradient of a leaf (null before any backward reached it). */
    public INDArray grad() { return grad; }

    /** Clears the accumulated gradient (closing its buffer). */
    public void zeroGrad() {
        if (grad != null) {
            Memory.free(grad);
            grad = null;
        }
    }

    /** Takes {@code g} (owned) as this leaf's accumulated gradient, replacing none. */
    void seedGrad(INDArray g) {
        if (grad != null) throw new IllegalStateException("leaf already has a gradient");
        grad = g;
    }

    void accumulateGrad(INDArray g, boolean gOwned) {
        if (grad == null) {
            grad = gOwned ? g : g.dup();
        } else {
            grad.addi(g);
            if (gOwned) Memory.free(g);
        }
    }

    /**
     * Frees the native memory of an op result that is no longer needed, when that is safe: not while a tape is
     * recording (recorded ops may have captured it), and never for constants, leaves or parameters. A view made by
     * the view ops (reshape, permute, slice, ...) shares its owner's buffer: releasing the view frees it too.
     */
    public void release() {
        if (owned && node == null && data != null && !Grad.isRecording()) {
            data = null;
            Memory.free(owner);
        }
    }

    /**
     * An unrecorded view of {@code base}'s data. A view of an op result shares its owner: releasing either frees the
     * buffer, so release only when neither is needed any more.
     */
    static Tensor viewOf(INDArray view, Tensor base) {
        if (!base.owned || base.node != null || base.data == null) return of(view);
        return new Tensor(view, base.owner, false, true, null);
    }

    /** True when both tensors read the same native buffer (one is a view of the other, or both of a third). */
    public boolean sharesMemoryWith(Tensor other) {
        return data().data().addressPointer().address() == other.data().data().addressPointer().address();
    }

    /** Releases every tensor given (see {@link #release()}). */
    public static void release(Tensor... tensors) {
        for (Tensor t : tensors) if (t != null) t.release();
    }

    /** A detached constant sharing this tensor's values. */
    public Tensor detach() { return of(data()); }

    /** Scalar value of a one-element tensor. */
    public double item() {
        if (data().length() != 1) throw new IllegalStateException("item() needs one element, shape " + Arrays.toString(shape()));
        return data.getDouble(0);
    }

    /** A copy in another dtype (differentiable; gradient flows back in the source dtype). */
    public Tensor to(DataType type) { return Ops.cast(this, type); }

    @Override
    public String toString() {
        if (data == null) return "Tensor(released)";
        return "Tensor" + Arrays.toString(data.shape()) + " " + data.dataType() + (requiresGrad ? " requiresGrad" : "");
    }

    /** Convenience: a constant of zeros. */
    public static Tensor zeros(DataType type, long... shape) { return result(Nd4j.zeros(type, shape)); }
}
