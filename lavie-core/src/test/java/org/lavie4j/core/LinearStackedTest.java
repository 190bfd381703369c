package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.rand;

/** {@link Ops#linearStacked}: its columns against {@link Ops#linear} per layer, and its refusals. */
class LinearStackedTest {

    @Test void columnsAreEachLayersLinear() {
        INDArray x = rand(1, 2, 7, 12).castTo(DataType.FLOAT);
        int[] outs = {5, 12, 3};
        for (boolean withBias : new boolean[]{false, true}) {
            Tensor[] w = new Tensor[outs.length], b = withBias ? new Tensor[outs.length] : null;
            for (int i = 0; i < outs.length; i++) {
                w[i] = Tensor.of(rand(10 + i, outs[i], 12).castTo(DataType.FLOAT));
                if (withBias) b[i] = Tensor.of(rand(20 + i, outs[i]).castTo(DataType.FLOAT));
            }
            Tensor y = Ops.linearStacked(Tensor.of(x), w, b);
            assertArrayEquals(new long[]{2, 7, 20}, y.shape());
            Tensor[] parts = Ops.split(y, 2, 5, 12, 3);
            for (int i = 0; i < outs.length; i++) {
                INDArray one = Ops.linear(Tensor.of(x), w[i], withBias ? b[i] : null).data();
                INDArray exact = x.castTo(DataType.DOUBLE).reshape(14, 12).mmul(w[i].data().castTo(DataType.DOUBLE).transpose());
                if (withBias) exact.addiRowVector(b[i].data().castTo(DataType.DOUBLE));
                double err = parts[i].data().castTo(DataType.DOUBLE).reshape(14, outs[i]).sub(exact).amaxNumber().doubleValue();
                double errOne = one.castTo(DataType.DOUBLE).reshape(14, outs[i]).sub(exact).amaxNumber().doubleValue();
                assertTrue(err < 2e-6 && err <= 2 * errOne + 1e-6, "layer " + i + " bias " + withBias + ": " + err + " (linear: " + errOne + ")");
            }
            y.release();
        }
    }

    @Test void badInputsAndRecordingAreRefused() {
        Tensor x = Tensor.of(rand(3, 4, 6).castTo(DataType.FLOAT));
        Tensor w = Tensor.of(rand(4, 5, 6).castTo(DataType.FLOAT)), wrong = Tensor.of(rand(5, 5, 7).castTo(DataType.FLOAT));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Ops.linearStacked(x, new Tensor[]{w, wrong}, null));
        assertTrue(e.getMessage().contains("weight 1 [5, 7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.linearStacked(x, new Tensor[]{w, w}, new Tensor[]{null, null}));
        assertTrue(e.getMessage().contains("bias 0 missing"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Ops.linearStacked(x, new Tensor[0], null));
        Tensor leaf = Tensor.leaf(x.data(), true);
        try (Tape tape = Grad.record()) {
            IllegalStateException s = assertThrows(IllegalStateException.class, () -> Ops.linearStacked(leaf, new Tensor[]{w, w}, null));
            assertTrue(s.getMessage().contains("no backward"), s.getMessage());
        }
    }
}
