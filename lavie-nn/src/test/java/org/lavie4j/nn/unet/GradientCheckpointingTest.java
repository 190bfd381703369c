package org.lavie4j.nn.unet;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.FrameLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link UNet3DConditionModel#gradientCheckpointing(boolean)}: the checkpointed tiny UNet gives the loss and the parameter
 * gradients of the plain one (joint image-video layout, all parameters or temporal layers only) and holds fewer
 * activations on the tape.
 */
class GradientCheckpointingTest {
    /** The tiny config with seeded weights on every parameter (no zero-initialised layer, so every gradient is non-zero). */
    private static UNet3DConditionModel tinyRandom() {
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.tiny());
        TestSeeds.seed(77);
        unet.namedParameters().forEach((k, p) -> {
            if (p.isBuffer()) return;
            long[] s = p.shape();
            INDArray r = Nd4j.randn(DataType.FLOAT, s);
            if (s.length >= 2) r.divi(Math.sqrt((double) p.data().length() / s[0]));
            else if (k.contains("norm") && k.endsWith(".weight")) r.muli(0.2).addi(1.0);
            else r.muli(0.2);
            p.set(r);
        });
        unet.train(true);
        return unet;
    }

    private static INDArray randn(long seed, long... shape) {
        TestSeeds.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    // joint layout: 3 video frames + 2 images, each image with its own caption
    private static final FrameLayout LAYOUT = new FrameLayout(3, 2);
    private final INDArray sample = randn(1, 1, 4, 5, 8, 8), target = randn(2, 1, 4, 5, 8, 8);
    private final INDArray context = randn(3, 1, 3, 7, 32);

    private record Step(double loss, Map<String, INDArray> grads, int tapeNodes, long heldBytes) {}

    private Step step(UNet3DConditionModel unet, boolean checkpointing) {
        unet.gradientCheckpointing(checkpointing);
        Map<String, INDArray> grads = new LinkedHashMap<>();
        Step s;
        try (Tape tape = Grad.record()) {
            Tensor pred = unet.forward(Tensor.of(sample), Tensor.of(Nd4j.createFromArray(500L)), Tensor.of(context), LAYOUT);
            Tensor loss = Ops.mseLoss(pred, Tensor.of(target));
            int nodes = tape.size();
            long held = tape.heldBytes();
            double value = loss.item();
            tape.backward(loss);
            unet.namedParameters().forEach((k, p) -> grads.put(k, p.grad() == null ? null : p.grad().dup()));
            s = new Step(value, grads, nodes, held);
        }
        unet.zeroGrad();
        return s;
    }

    /** Same loss (the same ops run) and bit-identical parameter gradients; returns how many parameters have one. */
    private static int assertSame(Step plain, Step ckpt) {
        assertEquals(plain.loss(), ckpt.loss(), 0.0, "loss");
        int identical = 0, withGrad = 0;
        for (var e : plain.grads().entrySet()) {
            INDArray expected = e.getValue(), actual = ckpt.grads().get(e.getKey());
            if (expected == null) {
                assertNull(actual, e.getKey() + ": a gradient with checkpointing only");
                continue;
            }
            withGrad++;
            assertNotNull(actual, e.getKey() + ": no gradient with checkpointing");
            assertArrayEquals(expected.shape(), actual.shape(), e.getKey());
            double scale = expected.amaxNumber().doubleValue();
            assertTrue(scale > 0, e.getKey() + ": zero gradient (the test would not see a difference)");
            double err = expected.sub(actual).amaxNumber().doubleValue() / scale;
            assertTrue(err <= 1e-6, e.getKey() + ": max error " + err + " of max |g| " + scale);
            if (expected.equals(actual)) identical++;
        }
        // Checkpoint sums every gradient in the plain tape's order: not merely close, identical
        assertEquals(withGrad, identical, "parameter gradients bit-identical");
        System.out.printf("gradient checkpointing: %d of %d parameter gradients bit-identical; tape %d -> %d nodes, %d -> %d KB held%n",
                identical, withGrad, plain.tapeNodes(), ckpt.tapeNodes(), plain.heldBytes() >> 10, ckpt.heldBytes() >> 10);
        return withGrad;
    }

    @Test void allParametersJointBatch() {
        UNet3DConditionModel unet = tinyRandom();
        Step plain = step(unet, false), ckpt = step(unet, true);
        assertEquals(unet.parameters().stream().filter(Parameter::isTrainable).count(), assertSame(plain, ckpt));
    }

    @Test void temporalLayersOnlyJointBatch() {
        UNet3DConditionModel unet = tinyRandom();
        long temporal = 0;
        for (var e : unet.namedParameters().entrySet()) {
            boolean t = e.getKey().contains("_temp");
            e.getValue().setTrainable(t && !e.getValue().isBuffer());
            if (t && !e.getValue().isBuffer()) temporal++;
        }
        Step plain = step(unet, false), ckpt = step(unet, true);
        assertTrue(temporal > 0);
        assertEquals(temporal, assertSame(plain, ckpt));
    }

    @Test void theTapeHoldsFewerActivations() {
        UNet3DConditionModel unet = tinyRandom();
        Step plain = step(unet, false), ckpt = step(unet, true);
        // each resnet and transformer becomes one node: their internals (most of the recorded ops) are not recorded
        assertTrue(ckpt.tapeNodes() * 4 < plain.tapeNodes(), "tape nodes: plain " + plain.tapeNodes() + ", checkpointed " + ckpt.tapeNodes());
        assertTrue(ckpt.heldBytes() * 4 < plain.heldBytes(), "held bytes: plain " + plain.heldBytes() + ", checkpointed " + ckpt.heldBytes());
    }

    @Test void noEffectWithoutATape() {
        UNet3DConditionModel unet = tinyRandom();
        Tensor t = Tensor.of(Nd4j.createFromArray(500L));
        INDArray plain = unet.gradientCheckpointing(false).forward(Tensor.of(sample), t, Tensor.of(context), LAYOUT).data();
        INDArray ckpt = unet.gradientCheckpointing(true).forward(Tensor.of(sample), t, Tensor.of(context), LAYOUT).data();
        assertEquals(plain, ckpt);
    }
}
