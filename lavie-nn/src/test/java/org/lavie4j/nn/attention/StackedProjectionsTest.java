package org.lavie4j.nn.attention;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.TestSeeds;
import org.lavie4j.core.Tape;
import org.lavie4j.nn.layers.Linear;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Self-attention's q, k, v as one stacked product in inference ({@link StackedProjections}): taken where it should be
 * (counted through an op listener: one "linear" for the three), declined where it must be (a tape records, a LoRA
 * residual, the property off), and the same attention output as the three linears up to float rounding.
 */
class StackedProjectionsTest {
    private final List<String> ops = new ArrayList<>();

    @AfterEach
    void reset() {
        Ops.setListener(null);
        System.clearProperty(StackedProjections.PROPERTY);
    }

    /** The "linear" ops of one call, and its output. */
    private INDArray run(Supplier<Tensor> forward, int expectedLinears, String what) {
        ops.clear();
        Ops.setListener((op, out, in) -> ops.add(op));
        INDArray y = forward.get().data().dup();
        Ops.setListener(null);
        assertEquals(expectedLinears, ops.stream().filter("linear"::equals).count(), what + ": linear ops " + ops);
        return y;
    }

    private static double maxAbs(INDArray a, INDArray b) {
        return a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    @Test void spatialSelfAttentionStacksQkvInInferenceOnly() {
        TestSeeds.seed(31);
        for (boolean bias : new boolean[]{false, true}) {
            CrossAttention a = new CrossAttention(24, 24, 3, 8, bias);
            Tensor x = Tensor.of(GradAssert.rand(1, 2, 11, 24).castTo(DataType.FLOAT));
            INDArray stacked = run(() -> a.forward(x), 2, "stacked");                  // q|k|v, then to_out
            System.setProperty(StackedProjections.PROPERTY, "false");
            INDArray separate = run(() -> a.forward(x), 4, "property off");
            System.clearProperty(StackedProjections.PROPERTY);
            double diff = maxAbs(stacked, separate);
            System.out.printf("stacked q, k, v (bias %b) against three linears: %.3e%n", bias, diff);
            assertTrue(diff < 1e-6, "stacked against separate: " + diff);
            // cross-attention keeps three products (k, v read the context)
            Tensor ctx = Tensor.of(GradAssert.rand(2, 2, 5, 24).castTo(DataType.FLOAT));
            run(() -> a.forward(x, ctx), 4, "cross-attention");
            // training: a tape recording a gradient through x keeps the three linears (and their backward)
            Tensor leaf = Tensor.leaf(x.data(), true);
            try (Tape tape = Grad.record()) {
                run(() -> a.forward(leaf), 4, "recording");
            }
            // a LoRA-style residual on one projection: the layers run one by one, the residual included
            ((Linear) a.children().get("to_q")).setResidual(t -> Ops.scale(t, 0.0));
            run(() -> a.forward(x), 4, "residual");
        }
    }

    @Test void temporalAttentionStacksQkvInInference() {
        TestSeeds.seed(32);
        TemporalAttention a = new TemporalAttention(24, 3, 8, new RotaryEmbedding(8));
        Tensor x = Tensor.of(GradAssert.rand(3, 6, 5, 24).castTo(DataType.FLOAT));   // ((B·H·W), F, C)
        INDArray stacked = run(() -> a.forward(x), 2, "temporal stacked");
        System.setProperty(StackedProjections.PROPERTY, "false");
        INDArray separate = run(() -> a.forward(x), 4, "temporal property off");
        double diff = maxAbs(stacked, separate);
        System.out.printf("temporal: stacked q, k, v against three linears: %.3e%n", diff);
        assertTrue(diff < 1e-6, "temporal stacked against separate: " + diff);
    }
}
