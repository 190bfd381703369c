package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.assertGradients;
import static org.lavie4j.core.GradAssert.rand;
import static org.lavie4j.core.NnOpsNaive.*;

/**
 * {@link NnOps}: double-precision finite-difference gradient checks, and values against the naive loops of
 * {@link NnOpsNaive} in float32 and double (including non-contiguous inputs).
 */
class NnOpsTest {
    private static final DataType[] TYPES = {DataType.FLOAT, DataType.DOUBLE};

    // ------------------------------------------------------------------ gradients

    @Test void conv2dGradients() {
        INDArray x = rand(1, 2, 3, 5, 6), w = rand(2, 4, 3, 3, 3), b = rand(3, 4);
        assertGradients("conv2d(3x3,s1,p1)", t -> NnOps.conv2d(t[0], t[1], t[2], 1, 1), x, w, b);
        assertGradients("conv2d(3x3,s2,p1)", t -> NnOps.conv2d(t[0], t[1], t[2], 2, 1), x, w, b);
        assertGradients("conv2d(s(1,2),p(0,1))", t -> NnOps.conv2d(t[0], t[1], t[2], 1, 2, 0, 1), x, w, b);
        assertGradients("conv2d(1x1,no bias)", t -> NnOps.conv2d(t[0], t[1], null, 1, 0), x, rand(4, 5, 3, 1, 1));
        assertGradients("conv2d(weight only)", t -> NnOps.conv2d(Tensor.of(x), t[0], null, 1, 1), w);
    }

    @Test void conv3dTemporalGradients() {
        INDArray x = rand(5, 2, 3, 4, 2, 3), b = rand(6, 2);
        assertGradients("conv3dTemporal(k3,p1)", t -> NnOps.conv3dTemporal(t[0], t[1], t[2], 1), x, rand(7, 2, 3, 3, 1, 1), b);
        assertGradients("conv3dTemporal(k5,p2,nb)", t -> NnOps.conv3dTemporal(t[0], t[1], null, 2), x, rand(8, 3, 3, 5, 1, 1));
    }

    @Test void resizeGradients() {
        assertGradients("upsampleNearest2x(4d)", t -> NnOps.upsampleNearest2x(t[0]), rand(9, 2, 3, 3, 4));
        assertGradients("upsampleNearest2x(5d)", t -> NnOps.upsampleNearest2x(t[0]), rand(10, 1, 2, 3, 2, 3));
        assertGradients("interpolateNearest(3x4->7x5)", t -> NnOps.interpolateNearest(t[0], 7, 5), rand(11, 2, 2, 3, 4));
        assertGradients("interpolateNearest(5x6->3x2)", t -> NnOps.interpolateNearest(t[0], 3, 2), rand(12, 1, 2, 5, 6));
        assertGradients("interpolateNearest(5d)", t -> NnOps.interpolateNearest(t[0], 5, 3), rand(29, 1, 2, 3, 2, 4));
        assertGradients("resizeBilinear(up)", t -> NnOps.resizeBilinear(t[0], 7, 9, false), rand(13, 2, 2, 3, 4));
        assertGradients("resizeBilinear(down)", t -> NnOps.resizeBilinear(t[0], 3, 2, false), rand(14, 1, 2, 6, 5));
        assertGradients("resizeBilinear(alignCorners)", t -> NnOps.resizeBilinear(t[0], 5, 7, true), rand(15, 1, 2, 3, 4));
        assertGradients("pad(asym)", t -> NnOps.pad(t[0], 0, 1, 0, 1), rand(16, 2, 3, 3, 4));
        assertGradients("pad(3 dims)", t -> NnOps.pad(t[0], 1, 2, 0, 3, 2, 1), rand(17, 2, 3, 3, 4));
    }

