package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Checkpoint}: the same loss and gradients as the plain tape, with fewer activations held. */
class CheckpointTest {
    /** A small block: y = x + W2·silu(layerNorm(W1·x + b1) + c), with a context c that needs no gradient. */
    static final class Block extends Module {
        final Parameter w1, b1, w2, gamma, beta;
        final AtomicInteger calls = new AtomicInteger();

        Block(int d, long seed) {
            Nd4j.getRandom().setSeed(seed);
            w1 = parameter("w1", Nd4j.randn(DataType.FLOAT, d, d).muli(0.3));
            b1 = parameter("b1", Nd4j.randn(DataType.FLOAT, d).muli(0.1));
            w2 = parameter("w2", Nd4j.randn(DataType.FLOAT, d, d).muli(0.3));
            gamma = parameter("gamma", Nd4j.rand(DataType.FLOAT, d).addi(0.5));
            beta = parameter("beta", Nd4j.randn(DataType.FLOAT, d).muli(0.1));
        }

        Tensor forward(Tensor x, Tensor c) {
            calls.incrementAndGet();
            Tensor h = Ops.linear(x, w1.tensor(), b1.tensor());
            Tensor n = NnOps.layerNorm(h, gamma.tensor(), beta.tensor(), 1e-5);
            Tensor a = Ops.silu(Ops.add(n, c));
            Tensor.release(h, n);
            return Ops.add(x, Ops.linear(a, w2.tensor(), null));
        }
    }

    private static final int D = 16;
    private final INDArray x0 = randn(1, 3, 5, D), c = randn(2, 3, 1, D), target = randn(3, 3, 5, D);

