package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.lavie4j.core.GradAssert.rand;

/**
 * The fused Vector API kernel ({@link VectorAttention}) against its twins: the ND4J block path of
 * {@link Attention#scaledDotProduct} and {@link Attention#naive} in double, over sizes that exercise every tail (query
 * rows past a register tile and a row block, keys past a panel and a PV chunk, head sizes past 40 and 8 channels).
 */
class VectorAttentionTest {
    /**
     * (b, h, lq, lk, d, dv): LaVie's heads of 40 and 80, cross-attention's 77 keys, odd sizes, several row blocks, and
     * enough keys for the transposed layout.
     */
    static final int[][] SIZES = {
            {2, 3, 37, 29, 40, 40}, {1, 2, 70, 77, 40, 40}, {1, 1, 5, 3, 7, 9}, {2, 2, 9, 50, 16, 80},
            {1, 2, 300, 300, 40, 44}, {1, 1, 130, 260, 8, 48}, {3, 2, 16, 16, 40, 40}, {1, 1, 1, 1, 1, 1},
            {1, 2, 50, 601, 40, 40}};   // past VectorAttention.TRANSPOSED_MIN_KEYS: the transposed layout by default (AVX-512)

    @Test void theTestJvmRunsTheKernel() {
        // surefire starts the JVM with --add-modules jdk.incubator.vector, as the launcher does
        assertTrue(Attention.vectorKernel(), "Vector API kernel off: is --add-modules jdk.incubator.vector missing?");
    }

    @Test void matchesTheNd4jPathAndNaiveDouble() {
        for (int[] n : SIZES) {
            long b = n[0], h = n[1], lq = n[2], lk = n[3], d = n[4], dv = n[5];
            double scale = 1 / Math.sqrt(d);
            INDArray q = rand(11, b, h, lq, d).muli(2), k = rand(12, b, h, lk, d).muli(2), v = rand(13, b, h, lk, dv);
            long[][] biasShapes = {null, {1, h, lq, lk}, {lq, lk}, {b, 1, 1, lk}, {h, lq, 1}, {b, h, lq, lk}};
            for (long[] bs : biasShapes) {
                INDArray bias = bs == null ? null : rand(14, bs).muli(3);
                INDArray exact = Attention.naive(t(q), t(k), t(v), bias == null ? null : t(bias), scale).data();
                INDArray fused = Attention.scaledDotProduct(f(q), f(k), f(v), bias == null ? null : f(bias), scale).data();
                INDArray blocks = nd4jPath(() -> Attention.scaledDotProduct(f(q), f(k), f(v), bias == null ? null : f(bias), scale).data());
                double errFused = maxAbs(fused.castTo(DataType.DOUBLE).sub(exact)), errBlocks = maxAbs(blocks.castTo(DataType.DOUBLE).sub(exact));
                String what = Arrays.toString(n) + " bias " + (bs == null ? "none" : Arrays.toString(bs));
                System.out.printf("kernel %s: fused %.3e, nd4j blocks %.3e (against double)%n", what, errFused, errBlocks);
                assertTrue(errFused < 2e-6, what + ": fused " + errFused);
                assertTrue(errFused < 4 * errBlocks + 1e-7, what + ": fused " + errFused + " against the ND4J path's " + errBlocks);
            }
        }
    }