    @Test void normGradients() {
        INDArray g6 = rand(18, 6).addi(1.5), b6 = rand(19, 6);
        assertGradients("groupNorm(3d)", t -> NnOps.groupNorm(t[0], 3, t[1], t[2], 1e-5), rand(20, 2, 6, 5), g6, b6);
        assertGradients("groupNorm(4d)", t -> NnOps.groupNorm(t[0], 2, t[1], t[2], 1e-6), rand(21, 2, 6, 3, 4), g6, b6);
        assertGradients("groupNorm(5d video)", t -> NnOps.groupNorm(t[0], 3, t[1], t[2], 1e-5), rand(22, 2, 6, 3, 2, 3), g6, b6);
        assertGradients("groupNorm(no affine)", t -> NnOps.groupNorm(t[0], 2, null, null, 1e-5), rand(23, 2, 4, 3, 3));
        assertGradients("groupNorm(weight only)", t -> NnOps.groupNorm(t[0], 3, t[1], null, 1e-5), rand(24, 2, 6, 3, 3), g6);
        assertGradients("groupNorm(bias only)", t -> NnOps.groupNorm(t[0], 3, null, t[1], 1e-5), rand(25, 2, 6, 3, 3), b6);
        assertGradients("groupNormPerFrame", t -> NnOps.groupNormPerFrame(t[0], 3, t[1], t[2], 1e-6), rand(26, 2, 6, 3, 2, 3), g6, b6);
        assertGradients("layerNorm", t -> NnOps.layerNorm(t[0], t[1], t[2], 1e-5), rand(27, 2, 3, 6), g6, b6);
        assertGradients("layerNorm(no affine)", t -> NnOps.layerNorm(t[0], null, null, 1e-5), rand(28, 4, 5));
    }

    // ------------------------------------------------------------------ values against naive loops

    /** conv2dFrames (strided views, no fold copy) against conv2d of the folded frames: bit for bit, every case. */
    @Test void conv2dFramesEqualsTheFoldedConvolution() {
        long seed = 40;
        for (long[] c : new long[][]{{1, 5, 4, 7, 6, 3, 1, 1}, {2, 5, 4, 7, 6, 3, 1, 1}, {2, 6, 3, 9, 8, 3, 2, 1}, {3, 4, 2, 5, 5, 1, 1, 0},
                {2, 3, 1, 4, 4, 3, 1, 1}}) {   // b, c, f, h, w, kernel, stride, padding (a 1-frame video takes the twin)
            INDArray x = rand(seed++, c[0], c[1], c[2], c[3], c[4]).castTo(DataType.FLOAT);
            INDArray w = rand(seed++, 7, c[1], c[5], c[5]).castTo(DataType.FLOAT), b = rand(seed++, 7).castTo(DataType.FLOAT);
            for (boolean withBias : new boolean[]{true, false}) {
                Tensor bias = withBias ? Tensor.of(b) : null;
                INDArray want = NnOps.conv2d(Rearrange.framesToBatch(Tensor.of(x)), Tensor.of(w), bias, (int) c[6], (int) c[7]).data();
                INDArray got = NnOps.conv2dFrames(Tensor.of(x), Tensor.of(w), bias, (int) c[6], (int) c[7]).data();
                assertArrayEquals(want.shape(), got.shape(), Arrays.toString(c));
                assertArrayEquals(want.data().asFloat(), got.dup('c').data().asFloat(), Arrays.toString(c) + " bias " + withBias);
            }
        }
        // a permuted view takes the twin, and gives its result
        INDArray v = rand(50, 2, 3, 4, 5, 6).castTo(DataType.FLOAT).permute(0, 1, 2, 4, 3);
        INDArray w = rand(51, 4, 3, 3, 3).castTo(DataType.FLOAT);
        assertArrayEquals(NnOps.conv2d(Rearrange.framesToBatch(Tensor.of(v)), Tensor.of(w), null, 1, 1).data().dup('c').data().asFloat(),
                NnOps.conv2dFrames(Tensor.of(v), Tensor.of(w), null, 1, 1).data().dup('c').data().asFloat());
        var e = assertThrows(IllegalArgumentException.class, () -> NnOps.conv2dFrames(Tensor.of(rand(52, 1, 2, 3, 4, 4).castTo(DataType.FLOAT)),
                Tensor.of(w), null, 1, 1));
        assertTrue(e.getMessage().contains("[1, 2, 3, 4, 4]") && e.getMessage().contains("[4, 3, 3, 3]"), e.getMessage());
    }

    /** Under a tape, conv2dFrames records the folded convolution: the same gradients as the twin. */
    @Test void conv2dFramesGradients() {
        assertGradients("conv2dFrames", t -> NnOps.conv2dFrames(t[0], t[1], t[2], 1, 1), rand(53, 2, 2, 3, 4, 5), rand(54, 3, 2, 3, 3), rand(55, 3));
    }

