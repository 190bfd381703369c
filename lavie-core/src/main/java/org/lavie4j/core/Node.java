package org.lavie4j.core;

import org.nd4j.linalg.api.ndarray.INDArray;

/** One recorded op: its inputs and the closure that maps the output's gradient to the inputs' gradients. */
final class Node {
    final String op;
    Tensor[] inputs;
    Backward backward;
    INDArray grad;
    boolean gradOwned;

    Node(String op, Tensor[] inputs, Backward backward) {
        this.op = op;
        this.inputs = inputs;
        this.backward = backward;
    }

    void accumulate(INDArray g, boolean owned) {
        if (grad == null) {
            grad = g;
            gradOwned = owned;
        } else if (gradOwned) {
            grad.addi(g);
            if (owned) Memory.free(g);
        } else {
            INDArray sum = grad.add(g);
            if (owned) Memory.free(g);
            grad = sum;
            gradOwned = true;
        }
    }

    /** Drops everything the node holds so that its saved activations can be freed. */
    void free() {
        if (grad != null && gradOwned && !grad.wasClosed()) Memory.free(grad);
        grad = null;
        inputs = null;
        backward = null;
    }
}