    /**
     * RoPE inside the kernel (each row of q and k rotated as it is read) against the rotation as an op and then the
     * kernel: the same floats, bit for bit, for the temporal attention's views (splitHeads of (n, f, heads·d)
     * projections, a (heads, f, f) bias) and for sequences longer than one row block (rows at positions past 0); with
     * the kernel off, the rotation runs as ops before ND4J's path. A recording tape takes the ops, with gradients.
     */
    @Test void rotaryInsideTheKernelIsRotateThenAttendBitForBit() {
        int heads = 2, d = 40, dim = 32;
        for (int[] c : new int[][]{{37, 16}, {3, 150}}) {                    // (sequences, length)
            int n = c[0], len = c[1];
            float[] cos = new float[len * dim / 2], sin = new float[cos.length];
            for (int p = 0; p < len; p++) for (int m = 0; m < dim / 2; m++) {
                double angle = p * Math.pow(10000.0, -2.0 * m / dim);
                cos[p * dim / 2 + m] = (float) Math.cos(angle);
                sin[p * dim / 2 + m] = (float) Math.sin(angle);
            }
            Attention.Rotary rotary = new Attention.Rotary(cos, sin, dim, len, t -> Fused.rotaryInterleaved(t, cos, sin, dim));
            Tensor q = Attention.splitHeads(f(rand(31, n, len, heads * d).muli(2)), heads);
            Tensor k = Attention.splitHeads(f(rand(32, n, len, heads * d).muli(2)), heads);
            Tensor v = Attention.splitHeads(f(rand(33, n, len, heads * d)), heads);
            Tensor bias = f(rand(34, heads, len, len));
            float[] got = Attention.scaledDotProduct(q, k, v, bias, 1.0, Attention.DEFAULT_MAX_SCORE_BYTES, rotary).data().dup('c').data().asFloat();
            float[] want = Attention.scaledDotProduct(rotary.rotate().apply(q), rotary.rotate().apply(k), v, bias, 1.0).data().dup('c').data().asFloat();
            assertArrayEquals(want, got, 0f, Arrays.toString(c));
            float[] off = nd4jPath(() -> Attention.scaledDotProduct(q, k, v, bias, 1.0, Attention.DEFAULT_MAX_SCORE_BYTES, rotary).data().dup('c'))
                    .data().asFloat();
            float[] offWant = nd4jPath(() -> Attention.scaledDotProduct(rotary.rotate().apply(q), rotary.rotate().apply(k), v, bias, 1.0).data().dup('c'))
                    .data().asFloat();
            assertArrayEquals(offWant, off, 0f, "kernel off, " + Arrays.toString(c));
            for (int i = 0; i < got.length; i++) assertEquals(want[i], off[i], 1e-5f, "kernel against ND4J's path");
        }
        float[] cos = {1f, 0.5f}, sin = {0f, 0.8660254f};
        Attention.Rotary short2 = new Attention.Rotary(cos, sin, 2, 2, t -> Fused.rotaryInterleaved(t, cos, sin, 2));
        try (Tape tape = Grad.record()) {
            Tensor q = Tensor.leaf(rand(35, 1, 1, 2, 4).castTo(DataType.FLOAT), true);
            Tensor o = Attention.scaledDotProduct(q, q, q, null, 0.5, Attention.DEFAULT_MAX_SCORE_BYTES, short2);
            tape.backward(o, o.data().ulike().assign(1.0));
            assertNotNull(q.grad(), "recorded: the rotation and the attention as ops, with gradients");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> new Attention.Rotary(cos, sin, 3, 2, t -> t));
        assertTrue(e.getMessage().contains("dim 3"), e.getMessage());
    }

    @Test void viewsAndPermutedInputsAreRead() {
        // q from splitHeads (a permuted view: copied), k and v slices of larger buffers at an offset (read in place)
        long b = 2, h = 2, l = 33, d = 40;
        INDArray x = rand(21, b, l, h * d).castTo(DataType.FLOAT);
        Tensor q = Attention.splitHeads(Tensor.of(x), (int) h);
        INDArray kBig = rand(22, b + 1, h, l, d).castTo(DataType.FLOAT), vBig = rand(23, b + 1, h, l, d).castTo(DataType.FLOAT);
        INDArray kView = kBig.get(NDArrayIndex.interval(1, b + 1)), vView = vBig.get(NDArrayIndex.interval(1, b + 1));
        assertTrue(kView.offset() > 0, "the test needs an offset view");
        INDArray got = Attention.scaledDotProduct(q, Tensor.of(kView), Tensor.of(vView), null, 0.158).data();
        INDArray expected = Attention.naive(Tensor.of(q.data().dup('c')), Tensor.of(kView.dup('c')), Tensor.of(vView.dup('c')), null, 0.158).data();
        assertTrue(maxAbs(got.sub(expected)) < 1e-6, "views: " + maxAbs(got.sub(expected)));
    }

    /**
     * splitHeads' permuted views of (B, L, H·D) projections are read in place, and the result is written in (B, Lq, H, Dv)
     * order: mergeHeads of it is a view, no copy; the values are those of dense copies.
     */
    @Test void headViewsAreReadInPlaceAndMergedWithoutACopy() {
        long b = 2, h = 3, lq = 70, lk = 50, d = 24;
        Tensor ql = Tensor.of(rand(41, b, lq, h * d).castTo(DataType.FLOAT)), kl = Tensor.of(rand(42, b, lk, h * d).castTo(DataType.FLOAT)),
                vl = Tensor.of(rand(43, b, lk, h * d).castTo(DataType.FLOAT));
        Tensor q = Attention.splitHeads(ql, (int) h), k = Attention.splitHeads(kl, (int) h), v = Attention.splitHeads(vl, (int) h);
        Tensor bias = Tensor.of(rand(44, h, lq, lk).castTo(DataType.FLOAT));
        Tensor o = Attention.scaledDotProduct(q, k, v, bias, 0.2);
        INDArray expected = Attention.naive(Tensor.of(q.data().dup('c')), Tensor.of(k.data().dup('c')), Tensor.of(v.data().dup('c')),
                bias, 0.2).data();
        assertTrue(maxAbs(o.data().castTo(DataType.DOUBLE).sub(expected.castTo(DataType.DOUBLE))) < 1e-6);
        Tensor merged = Attention.mergeHeads(o);
        assertTrue(merged.sharesMemoryWith(o), "mergeHeads is a view of the kernel's output");
        assertArrayEquals(new long[]{b, lq, h * d}, merged.shape());
        assertArrayEquals(expected.permute(0, 2, 1, 3).dup('c').data().asFloat(), merged.data().dup('c').data().asFloat(), 1e-6f);
    }