    @Test void conv2dMatchesNaive() {
        INDArray x = rand(30, 2, 3, 7, 6), w = rand(31, 4, 3, 3, 3), b = rand(32, 4);
        int[][] cfg = {{1, 1, 1, 1}, {2, 2, 1, 1}, {1, 2, 0, 2}, {2, 1, 2, 0}};
        for (DataType t : TYPES) {
            for (int[] c : cfg) {
                INDArray got = NnOps.conv2d(Tensor.of(x.castTo(t)), Tensor.of(w.castTo(t)), Tensor.of(b.castTo(t)), c[0], c[1], c[2], c[3]).data();
                assertClose("conv2d " + Arrays.toString(c) + " " + t, conv2d(x, w, b, c[0], c[1], c[2], c[3]), got, t);
            }
            INDArray got = NnOps.conv2d(Tensor.of(x.castTo(t)), Tensor.of(w.castTo(t)), null, 1, 0).data();
            assertClose("conv2d(no bias) " + t, conv2d(x, w, null, 1, 1, 0, 0), got, t);
        }
        // a non-contiguous input (channel-last data permuted to NCHW)
        INDArray nhwc = rand(33, 2, 7, 6, 3);
        INDArray got = NnOps.conv2d(Tensor.of(nhwc.permute(0, 3, 1, 2)), Tensor.of(w), Tensor.of(b), 1, 1).data();
        assertClose("conv2d(permuted input)", conv2d(nhwc.permute(0, 3, 1, 2).dup('c'), w, b, 1, 1, 1, 1), got, DataType.DOUBLE);
    }

    @Test void conv3dTemporalMatchesNaive() {
        INDArray x = rand(34, 2, 3, 5, 2, 3), b = rand(35, 4);
        for (DataType t : TYPES) {
            for (int k : new int[]{1, 3, 5}) {
                INDArray w = rand(36 + k, 4, 3, k, 1, 1);
                INDArray got = NnOps.conv3dTemporal(Tensor.of(x.castTo(t)), Tensor.of(w.castTo(t)), Tensor.of(b.castTo(t)), (k - 1) / 2).data();
                assertClose("conv3dTemporal k" + k + " " + t, conv3dTemporal(x, w, b, (k - 1) / 2), got, t);
            }
        }
    }

    @Test void upsampleAndNearestMatchNaive() {
        for (DataType t : TYPES) {
            INDArray x4 = rand(40, 2, 3, 3, 4), x5 = rand(41, 1, 2, 3, 2, 3);
            assertClose("upsample4d " + t, upsampleNearest2x(x4), NnOps.upsampleNearest2x(Tensor.of(x4.castTo(t))).data(), t);
            assertClose("upsample5d " + t, upsampleNearest2x(x5), NnOps.upsampleNearest2x(Tensor.of(x5.castTo(t))).data(), t);
            assertClose("upsample(permuted) " + t, upsampleNearest2x(x4.permute(0, 1, 3, 2).dup('c')),
                    NnOps.upsampleNearest2x(Tensor.of(x4.castTo(t).permute(0, 1, 3, 2))).data(), t);
            int[][] sizes = {{7, 5}, {3, 2}, {6, 8}, {3, 4}, {11, 13}};
            for (int[] s : sizes) {
                assertClose("interpolateNearest " + Arrays.toString(s) + " " + t, interpolateNearest(x4, s[0], s[1]),
                        NnOps.interpolateNearest(Tensor.of(x4.castTo(t)), s[0], s[1]).data(), t);
                // 5-D: frames untouched, i.e. the 4-D rule on (N, C·F, H, W)
                assertClose("interpolateNearest(5d) " + Arrays.toString(s) + " " + t, interpolateNearest(x5.reshape(1, 6, 2, 3), s[0], s[1]).reshape(1, 2, 3, s[0], s[1]),
                        NnOps.interpolateNearest(Tensor.of(x5.castTo(t)), s[0], s[1]).data(), t);
            }
        }
        // torch.nn.functional.interpolate(arange(3), size=7, mode="nearest") -> [0, 0, 0, 1, 1, 2, 2]; 5 -> 3: [0, 1, 3]
        INDArray row3 = Nd4j.createFromArray(0.0, 1.0, 2.0).reshape(1, 1, 1, 3);
        assertArrayEquals(new double[]{0, 0, 0, 1, 1, 2, 2}, NnOps.interpolateNearest(Tensor.of(row3), 1, 7).data().reshape(7).toDoubleVector(), 0.0);
        INDArray row5 = Nd4j.createFromArray(0.0, 1.0, 2.0, 3.0, 4.0).reshape(1, 1, 1, 5);
        assertArrayEquals(new double[]{0, 1, 3}, NnOps.interpolateNearest(Tensor.of(row5), 1, 3).data().reshape(3).toDoubleVector(), 0.0);
    }

