package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.rand;

/** Pointwise's per-frame GEMMs against their twins (rearranges, ND4J's conv2d, add) and a double-precision loop. */
class PointwiseTest {
    private static INDArray f32(long seed, long... shape) { return rand(seed, shape).castTo(DataType.FLOAT); }

    private static double maxAbs(INDArray x) { return x.amaxNumber().doubleValue(); }

    /** conv1x1 of every frame of x (B, C, F, H, W) in double, as (B, O, F, H, W). */
    private static INDArray exactVideo(INDArray x, INDArray w, INDArray b) {
        long f = x.size(2);
        INDArray folded = Rearrange.framesToBatch(Tensor.of(x.castTo(DataType.DOUBLE))).data().dup('c');
        INDArray y = NnOpsNaive.conv2d(folded, w.castTo(DataType.DOUBLE), b == null ? null : b.castTo(DataType.DOUBLE), 1, 1, 0, 0);
        return Rearrange.batchToFrames(Tensor.of(y), f).data().dup('c');
    }

    @Test void videoMatchesItsTwin() {
        for (boolean withBias : new boolean[]{true, false}) {
            INDArray x = f32(1, 2, 48, 3, 4, 5), w = f32(2, 40, 48, 1, 1).divi(7), b = withBias ? f32(3, 40) : null;
            Tensor bt = b == null ? null : Tensor.of(b);
            INDArray got = Pointwise.video(Tensor.of(x), Tensor.of(w), bt).data();
            assertArrayEquals(new long[]{2, 40, 3, 4, 5}, got.shape());
            assertTrue(got.ordering() == 'c' && org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(got), "c-contiguous");
            INDArray twin = Rearrange.batchToFrames(NnOps.conv2d(Rearrange.framesToBatch(Tensor.of(x)), Tensor.of(w), bt, 1, 0), 3).data();
            INDArray exact = exactVideo(x, w, b);
            double err = maxAbs(got.castTo(DataType.DOUBLE).sub(exact)), twinErr = maxAbs(twin.castTo(DataType.DOUBLE).sub(exact));
            assertTrue(err < 2e-6, "video " + err + " (twin " + twinErr + ")");
        }
    }

    @Test void toTokensMatchesItsTwin() {
        INDArray x = f32(10, 2, 48, 3, 4, 5), w = f32(11, 40, 48, 1, 1).divi(7), b = f32(12, 40);
        INDArray got = Pointwise.toTokens(Tensor.of(x), Tensor.of(w), Tensor.of(b)).data();
        assertArrayEquals(new long[]{6, 20, 40}, got.shape());
        INDArray exact = Rearrange.toSpatialTokens(Rearrange.framesToBatch(Tensor.of(exactVideo(x, w, b)))).data().dup('c');
        assertTrue(maxAbs(got.castTo(DataType.DOUBLE).sub(exact)) < 2e-6);
        INDArray twin = Rearrange.toSpatialTokens(NnOps.conv2d(Rearrange.framesToBatch(Tensor.of(x)), Tensor.of(w), Tensor.of(b), 1, 0)).data();
        assertTrue(maxAbs(got.sub(twin)) < 2e-6);
        // a linear layer's (O, C) weight: the same product, bit for bit; its twin too
        INDArray linear = w.reshape('c', 40, 48);
        assertArrayEquals(got.data().asFloat(), Pointwise.toTokens(Tensor.of(x), Tensor.of(linear), Tensor.of(b)).data().data().asFloat(), 0f);
        try (Tape ignored = Grad.record()) {
            Tensor recorded = Pointwise.toTokens(Tensor.leaf(x.dup(), true), Tensor.of(linear), Tensor.of(b));
            assertTrue(maxAbs(recorded.data().dup('c').sub(got)) < 2e-6);
        }
    }

    @Test void fromTokensPlusMatchesItsTwin() {
        for (boolean withBias : new boolean[]{true, false}) {
            INDArray t = f32(20, 6, 20, 48), w = f32(21, 40, 48, 1, 1).divi(7), b = withBias ? f32(22, 40) : null,
                    res = f32(23, 2, 40, 3, 4, 5);
            Tensor bt = b == null ? null : Tensor.of(b);
            INDArray got = Pointwise.fromTokensPlus(Tensor.of(t), Tensor.of(w), bt, Tensor.of(res)).data();
            assertArrayEquals(new long[]{2, 40, 3, 4, 5}, got.shape());
            INDArray img = Rearrange.fromSpatialTokens(Tensor.of(t.castTo(DataType.DOUBLE)), 4, 5).data().dup('c');
            INDArray conv = NnOpsNaive.conv2d(img, w.castTo(DataType.DOUBLE), b == null ? null : b.castTo(DataType.DOUBLE), 1, 1, 0, 0);
            INDArray exact = Rearrange.batchToFrames(Tensor.of(conv), 3).data().dup('c').add(res.castTo(DataType.DOUBLE));
            assertTrue(maxAbs(got.castTo(DataType.DOUBLE).sub(exact)) < 2e-6, "fromTokensPlus, bias " + withBias);
        }
    }

    /** A recorded input takes the twin (its gradients); a strided input too; the results agree. */
    @Test void recordedOrStridedInputsTakeTheTwin() {
        INDArray x = f32(30, 1, 32, 4, 3, 3), w = f32(31, 16, 32, 1, 1).divi(5), b = f32(32, 16);
        INDArray fast = Pointwise.video(Tensor.of(x), Tensor.of(w), Tensor.of(b)).data().dup('c');
        try (Tape tape = Grad.record()) {
            Tensor xt = Tensor.leaf(x.dup(), true);
            Tensor y = Pointwise.video(xt, Tensor.of(w), Tensor.of(b));
            assertTrue(maxAbs(y.data().dup('c').sub(fast)) < 2e-6);
            tape.backward(y, y.data().ulike().assign(1.0));
            assertNotNull(xt.grad(), "gradients flow through the twin");
        }
        INDArray strided = Nd4j.create(DataType.FLOAT, 1, 4, 32, 3, 3);
        strided.assign(x.permute(0, 2, 1, 3, 4));
        Tensor view = Tensor.of(strided.permute(0, 2, 1, 3, 4));            // (1, 32, 4, 3, 3), not c-contiguous
        assertTrue(maxAbs(Pointwise.video(view, Tensor.of(w), Tensor.of(b)).data().dup('c').sub(fast)) < 2e-6);
    }

    @Test void badShapesNameTheirOperands() {
        Tensor x = Tensor.of(f32(40, 1, 8, 2, 3, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pointwise.video(x, Tensor.of(f32(41, 4, 8, 3, 3)), null));
        assertTrue(e.getMessage().contains("1x1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Pointwise.fromTokensPlus(Tensor.of(f32(42, 2, 9, 8)), Tensor.of(f32(43, 4, 8, 1, 1)), null, Tensor.of(f32(44, 1, 5, 2, 3, 3))));
        assertTrue(e.getMessage().contains("residual"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Pointwise.toTokens(Tensor.of(f32(45, 8, 2, 3, 3)), Tensor.of(f32(46, 4, 8, 1, 1)), null));
    }
}
