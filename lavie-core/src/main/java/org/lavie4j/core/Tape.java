package org.lavie4j.core;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A reverse-mode tape: the ops recorded in one {@link Grad#record()} scope, in execution order. {@link #backward}
 * walks them in reverse, frees each node's saved activations as soon as it has been used, and accumulates
 * gradients into leaf tensors ({@link Tensor#grad()}).
 */
public final class Tape implements AutoCloseable {
    final boolean recording;
    private final List<Node> nodes = new ArrayList<>();
    private boolean closed;

    Tape(boolean recording) { this.recording = recording; }

    void add(Node node) { nodes.add(node); }

    /** Number of recorded ops still held. */
    public int size() { return nodes.size(); }

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
                if (grads.length != inputs.length)
                    throw new IllegalStateException("op " + node.op + " returned " + grads.length + " gradients for " + inputs.length + " inputs");
                for (int k = 0; k < inputs.length; k++) {
                    INDArray g = grads[k];
                    Tensor in = inputs[k];
                    if (g == null || in == null || !in.requiresGrad()) continue;
                    if (!Arrays.equals(g.shape(), in.shape()))
                        throw new IllegalStateException("op " + node.op + ": gradient shape " + Arrays.toString(g.shape())
                                + " for input " + k + " of shape " + Arrays.toString(in.shape()));
                    if (in.node != null) in.node.accumulate(g, false);
                    else in.accumulateGrad(g, false);
                }
            }
            node.free();
            nodes.set(i, null);
        }
        nodes.clear();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Node n : nodes) if (n != null) n.free();
        nodes.clear();
        Grad.pop(this);
    }
}