    @Test void resizeBilinearMatchesNaiveAndTorch() {
        INDArray x = rand(42, 2, 2, 5, 6);
        int[][] sizes = {{7, 9}, {3, 2}, {10, 12}, {5, 6}, {1, 1}, {4, 13}};
        for (DataType t : TYPES)
            for (boolean ac : new boolean[]{false, true})
                for (int[] s : sizes)
                    assertClose("bilinear " + Arrays.toString(s) + " ac=" + ac + " " + t, resizeBilinear(x, s[0], s[1], ac, t != DataType.DOUBLE),
                            NnOps.resizeBilinear(Tensor.of(x.castTo(t)), s[0], s[1], ac).data(), t);
        // F.interpolate([[1, 2], [3, 4]], size=(4, 4), mode="bilinear", align_corners=False / size (3, 3), True)
        INDArray q = Nd4j.createFromArray(new double[][]{{1, 2}, {3, 4}}).reshape(1, 1, 2, 2);
        double[] expectFalse = {1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0};
        assertArrayEquals(expectFalse, NnOps.resizeBilinear(Tensor.of(q), 4, 4, false).data().reshape(16).toDoubleVector(), 1e-12);
        double[] expectTrue = {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4};
        assertArrayEquals(expectTrue, NnOps.resizeBilinear(Tensor.of(q), 3, 3, true).data().reshape(9).toDoubleVector(), 1e-12);
    }

    @Test void padMatchesNaive() {
        INDArray x = rand(43, 2, 3, 3, 4);
        long[][] pads = {{0, 1, 0, 1}, {1, 1}, {2, 0, 1, 3, 1, 0}, {}};
        for (DataType t : TYPES)
            for (long[] p : pads)
                assertClose("pad " + Arrays.toString(p) + " " + t, pad(x, p), NnOps.pad(Tensor.of(x.castTo(t)), p).data(), t);
    }

    @Test void normsMatchNaive() {
        INDArray g6 = rand(44, 6).addi(1.5), b6 = rand(45, 6);
        for (DataType t : TYPES) {
            Tensor gt = Tensor.of(g6.castTo(t)), bt = Tensor.of(b6.castTo(t));
            for (long[] shape : new long[][]{{2, 6, 5}, {2, 6, 3, 4}, {2, 6, 3, 2, 3}}) {
                INDArray x = rand(46, shape).muli(3).addi(1);                       // offset mean, non-unit variance
                assertClose("groupNorm " + Arrays.toString(shape) + " " + t, groupNorm(x, 3, g6, b6, 1e-5),
                        NnOps.groupNorm(Tensor.of(x.castTo(t)), 3, gt, bt, 1e-5).data(), t);
                assertClose("groupNorm(no affine) " + Arrays.toString(shape) + " " + t, groupNorm(x, 2, null, null, 1e-5),
                        NnOps.groupNorm(Tensor.of(x.castTo(t)), 2, null, null, 1e-5).data(), t);
            }
            INDArray v = rand(47, 2, 6, 3, 2, 3).muli(2);
            assertClose("groupNormPerFrame " + t, groupNormPerFrame(v, 3, g6, b6, 1e-6),
                    NnOps.groupNormPerFrame(Tensor.of(v.castTo(t)), 3, gt, bt, 1e-6).data(), t);
            INDArray x = rand(48, 2, 3, 6).muli(2).subi(0.5);
            assertClose("layerNorm " + t, layerNorm(x, g6, b6, 1e-5), NnOps.layerNorm(Tensor.of(x.castTo(t)), gt, bt, 1e-5).data(), t);
            assertClose("layerNorm(no affine) " + t, layerNorm(x, null, null, 1e-5), NnOps.layerNorm(Tensor.of(x.castTo(t)), null, null, 1e-5).data(), t);
            // eps matters when the variance is tiny
            INDArray flat = rand(49, 1, 6, 2, 2).muli(1e-3);
            assertClose("groupNorm(small var) " + t, groupNorm(flat, 2, null, null, 1e-5),
                    NnOps.groupNorm(Tensor.of(flat.castTo(t)), 2, null, null, 1e-5).data(), t);
            // non-contiguous input
            INDArray perm = rand(50, 2, 3, 4, 6);
            assertClose("groupNorm(permuted) " + t, groupNorm(perm.permute(0, 3, 1, 2).dup('c'), 3, g6, b6, 1e-5),
                    NnOps.groupNorm(Tensor.of(perm.castTo(t).permute(0, 3, 1, 2)), 3, gt, bt, 1e-5).data(), t);
        }
    }

