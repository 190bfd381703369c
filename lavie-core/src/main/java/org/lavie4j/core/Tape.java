package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * A reverse-mode tape: the ops recorded in one {@link Grad#record()} scope, in execution order. {@link #backward}
 * walks them in reverse, frees each node's saved activations as soon as it has been used, and accumulates
 * gradients into leaf tensors ({@link Tensor#grad()}). After backward, the outputs of the recorded ops (other than the
 * one backward started from) are freed: reading them afterwards is an error. Keep values you need (e.g. predictions to
 * log) by copying them before calling backward.
 */
public final class Tape implements AutoCloseable {
    final boolean recording;
    private final List<Node> nodes = new ArrayList<>();
    private final List<INDArray> outputs = new ArrayList<>();
    private boolean closed;

    Tape(boolean recording) { this.recording = recording; }

    void add(Node node) { nodes.add(node); }

    /** An op output owned by the tape: freed once backward has consumed it (views are never registered). */
    void own(INDArray output) { outputs.add(output); }

    /** Number of recorded ops still held. */
    public int size() { return nodes.size(); }

    /**
     * Bytes of the op outputs this tape holds until backward frees them (each allocation counted once, freed ones not):
     * the activations a recorded forward keeps alive. Arrays that backward closures saved besides their op's output
     * (e.g. a norm's x̂) are not counted.
     */
    public long heldBytes() {
        java.util.HashSet<Long> seen = new java.util.HashSet<>();
        long bytes = 0;
        for (INDArray a : outputs) {
            if (a.wasClosed()) continue;
            DataBuffer b = a.data();
            for (DataBuffer p = b.originalDataBuffer(); p != null && p != b; p = b.originalDataBuffer()) b = p;
            if (seen.add(b.addressPointer().address())) bytes += b.length() * b.getElementSize();
        }
        return bytes;
    }

    /** Backward from a scalar (one-element) output with seed gradient 1. */
    public void backward(Tensor output) {
        if (output.numel() != 1)
            throw new IllegalArgumentException("backward(output) needs a one-element output, got shape "
                    + Arrays.toString(output.shape()) + "; pass an explicit output gradient");
        INDArray seed = output.data().ulike().assign(1.0);
        backward(output, seed);
    }

    /**
     * Backward from {@code output} with the given gradient of the loss w.r.t. it. Consumes the tape: afterwards the
     * recorded activations are freed and a second backward through the same ops is an error.
     */
    public void backward(Tensor output, INDArray gradOutput) {
        if (!Arrays.equals(output.shape(), gradOutput.shape()))
            throw new IllegalArgumentException("gradient shape " + Arrays.toString(gradOutput.shape())
                    + " does not match output shape " + Arrays.toString(output.shape()));
        if (!output.requiresGrad()) throw new IllegalArgumentException("output does not require a gradient: nothing was recorded for it");
        if (output.isLeaf()) {
            output.accumulateGrad(gradOutput, false);
            return;
        }
        if (output.node.backward == null)
            throw new IllegalStateException("backward through ops whose tape was already consumed (op " + output.node.op + ")");
        output.node.accumulate(gradOutput, false);
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node node = nodes.get(i);
            if (node.grad != null && node.backward != null) {
                INDArray[] grads = node.backward.apply(node.grad);
                Tensor[] inputs = node.inputs;
                IdentityHashMap<INDArray, Boolean> seen = new IdentityHashMap<>();
                // Gradients that alias this node's own gradient (identity rules such as add or reshape) must outlive
                // it: a single identical alias takes over ownership, several aliases leave the buffer to the GC.
                int aliases = 0;
                for (INDArray g : grads) if (g != null && !independent(g, node.grad)) aliases++;
                boolean transfer = node.gradOwned && aliases == 1;
                if (aliases > 0) node.gradOwned = false;
                if (grads.length != inputs.length)
                    throw new IllegalStateException("op " + node.op + " returned " + grads.length + " gradients for " + inputs.length + " inputs");
                for (int k = 0; k < inputs.length; k++) {
                    INDArray g = grads[k];
                    Tensor in = inputs[k];
                    if (g == null || in == null || !in.requiresGrad()) continue;
                    if (!Arrays.equals(g.shape(), in.shape()))
                        throw new IllegalStateException("op " + node.op + ": gradient shape " + Arrays.toString(g.shape())
                                + " for input " + k + " of shape " + Arrays.toString(in.shape()));
                    // a fresh array (not a view of the incoming gradient, not returned twice) can be freed by the tape
                    boolean first = seen.put(g, Boolean.TRUE) == null;
                    boolean owned = first && (independent(g, node.grad) || (transfer && g == node.grad));
                    if (in.node != null) in.node.accumulate(g, owned);
                    else in.accumulateGrad(g, owned);
                }
            }
            node.free();
            nodes.set(i, null);
        }
        nodes.clear();
        INDArray keep = output.data();
        long kept = keep.data().addressPointer().address();
        for (INDArray a : outputs) if (!a.wasClosed() && a.data().addressPointer().address() != kept) Memory.free(a);
        outputs.clear();
    }

    /**
     * True when {@code g} shares no memory with {@code of}. Compares the underlying allocations: a view at a non-zero
     * offset (what concat's and slice's backward return) has a buffer of its own whose address differs from its
     * parent's, yet it is the parent's memory.
     */
    private static boolean independent(INDArray g, INDArray of) {
        if (g.wasClosed() || of.wasClosed()) return false;
        return allocation(g) != allocation(of);
    }

    /** Address of the allocation an array's buffer belongs to (its outermost parent buffer). */
    static long allocation(INDArray a) {
        DataBuffer b = a.data();
        for (DataBuffer p = b.originalDataBuffer(); p != null && p != b; p = b.originalDataBuffer()) b = p;
        return b.addressPointer().address();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Node n : nodes) if (n != null) n.free();
        nodes.clear();
        outputs.clear();
        Grad.pop(this);
    }
}
