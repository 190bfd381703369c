package org.lavie4j.core;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.function.Function;

/**
 * Gradient checkpointing (the analogue of {@code torch.utils.checkpoint}): trade compute for tape memory by recording a
 * segment of the forward as one op.
 *
 * <p>Inside a {@link Grad#record()} scope, {@link #run} evaluates the segment with recording disabled, so none of its
 * intermediates stay alive (layers free them as in inference), and records a single node that holds only the segment's
 * inputs and its output. When backward reaches that node, the segment is run again under a fresh tape on leaves over the
 * same input values, and the incoming gradient is propagated through it: input gradients are returned to the outer tape,
 * and parameter gradients accumulate into the same {@link Parameter} tensors as without checkpointing. The segment
 * therefore runs twice per training step, and must compute the same values both times: it must be deterministic (no
 * random draws: LaVie's dropout is p = 0 and {@code Dropout} is the identity) and must not mutate its inputs.
 * Outside a recording scope, or when neither an input nor a parameter of {@code module} needs a gradient, it is a plain
 * call.
 *
 * <p>The gradients are those of the plain tape bit for bit (the same ops run, and every gradient is summed in the
 * same order: see {@link #recompute}). Nested checkpoints work (the recomputation records the inner ones as nodes).
 *
 * <pre>{@code
 * Tensor h = Checkpoint.run(resnet, in -> resnet.forward(in[0], in[1]), x, temb);
 * }</pre>
 */
public final class Checkpoint {
    private Checkpoint() {}

    /**
     * Runs {@code segment} on {@code inputs}, recording it as one checkpointed op when gradients are being recorded.
     *
     * @param module  the module whose parameters the segment uses; every trainable parameter the segment reads must
     *                belong to it (it decides whether the op needs recording when no input requires a gradient)
     * @param segment a deterministic function of its inputs (receives them in order; must not keep or mutate them)
     * @param inputs  the tensors the segment reads (recorded results, leaves or constants; null entries allowed)
     */
    public static Tensor run(Module module, Function<Tensor[], Tensor> segment, Tensor... inputs) {
        Tape tape = Grad.current();
        if (tape == null || !(anyRequiresGrad(inputs) || anyTrainable(module))) return segment.apply(inputs);
        Tensor out;
        try (Tape off = Grad.disabled()) {
            out = segment.apply(inputs.clone());
        }
        Tensor[] saved = inputs.clone();
        Node node = new Node("checkpoint", saved, g -> recompute(segment, saved, g));
        tape.add(node);
        INDArray owner = out.owner();
        if (owner != null && !sharesAllocation(owner, saved)) tape.own(owner);
        return Tensor.recorded(out.data(), node);
    }

    /**
     * Re-runs the segment under a fresh tape and back-propagates {@code gradOutput} to its inputs and parameters.
     *
     * <p>Leaf inputs (parameters, leaves, constants) go in as themselves, so their gradients accumulate in place as
     * without checkpointing. A recorded input goes in as a fresh leaf over its values that starts from the gradient
     * its node has gathered so far (moved, not copied), and the sum comes back as this op's gradient for it: every
     * gradient is then summed in the same order as on the plain tape, and the results are bit for bit the same.
     */
    private static INDArray[] recompute(Function<Tensor[], Tensor> segment, Tensor[] saved, INDArray gradOutput) {
        INDArray[] grads = new INDArray[saved.length];
        Tensor[] leaves = new Tensor[saved.length];
        for (int k = 0; k < saved.length; k++) {
            Tensor s = saved[k];
            if (s == null || s.isLeaf()) {
                leaves[k] = s;
                continue;
            }
            leaves[k] = Tensor.leaf(s.data(), true);
            Node n = s.node;
            if (n.grad != null) {
                // the leaf's gradient is summed in place: take the array only when it is the node's own and not gradOutput
                boolean take = n.gradOwned && Tape.allocation(n.grad) != Tape.allocation(gradOutput);
                leaves[k].seedGrad(take ? n.grad : n.grad.dup());
                n.grad = null;
                n.gradOwned = false;
            }
        }
        try (Tape tape = Grad.record()) {
            Tensor out = segment.apply(leaves.clone());
            if (out.requiresGrad()) tape.backward(out, gradOutput);
            // else nothing in the segment needs a gradient after all (its parameters were frozen since the forward)
            freeResult(out, leaves);
        }
        for (int k = 0; k < saved.length; k++)
            if (saved[k] != null && !saved[k].isLeaf()) grads[k] = leaves[k].grad();
        return grads;
    }

    /** Frees the recomputed output (backward keeps it) unless it is, or is a view of, one of the inputs. */
    private static void freeResult(Tensor out, Tensor[] leaves) {
        INDArray owner = out.owner();
        if (owner == null || owner.wasClosed()) return;
        if (!sharesAllocation(owner, leaves)) Memory.free(owner);
    }

    private static boolean sharesAllocation(INDArray a, Tensor[] tensors) {
        long address = Tape.allocation(a);
        for (Tensor t : tensors)
            if (t != null && Tape.allocation(t.data()) == address) return true;
        return false;
    }

    private static boolean anyRequiresGrad(Tensor[] inputs) {
        for (Tensor t : inputs) if (t != null && t.requiresGrad()) return true;
        return false;
    }

    private static boolean anyTrainable(Module module) {
        for (Parameter p : module.parameters()) if (p.isTrainable()) return true;
        return false;
    }
}