    @Test void groupNormPerFrameEqualsFoldedGroupNorm() {
        INDArray v = rand(51, 2, 6, 3, 2, 3), g6 = rand(52, 6), b6 = rand(53, 6);
        Tensor folded = Ops.contiguous(Ops.reshape(Ops.contiguous(Ops.permute(Tensor.of(v), 0, 2, 1, 3, 4)), 6, 6, 2, 3)); // (b*f, c, h, w)
        Tensor normed = NnOps.groupNorm(folded, 3, Tensor.of(g6), Tensor.of(b6), 1e-6);
        INDArray unfolded = normed.data().reshape('c', 2, 3, 6, 2, 3).permute(0, 2, 1, 3, 4);                         // (b, c, f, h, w)
        INDArray direct = NnOps.groupNormPerFrame(Tensor.of(v), 3, Tensor.of(g6), Tensor.of(b6), 1e-6).data();
        assertEquals(0.0, direct.sub(unfolded).amaxNumber().doubleValue(), 1e-12);
    }

    @Test void recordedAndUnrecordedNormsAgree() {
        // the unrecorded path applies the affine in place; the recorded one keeps x̂ for backward
        INDArray x = rand(54, 2, 6, 3, 3);
        Tensor g = Tensor.leaf(rand(55, 6), true), b = Tensor.leaf(rand(56, 6), true);
        INDArray plain = NnOps.groupNorm(Tensor.of(x), 3, g, b, 1e-5).data();
        try (Tape tape = Grad.record()) {
            Tensor y = NnOps.groupNorm(Tensor.of(x), 3, g, b, 1e-5);
            assertFalse(y.isLeaf());
            assertEquals(0.0, y.data().sub(plain).amaxNumber().doubleValue(), 0.0);
            tape.backward(Ops.sum(y, false));
        }
        // d Σy / dβ = N·H·W per channel; d Σy / dγ = Σ x̂ per channel
        assertEquals(2 * 3 * 3, b.grad().getDouble(0), 1e-12);
        assertNotNull(g.grad());
    }

    @Test void errorsNameShapes() {
        Tensor x = Tensor.of(rand(1, 2, 3, 5, 5));
        var e = assertThrows(IllegalArgumentException.class, () -> NnOps.conv2d(x, Tensor.of(rand(2, 4, 2, 3, 3)), null, 1, 1));
        assertTrue(e.getMessage().contains("[2, 3, 5, 5]") && e.getMessage().contains("[4, 2, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NnOps.conv2d(x, Tensor.of(rand(2, 4, 3, 3, 3)), Tensor.of(rand(3, 5)), 1, 1));
        assertTrue(e.getMessage().contains("[5]") && e.getMessage().contains("[4, 3, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NnOps.groupNorm(x, 2, null, null, 1e-5));
        assertTrue(e.getMessage().contains("[2, 3, 5, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NnOps.conv3dTemporal(Tensor.of(rand(1, 1, 3, 4, 2, 2)), Tensor.of(rand(2, 3, 3, 3, 3, 1)), null, 1));
        assertTrue(e.getMessage().contains("[3, 3, 3, 3, 1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NnOps.layerNorm(x, Tensor.of(rand(1, 4)), null, 1e-5));
        assertTrue(e.getMessage().contains("[4]") && e.getMessage().contains("[2, 3, 5, 5]"), e.getMessage());
    }

    // ------------------------------------------------------------------ helpers

    /** Max abs difference, relative to max(1, max|expected|): 1e-5 in float, 1e-12 in double. */
    static void assertClose(String name, INDArray expected, INDArray actual, DataType type) {
        assertArrayEquals(expected.shape(), actual.shape(), name + ": shape");
        assertEquals(type, actual.dataType(), name + ": dtype");
        double scale = Math.max(1.0, expected.amaxNumber().doubleValue());
        double err = expected.sub(actual.castTo(DataType.DOUBLE)).amaxNumber().doubleValue() / scale;
        double tol = type == DataType.DOUBLE ? 1e-12 : 1e-5;
        System.out.printf("naive %-44s max_err=%.2e%n", name, err);
        assertTrue(err <= tol, name + ": max error " + err + " > " + tol);
    }
}