    private static INDArray randn(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    /** The outer graph: a = tanh(x0) (a non-leaf), two blocks (optionally checkpointed), a used again outside, MSE. */
    private record Run(double loss, INDArray inputGrad, List<INDArray> paramGrads, int tapeSize, long heldBytes) {}

    private Run run(Block b1, Block b2, boolean checkpoint, boolean inputNeedsGrad) {
        Tensor x = Tensor.leaf(x0.dup(), inputNeedsGrad);
        Tensor context = Tensor.of(c);
        Run r;
        try (Tape tape = Grad.record()) {
            Tensor a = Ops.tanh(x);
            Tensor h1 = checkpoint ? Checkpoint.run(b1, in -> b1.forward(in[0], in[1]), a, context) : b1.forward(a, context);
            Tensor h2 = checkpoint ? Checkpoint.run(b2, in -> b2.forward(in[0], in[1]), h1, context) : b2.forward(h1, context);
            Tensor out = Ops.mul(h2, a);
            Tensor loss = Ops.mseLoss(out, Tensor.of(target));
            int size = tape.size();
            long held = tape.heldBytes();
            double value = loss.item();
            tape.backward(loss);
            List<INDArray> grads = new ArrayList<>();
            for (Block b : List.of(b1, b2)) for (Parameter p : b.parameters()) grads.add(p.grad() == null ? null : p.grad().dup());
            r = new Run(value, x.grad() == null ? null : x.grad().dup(), grads, size, held);
        }
        b1.zeroGrad();
        b2.zeroGrad();
        return r;
    }

    /** Bit for bit: the same ops run and every gradient is summed in the same order (see Checkpoint#recompute). */
    private static void assertBitIdentical(INDArray expected, INDArray actual, String what) {
        assertNotNull(actual, what + ": no gradient");
        assertArrayEquals(expected.shape(), actual.shape(), what);
        assertTrue(expected.amaxNumber().doubleValue() > 0, what + ": zero gradient (the test would not see a difference)");
        assertEquals(expected, actual, what + ": max difference " + expected.sub(actual).amaxNumber());
    }

    @Test void sameLossAndGradientsAsThePlainTapeWithNonLeafAndConstantInputs() {
        Block b1 = new Block(D, 5), b2 = new Block(D, 6);
        Run plain = run(b1, b2, false, true);
        int callsBefore = b1.calls.get();
        Run ckpt = run(b1, b2, true, true);
        assertEquals(2, b1.calls.get() - callsBefore, "one forward without tape, one recomputation in backward");
        assertEquals(plain.loss(), ckpt.loss(), 0.0, "the forward computes the same ops");
        assertBitIdentical(plain.inputGrad(), ckpt.inputGrad(), "d loss / d x0 (through the non-leaf input and the use outside)");
        for (int i = 0; i < plain.paramGrads().size(); i++)
            assertBitIdentical(plain.paramGrads().get(i), ckpt.paramGrads().get(i), "parameter " + i);
    }

    @Test void fewerActivationsOnTheTape() {
        Block b1 = new Block(D, 5), b2 = new Block(D, 6);
        Run plain = run(b1, b2, false, true);
        Run ckpt = run(b1, b2, true, true);
        // each block's ops (linear, layerNorm, add, silu, linear, add: at least 6 nodes) become one checkpoint node
        assertTrue(plain.tapeSize() >= ckpt.tapeSize() + 10, "plain tape " + plain.tapeSize() + " nodes, checkpointed " + ckpt.tapeSize());
        long act = 3 * 5 * D * 4L;    // one (3, 5, D) float activation; checkpointed: tanh, h1, h2, mul, the loss's parts
        assertTrue(ckpt.heldBytes() <= 7 * act, "checkpointed tape holds " + ckpt.heldBytes() + " bytes");
        assertTrue(plain.heldBytes() >= ckpt.heldBytes() + 8 * act, "plain " + plain.heldBytes() + " vs checkpointed " + ckpt.heldBytes());
    }

    @Test void parametersGetGradientsWhenNoInputRequiresOne() {
        Block b1 = new Block(D, 5), b2 = new Block(D, 6);
        Run plain = run(b1, b2, false, false);
        Run ckpt = run(b1, b2, true, false);
        assertNull(ckpt.inputGrad());
        assertEquals(plain.loss(), ckpt.loss(), 0.0);
        for (int i = 0; i < plain.paramGrads().size(); i++)
            assertBitIdentical(plain.paramGrads().get(i), ckpt.paramGrads().get(i), "parameter " + i);
    }

    @Test void frozenSegmentWithoutGradientInputsIsNotRecorded() {
        Block b1 = new Block(D, 5);
        b1.setTrainable(false);
        try (Tape tape = Grad.record()) {
            Tensor h = Checkpoint.run(b1, in -> b1.forward(in[0], in[1]), Tensor.of(x0), Tensor.of(c));
            assertTrue(h.isLeaf() && !h.requiresGrad());
            assertEquals(0, tape.size());
        }
        assertEquals(1, b1.calls.get());
    }

    @Test void plainCallOutsideARecordingScope() {
        Block b1 = new Block(D, 5);
        INDArray expected = b1.forward(Tensor.of(x0), Tensor.of(c)).data();
        Tensor h = Checkpoint.run(b1, in -> b1.forward(in[0], in[1]), Tensor.of(x0), Tensor.of(c));
        assertTrue(h.isLeaf());
        assertEquals(expected, h.data());
    }

    @Test void nestedCheckpointsAgreeWithThePlainTape() {
        Block b1 = new Block(D, 5), b2 = new Block(D, 6);
        Run plain = run(b1, b2, false, true);
        Tensor x = Tensor.leaf(x0.dup(), true);
        Tensor context = Tensor.of(c);
        double loss;
        try (Tape tape = Grad.record()) {
            Tensor a = Ops.tanh(x);
            Module both = new Module() {{ child("b1", b1); child("b2", b2); }};
            Tensor h2 = Checkpoint.run(both, in -> {
                Tensor h1 = Checkpoint.run(b1, j -> b1.forward(j[0], j[1]), in[0], in[1]);
                return Checkpoint.run(b2, j -> b2.forward(j[0], j[1]), h1, in[1]);
            }, a, context);
            Tensor l = Ops.mseLoss(Ops.mul(h2, a), Tensor.of(target));
            loss = l.item();
            tape.backward(l);
        }
        assertEquals(plain.loss(), loss, 0.0);
        assertBitIdentical(plain.inputGrad(), x.grad(), "d loss / d x0");
        int i = 0;
        for (Block b : List.of(b1, b2)) for (Parameter p : b.parameters()) assertBitIdentical(plain.paramGrads().get(i++), p.grad(), "parameter " + (i - 1));
    }

    @Test void gradientCheckInDoubleThroughACheckpoint() {
        Block b = new Block(4, 7);
        b.to(DataType.DOUBLE);
        INDArray ctx = randn(2, 3, 1, 4).castTo(DataType.DOUBLE);
        GradCheck.Result r = GradCheck.check(in -> Checkpoint.run(b, j -> b.forward(j[0], j[1]), Ops.tanh(in[0]), Tensor.of(ctx)),
                randn(9, 3, 5, 4));
        assertTrue(r.maxError() < 1e-6, r.toString());
        GradCheck.Result p = GradCheck.checkParameters(() -> Checkpoint.run(b, j -> b.forward(j[0], j[1]),
                Tensor.of(randn(9, 3, 5, 4).castTo(DataType.DOUBLE)), Tensor.of(ctx)), GradCheck.Settings.defaults(), b.w1, b.gamma);
        assertTrue(p.maxError() < 1e-6, p.toString());
    }
}