    @Test void threadCountDoesNotChangeAnyBit() {
        long bh = 5, lq = 100, lk = 90, d = 40;
        INDArray q = rand(31, bh, 1, lq, d).castTo(DataType.FLOAT), k = rand(32, bh, 1, lk, d).castTo(DataType.FLOAT),
                v = rand(33, bh, 1, lk, d).castTo(DataType.FLOAT);
        INDArray one = Nd4j.create(DataType.FLOAT, bh, 1, lq, d), three = Nd4j.create(DataType.FLOAT, bh, 1, lq, d);
        VectorAttention.forward(q, k, v, null, null, 1, 0.158f, one, 1);
        VectorAttention.forward(q, k, v, null, null, 1, 0.158f, three, 3);
        assertArrayEquals(one.data().asFloat(), three.data().asFloat(), 0f);
    }

    @Test void insideATrainingStepTheNd4jPathRunsEvenWithRecordingOff() {
        // a checkpointed segment's first forward runs under Grad.disabled() inside Grad.record(); its recomputation under
        // the tape takes the ND4J path, so the first forward must too (same bits, as GradientCheckpointingTest checks)
        INDArray q = rand(61, 1, 2, 30, 40).castTo(DataType.FLOAT), k = rand(62, 1, 2, 30, 40).castTo(DataType.FLOAT),
                v = rand(63, 1, 2, 30, 40).castTo(DataType.FLOAT);
        INDArray inStep;
        try (Tape outer = Grad.record(); Tape off = Grad.disabled()) {
            assertTrue(Grad.inTraining());
            inStep = Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), null, 0.158).data().dup();
        }
        assertFalse(Grad.inTraining());
        INDArray blocks = nd4jPath(() -> Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), null, 0.158).data());
        assertArrayEquals(blocks.data().asFloat(), inStep.data().asFloat(), 0f);
    }

    @Test void largeLogitsStayFinite() {
        // scores around ±2000: exp overflows float without the row-max subtraction
        INDArray q = rand(41, 1, 2, 30, 40).muli(300), k = rand(42, 1, 2, 30, 40), v = rand(43, 1, 2, 30, 40);
        INDArray exact = Attention.naive(t(q), t(k), t(v), null, 1.0).data();
        INDArray fused = Attention.scaledDotProduct(f(q), f(k), f(v), null, 1.0).data();
        assertEquals(0, fused.isNaN().castTo(DataType.INT).sumNumber().intValue() + fused.isInfinite().castTo(DataType.INT).sumNumber().intValue());
        assertTrue(maxAbs(fused.castTo(DataType.DOUBLE).sub(exact)) < 1e-5);
    }

    @Test void recordingTakesTheNd4jPathAndItsGradients() {
        // the kernel is forward-only: under Grad.record() the same call must still give gradients
        INDArray q = rand(51, 1, 2, 6, 8).castTo(DataType.FLOAT), k = rand(52, 1, 2, 5, 8).castTo(DataType.FLOAT),
                v = rand(53, 1, 2, 5, 8).castTo(DataType.FLOAT);
        Tensor tq = Tensor.leaf(q, true);
        INDArray recorded;
        try (Tape tape = Grad.record()) {
            Tensor out = Attention.scaledDotProduct(tq, Tensor.of(k), Tensor.of(v), null, 0.35);
            assertTrue(out.requiresGrad());
            recorded = out.data().dup();
            tape.backward(out, Nd4j.onesLike(out.data()));
        }
        assertNotNull(tq.grad(), "gradient of q");
        INDArray inference = Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), null, 0.35).data();
        INDArray exact = Attention.naive(t(q), t(k), t(v), null, 0.35).data();
        assertTrue(maxAbs(inference.castTo(DataType.DOUBLE).sub(exact)) < 1e-6);
        assertTrue(maxAbs(recorded.castTo(DataType.DOUBLE).sub(exact)) < 1e-6);
    }

    @Test void expIsWithinOneUlpOfMathExp() {
        int lanes = VectorWidth.LANES;
        float[] x = new float[lanes], y = new float[lanes];
        double worst = 0;
        for (int i = 0; i < 1_600_000 / lanes; i++) {
            for (int l = 0; l < lanes; l++) x[l] = -87.3f * ((i * lanes + l) / 1_600_000f);
            VectorAttention.exp(jdk.incubator.vector.FloatVector.fromArray(VectorWidth.FLOAT, x, 0)).intoArray(y, 0);
            for (int l = 0; l < lanes; l++) {
                double exact = Math.exp(x[l]);
                worst = Math.max(worst, Math.abs(y[l] - exact) / Math.ulp((float) exact));
            }
        }
        System.out.printf("exp: worst %.2f ulp over [-87.3, 0]%n", worst);
        assertTrue(worst <= 1, worst + " ulp");
        float[] edge = new float[lanes], expected = new float[lanes];
        float[] cases = {0f, Float.NEGATIVE_INFINITY, -100f, -88f, -1e-30f, -87.9f, -0f, -1f};
        float[] results = {1f, 0f, 0f, 0f, 1f, 0f, 1f, (float) Math.exp(-1)};
        for (int l = 0; l < lanes; l++) {
            edge[l] = cases[l % cases.length];
            expected[l] = results[l % cases.length];
        }
        VectorAttention.exp(jdk.incubator.vector.FloatVector.fromArray(VectorWidth.FLOAT, edge, 0)).intoArray(y, 0);
        assertArrayEquals(expected, y, 1e-7f);
        assertEquals(1f, y[0], 0f, "exp(0) is exactly 1: the row max contributes exactly 1 to every softmax sum");
    }

    /**
     * With 16-float vectors, problems without a bias run transposed (Sᵀ = K·Qᵀ, the softmax down columns, Oᵀ = Vᵀ·Pᵀ):
     * both layouts against naive double over every size (tails of the 8-key and 8-channel tiles and of the 48-query
     * blocks, single keys and channels), and a rotation inside the transposed kernel, bit for bit, against rotating the
     * rows first.
     */
    @Test void transposedAndRowLayoutsAgree() {
        assumeTrue(VectorWidth.LANES == 16, "the transposed layout needs 16-float vectors (lavie-core's 512-bit test run)");
        int[][] sizes = Arrays.copyOf(SIZES, SIZES.length + 2);
        sizes[SIZES.length] = new int[]{1, 2, 97, 161, 40, 40};              // two whole query blocks and a tail of one
        sizes[SIZES.length + 1] = new int[]{2, 1, 48, 8, 80, 160};           // one whole block, one key tile
        for (int[] n : sizes) {
            int b = n[0], h = n[1], lq = n[2], lk = n[3], d = n[4], dv = n[5];
            float scale = (float) (1 / Math.sqrt(d));
            INDArray q = rand(21, b, h, lq, d).muli(2).castTo(DataType.FLOAT), k = rand(22, b, h, lk, d).muli(2).castTo(DataType.FLOAT),
                    v = rand(23, b, h, lk, dv).castTo(DataType.FLOAT);
            INDArray exact = Attention.naive(t(q), t(k), t(v), null, scale).data();
            INDArray transposed = Nd4j.create(DataType.FLOAT, b, h, lq, dv), rows = Nd4j.create(DataType.FLOAT, b, h, lq, dv);
            VectorAttention.forward(q, k, v, null, null, h, scale, transposed, 2, true);
            VectorAttention.forward(q, k, v, null, null, h, scale, rows, 2, false);
            double errT = maxAbs(transposed.castTo(DataType.DOUBLE).sub(exact)), errR = maxAbs(rows.castTo(DataType.DOUBLE).sub(exact));
            System.out.printf("layouts %s: transposed %.3e, rows %.3e (against double)%n", Arrays.toString(n), errT, errR);
            assertTrue(errT < 2e-6 && errR < 2e-6, Arrays.toString(n) + ": transposed " + errT + ", rows " + errR);

            int dim = d / 2 * 2, len = Math.max(lq, lk);
            if (dim == 0) continue;
            float[] cos = new float[len * dim / 2], sin = new float[cos.length];
            for (int i = 0; i < cos.length; i++) {
                cos[i] = (float) Math.cos(0.37 * i);
                sin[i] = (float) Math.sin(0.37 * i);
            }
            VectorAttention.Rotation rotation = new VectorAttention.Rotation(cos, sin, dim);
            INDArray inside = Nd4j.create(DataType.FLOAT, b, h, lq, dv), first = Nd4j.create(DataType.FLOAT, b, h, lq, dv);
            VectorAttention.forward(q, k, v, null, rotation, h, scale, inside, 2, true);
            VectorAttention.forward(rotated(q, rotation), rotated(k, rotation), v, null, null, h, scale, first, 2, true);
            assertArrayEquals(first.data().asFloat(), inside.data().asFloat(), 0f, "rotation inside, " + Arrays.toString(n));
        }
        var e = assertThrows(IllegalArgumentException.class, () -> VectorAttention.forward(rand(1, 1, 1, 4, 8).castTo(DataType.FLOAT),
                rand(2, 1, 1, 4, 8).castTo(DataType.FLOAT), rand(3, 1, 1, 4, 8).castTo(DataType.FLOAT),
                new VectorAttention.Bias(new float[16], 0, 0, 4, 1), null, 1, 1f, Nd4j.create(DataType.FLOAT, 1, 1, 4, 8), 1, true));
        assertTrue(e.getMessage().contains("no bias"), e.getMessage());
    }

    /** The vector rotation against its scalar twin, bit for bit: whole vectors of pairs, tails of pairs, rows past 0. */
    @Test void vectorRotationIsTheScalarRotationBitForBit() {
        java.util.Random random = new java.util.Random(5);
        for (int dim : new int[]{2, 8, 14, 16, 30, 32, 34, 48, 64}) {
            int positions = 21, len = dim + 6, n = 9, p0 = 7;
            float[] cos = new float[positions * dim / 2], sin = new float[cos.length];
            for (int i = 0; i < cos.length; i++) {
                double angle = random.nextDouble() * 7;
                cos[i] = (float) Math.cos(angle);
                sin[i] = (float) Math.sin(angle);
            }
            VectorAttention.Rotation rotation = new VectorAttention.Rotation(cos, sin, dim);
            float[] x = new float[n * len];
            for (int i = 0; i < x.length; i++) x[i] = (float) (random.nextGaussian() * 3);
            float[] vector = x.clone(), scalar = x.clone();
            rotation.rotate(vector, n, len, p0);
            rotation.rotateScalar(scalar, n, len, p0);
            assertArrayEquals(scalar, vector, 0f, "dim " + dim);
            for (int r = 0; r < n; r++)
                for (int i = dim; i < len; i++) assertEquals(x[r * len + i], vector[r * len + i], 0f, "channels past dim unchanged");
        }
    }

    /** x (b, h, l, d) with each slice's rows rotated at positions 0.. ({@link VectorAttention.Rotation#rotate}). */
    private static INDArray rotated(INDArray x, VectorAttention.Rotation rotation) {
        long slices = x.size(0) * x.size(1);
        int l = (int) x.size(2), d = (int) x.size(3);
        float[] all = x.dup('c').data().asFloat(), slice = new float[l * d];
        for (int g = 0; g < slices; g++) {
            System.arraycopy(all, g * l * d, slice, 0, l * d);
            rotation.rotate(slice, l, d, 0);
            System.arraycopy(slice, 0, all, g * l * d, l * d);
        }
        return Nd4j.create(all, x.shape(), 'c');
    }

    @Test void largeProblemsStayOnTheNd4jPath() {
        assertEquals(24, VectorAttention.rowsPerBlock(2560), "spatial self-attention at 40 x 64: 24 rows of 2,560 or 2,568 padded keys (under 256 KiB)");
        assertEquals(64, VectorAttention.rowsPerBlock(77), "cross-attention: capped at 64 rows");
        assertEquals(VectorAttention.MR, VectorAttention.rowsPerBlock(100_000), "at least one register tile");
        assertTrue(VectorAttention.fits(2560, 2560, 40, 40), "LaVie's spatial self-attention");
        assertTrue(VectorAttention.fits(163_840, 77, 160, 160), "cross-attention at many queries");
        assertFalse(VectorAttention.fits(1, 4_000_000, 40, 40), "K and V of 4M keys exceed one thread's buffers");
    }

    private static Tensor t(INDArray x) { return Tensor.of(x.castTo(DataType.DOUBLE)); }

    private static Tensor f(INDArray x) { return Tensor.of(x.castTo(DataType.FLOAT)); }

    private static double maxAbs(INDArray x) { return x.amaxNumber().doubleValue(); }

    private static INDArray nd4jPath(java.util.function.Supplier<INDArray> call) {
        boolean was = Attention.vectorKernel(false);
        try {
            return call.get();
        } finally {
            Attention.vectorKernel(was);
        }
    }
}
