package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.rand;

/** The fused Java kernels against double-precision references and their naive twins. */
class FusedTest {
    /** erf in double through ND4J's Erf op (error ~1e-13, nd4j-notes). */
    private static INDArray erfDouble(INDArray x) { return Ops.erf(x.castTo(DataType.DOUBLE)); }

    private static INDArray siluInputs() {
        return Nd4j.concat(0, Nd4j.linspace(-100, 100, 200_001, DataType.FLOAT),
                Nd4j.createFromArray(0f, -0f, 1e-30f, -1e-30f, 88.7f, -88.7f, 200f, -200f, Float.MAX_VALUE, -Float.MAX_VALUE, 3f));
    }

    /** Ops.silu's one-pass Swish (ND4J's op, the training path) against sigmoid, then multiply: bit for bit. */
    @Test void siluIsSigmoidTimesXBitForBit() {
        boolean was = Ops.vectorElementwise(false);
        try {
            nd4jSiluIsSigmoidTimesX();
        } finally {
            Ops.vectorElementwise(was);
        }
    }

    private static void nd4jSiluIsSigmoidTimesX() {
        INDArray x = siluInputs();
        float[] expected = x.mul(org.nd4j.linalg.ops.transforms.Transforms.sigmoid(x, true)).data().asFloat();
        assertArrayEquals(expected, Ops.silu(Tensor.of(x)).data().data().asFloat());
        INDArray inPlace = x.dup();
        assertSame(inPlace, Ops.siluInto(inPlace, inPlace));
        assertArrayEquals(expected, inPlace.data().asFloat());
        // a strided view (a transpose) in, c-ordered out
        INDArray m = rand(3, 37, 53).castTo(DataType.FLOAT).muli(9), t = m.transpose();
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, 53, 37);
        Ops.siluInto(t, out);
        assertArrayEquals(t.dup('c').mul(org.nd4j.linalg.ops.transforms.Transforms.sigmoid(t.dup('c'), true)).data().asFloat(), out.data().asFloat());
        assertThrows(IllegalArgumentException.class, () -> Ops.siluInto(m, out));
    }

    /**
     * The Vector API SiLU (inference) against x·σ(x) in double: within 3 float ulps (the rounding of e^−|x|, a
     * quotient and a product) above −80, and below 1e-33 in absolute terms below that, where e^x nears float's underflow
     * and is flushed to 0 from −88 on; the same bits at any thread count and in place; a strided view takes ND4J's op.
     */
    @Test void vectorSiluIsFloatAccurate() {
        boolean was = Ops.vectorElementwise(true);
        try {
            INDArray x = siluInputs();                                       // 200,012 elements: several chunks, two threads
            float[] xs = x.data().asFloat(), y = Ops.silu(Tensor.of(x)).data().data().asFloat();
            double worst = 0, worstAt = 0, worstTiny = 0;
            for (int i = 0; i < xs.length; i++) {
                double exact = xs[i] / (1 + Math.exp(-(double) xs[i]));
                if (Double.isNaN(exact)) exact = xs[i] > 0 ? xs[i] : -0.0;  // ±MAX_VALUE: exp overflows in double too
                if (xs[i] >= -80) {
                    double err = Math.abs(y[i] - exact) / Math.ulp((float) exact);
                    if (err > worst) { worst = err; worstAt = xs[i]; }
                } else {
                    worstTiny = Math.max(worstTiny, Math.abs(y[i] - exact));  // e^x near float's underflow
                }
            }
            System.out.printf("vector silu: worst %.2f ulp (at %g) above -80, worst absolute error %.2e below%n", worst, worstAt, worstTiny);
            assertTrue(worst <= 3, worst + " ulp at " + worstAt);
            assertTrue(worstTiny < 1e-33, "absolute error " + worstTiny + " below -80");
            assertEquals(0f, y[100_000], 0f);                                 // silu(0) = 0
            assertEquals(Float.MAX_VALUE, y[200_009], 0f);
            INDArray inPlace = x.dup();
            assertSame(inPlace, Ops.siluInto(inPlace, inPlace));
            assertArrayEquals(y, inPlace.data().asFloat());
            // a view at an offset (the last two rows of a c-contiguous matrix) is streamed from its offset
            INDArray tail = x.reshape('c', 4, 50_003).get(NDArrayIndex.interval(2, 4), NDArrayIndex.all());
            assertTrue(tail.offset() > 0 && Kernels.denseFloat(tail));
            assertArrayEquals(java.util.Arrays.copyOfRange(y, 100_006, 200_012), Ops.silu(Tensor.of(tail)).data().dup('c').data().asFloat());
            // one thread gives the same bits
            int threads = Nd4j.getEnvironment().maxThreads();
            Nd4j.getEnvironment().setMaxThreads(1);
            try {
                assertArrayEquals(y, Ops.silu(Tensor.of(x)).data().data().asFloat());
            } finally {
                Nd4j.getEnvironment().setMaxThreads(threads);
            }
            // a transposed view is not streamable: ND4J's op, bit for bit sigmoid times x
            INDArray m = rand(3, 37, 53).castTo(DataType.FLOAT).muli(9), t = m.transpose();
            INDArray out = Nd4j.createUninitialized(DataType.FLOAT, 53, 37);
            Ops.siluInto(t, out);
            assertArrayEquals(t.dup('c').mul(org.nd4j.linalg.ops.transforms.Transforms.sigmoid(t.dup('c'), true)).data().asFloat(), out.data().asFloat());
        } finally {
            Ops.vectorElementwise(was);
        }
    }

    /** GroupNorm with the SiLU applied before each row is written: the floats of the two ops, bit for bit. */
    /**
     * The Vector API row kernels of GroupNorm and LayerNorm (statistics, affine and normalising passes) against the
     * scalar loops they replace: the same doubles and floats bit for bit, at lengths around the blocks of 64 and the
     * vectors of 8, with signed zeros, huge and tiny values.
     */
    @Test void normalisationRowKernelsEqualTheScalarLoopsBitForBit() {
        java.util.Random rnd = new java.util.Random(20261127);
        for (int len : new int[]{1, 7, 8, 63, 64, 65, 129, 320, 1280, 2560}) {
            float[] v = new float[len], gamma = new float[len], beta = new float[len];
            for (int i = 0; i < len; i++) {
                v[i] = switch (i % 11) {
                    case 3 -> -0f;
                    case 5 -> 0f;
                    case 7 -> (float) (rnd.nextGaussian() * 1e30);
                    case 9 -> (float) (rnd.nextGaussian() * 1e-30);
                    default -> (float) (rnd.nextGaussian() * 3 + 0.5);
                };
                gamma[i] = (float) rnd.nextGaussian();
                beta[i] = (float) rnd.nextGaussian();
            }
            assertEquals(Double.doubleToRawLongBits(Fused.sumOf(v)), Double.doubleToRawLongBits(VectorElementwise.sumOf(v)), "sum, length " + len);
            float m = (float) (Fused.sumOf(v) / len);
            assertEquals(Double.doubleToRawLongBits(Fused.squaredDeviations(v, m)), Double.doubleToRawLongBits(VectorElementwise.squaredDeviations(v, m)),
                    "squared deviations, length " + len);
            float[] a = v.clone(), b = v.clone();
            for (int i = 0; i < len; i++) a[i] = Math.fma(a[i], 0.37f, -1.25f);
            VectorElementwise.affine(b, len, 0.37f, -1.25f);
            assertArrayEquals(a, b, "affine, length " + len);
            a = v.clone();
            b = v.clone();
            for (int i = 0; i < len; i++) a[i] = Math.fma((a[i] - m) * 0.81f, gamma[i], beta[i]);
            VectorElementwise.normalize(b, len, m, 0.81f, gamma, beta);
            assertArrayEquals(a, b, "normalize, length " + len);
        }
        float[] zeros = {-0f, -0f, -0f, -0f, -0f, -0f, -0f, -0f};
        float[] block = new float[64];
        java.util.Arrays.fill(block, -0f);
        assertEquals(Double.doubleToRawLongBits(Fused.sumOf(block)), Double.doubleToRawLongBits(VectorElementwise.sumOf(block)));
        assertEquals(Double.doubleToRawLongBits(Fused.sumOf(zeros)), Double.doubleToRawLongBits(VectorElementwise.sumOf(zeros)));
    }

    /**
     * Ops.linearAdd (bias and residual joined to the product in one pass) against linear then addInto: the same floats
     * bit for bit, at widths that are not whole vectors, with many rows (parallel chunks) and a leading batch axis; a
     * addend whose last dimension is not contiguous, a missing bias and a recording tape take the composed ops, whose gradients then reach every input.
     */
    @Test void linearAddIsLinearThenAddBitForBit() {
        boolean was = Ops.vectorElementwise(true);
        try {
            long[][] cases = {{3, 37, 20, 45}, {1, 4000, 64, 64}, {2, 5, 8, 1}, {1, 9, 16, 1283}};   // (batch, rows, in, out)
            long seed = 80;
            for (long[] c : cases) {
                INDArray x = rand(seed++, c[0], c[1], c[2]).castTo(DataType.FLOAT);
                Tensor w = Tensor.of(rand(seed++, c[3], c[2]).castTo(DataType.FLOAT)), b = Tensor.of(rand(seed++, c[3]).castTo(DataType.FLOAT));
                INDArray r = rand(seed++, c[0], c[1], c[3]).muli(100).castTo(DataType.FLOAT);
                float[] want = Ops.addInto(Ops.linear(Tensor.of(x), w, b), Tensor.of(r)).data().dup('c').data().asFloat();
                Tensor got = Ops.linearAdd(Tensor.of(x), w, b, Tensor.of(r));
                assertArrayEquals(new long[]{c[0], c[1], c[3]}, got.shape());
                assertArrayEquals(want, got.data().dup('c').data().asFloat(), 0f, java.util.Arrays.toString(c));
                float[] noBias = Ops.addInto(Ops.linear(Tensor.of(x), w, null), Tensor.of(r)).data().dup('c').data().asFloat();
                assertArrayEquals(noBias, Ops.linearAdd(Tensor.of(x), w, null, Tensor.of(r)).data().dup('c').data().asFloat(), 0f);
            }
            // a row range of a larger array (a contiguous view with an offset) as the addend and as the input
            INDArray big = rand(97, 60, 45).castTo(DataType.FLOAT), bigX = rand(98, 60, 20).castTo(DataType.FLOAT);
            INDArray rows = big.get(NDArrayIndex.interval(7, 44), NDArrayIndex.all()), xRows = bigX.get(NDArrayIndex.interval(3, 40), NDArrayIndex.all());
            Tensor w45 = Tensor.of(rand(99, 45, 20).castTo(DataType.FLOAT)), b45 = Tensor.of(rand(100, 45).castTo(DataType.FLOAT));
            float[] wantRows = Ops.linear(Tensor.of(xRows), w45, b45).data().add(rows).data().asFloat();
            assertArrayEquals(wantRows, Ops.linearAdd(Tensor.of(xRows), w45, b45, Tensor.of(rows)).data().dup('c').data().asFloat(), 0f);
            assertEquals(big.dup(), big, "the addend's array is only read");
            // a permuted addend (the temporal attention's view of the tokens) is read in place, and the sum laid out like
            // it, so that permuting back gives a c-contiguous array
            INDArray x = rand(90, 4, 6, 10).castTo(DataType.FLOAT), rt = rand(91, 6, 4, 12).castTo(DataType.FLOAT);
            Tensor w = Tensor.of(rand(92, 12, 10).castTo(DataType.FLOAT)), b = Tensor.of(rand(93, 12).castTo(DataType.FLOAT));
            INDArray view = rt.permute(1, 0, 2);
            float[] expected = Ops.linear(Tensor.of(x), w, b).data().add(view).data().asFloat();
            INDArray permuted = Ops.linearAdd(Tensor.of(x), w, b, Tensor.of(view)).data();
            assertArrayEquals(expected, permuted.dup('c').data().asFloat(), 0f);
            assertArrayEquals(view.stride(), permuted.stride(), "laid out like the addend");
            INDArray back = permuted.permute(1, 0, 2);
            assertTrue(Shape.hasDefaultStridesForShape(back), java.util.Arrays.toString(back.stride()));
            assertEquals(rt.dup(), rt, "the addend's array is only read");
            // rows with gaps between them (a channel slice) are read in place and the sum is c-contiguous; a last
            // dimension that is not contiguous takes the composed ops
            INDArray wide = rand(101, 4, 6, 20).castTo(DataType.FLOAT);
            INDArray gaps = wide.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(5, 17));
            INDArray withGaps = Ops.linearAdd(Tensor.of(x), w, b, Tensor.of(gaps)).data();
            assertArrayEquals(Ops.linear(Tensor.of(x), w, b).data().add(gaps).data().asFloat(), withGaps.dup('c').data().asFloat(), 0f);
            assertTrue(Shape.hasDefaultStridesForShape(withGaps));
            INDArray columns = rand(102, 12, 6, 4).castTo(DataType.FLOAT).permute(2, 1, 0);
            assertArrayEquals(Ops.linear(Tensor.of(x), w, b).data().add(columns).data().asFloat(),
                    Ops.linearAdd(Tensor.of(x), w, b, Tensor.of(columns)).data().dup('c').data().asFloat(), 0f);
            // many rows of a permuted addend: parallel chunks
            INDArray xs = rand(103, 50, 40, 16).castTo(DataType.FLOAT), rs = rand(104, 40, 50, 24).castTo(DataType.FLOAT).permute(1, 0, 2);
            Tensor w24 = Tensor.of(rand(105, 24, 16).castTo(DataType.FLOAT)), b24 = Tensor.of(rand(106, 24).castTo(DataType.FLOAT));
            assertArrayEquals(Ops.addInto(Ops.linear(Tensor.of(xs), w24, b24), Tensor.of(rs)).data().dup('c').data().asFloat(),
                    Ops.linearAdd(Tensor.of(xs), w24, b24, Tensor.of(rs)).data().dup('c').data().asFloat(), 0f);
            // recorded: the composed ops, with gradients for x, the weight, the bias and the addend
            try (Tape tape = Grad.record()) {
                Tensor xt = Tensor.leaf(x.dup(), true), wt = Tensor.leaf(w.data().dup(), true), bt = Tensor.leaf(b.data().dup(), true);
                Tensor addend = Tensor.leaf(rand(94, 4, 6, 12).castTo(DataType.FLOAT), true);
                Tensor y = Ops.linearAdd(xt, wt, bt, addend);
                assertTrue(y.requiresGrad());
                assertEquals(Ops.linear(Tensor.of(x), w, b).data().add(addend.data()), y.data());
                tape.backward(y, y.data().ulike().assign(1.0));
                assertNotNull(xt.grad());
                assertNotNull(wt.grad());
                assertNotNull(bt.grad());
                assertEquals(addend.data().ulike().assign(1.0), addend.grad());
            }
            var e = assertThrows(IllegalArgumentException.class, () -> Ops.linearAdd(Tensor.of(x), Tensor.of(rand(95, 12, 9).castTo(DataType.FLOAT)), b,
                    Tensor.of(rand(96, 4, 6, 12).castTo(DataType.FLOAT))));
            assertTrue(e.getMessage().contains("[12, 9]"), e.getMessage());
        } finally {
            Ops.vectorElementwise(was);
        }
    }

    @Test void groupNormSiluIsGroupNormThenSiluBitForBit() {
        boolean was = Ops.vectorElementwise(true);
        try {
            INDArray x = rand(70, 2, 64, 3, 5, 7).castTo(DataType.FLOAT).muli(3);
            Tensor w = Tensor.of(rand(71, 64).castTo(DataType.FLOAT)), b = Tensor.of(rand(72, 64).castTo(DataType.FLOAT));
            Tensor fused = Fused.groupNormSilu(Tensor.of(x), 32, w, b, 1e-6);
            Tensor twin = Ops.silu(Fused.groupNorm(Tensor.of(x), 32, w, b, 1e-6));
            assertArrayEquals(twin.data().data().asFloat(), fused.data().data().asFloat(), 0f);
            // recorded: the two ops themselves, with their gradients
            try (Tape tape = Grad.record()) {
                Tensor xt = Tensor.leaf(x.dup(), true);
                Tensor y = Fused.groupNormSilu(xt, 32, w, b, 1e-6);
                assertTrue(y.requiresGrad());
                tape.backward(y, y.data().ulike().assign(1.0));
                assertNotNull(xt.grad());
            }
        } finally {
            Ops.vectorElementwise(was);
        }
    }

    /** siluInPlace writes into its input when nothing records, and records a fresh result otherwise. */
    @Test void siluInPlaceOnlyWhenNothingRecords() {
        INDArray x = rand(5, 4, 3, 7).castTo(DataType.FLOAT);
        float[] expected = Ops.silu(Tensor.of(x)).data().data().asFloat();
        Tensor t = Tensor.of(x.dup());
        assertSame(t, Ops.siluInPlace(t));
        assertArrayEquals(expected, t.data().data().asFloat());
        try (Tape ignored = Grad.record()) {
            Tensor p = Tensor.leaf(x.dup(), true);
            Tensor y = Ops.siluInPlace(p);
            assertNotSame(p, y);
            assertArrayEquals(x.data().asFloat(), p.data().data().asFloat());   // the input is untouched
        }
    }

    @Test void erfIsFloatAccurate() {
        int n = 120_001;
        INDArray x = Nd4j.linspace(-6, 6, n, DataType.DOUBLE);
        INDArray ref = erfDouble(x);
        double worst = 0, at = 0;
        for (int i = 0; i < n; i++) {
            double xi = x.getDouble(i), e = Math.abs(Fused.erf((float) xi) - ref.getDouble(i));
            if (e > worst) { worst = e; at = xi; }
        }
        System.out.printf("Fused.erf on [-6, 6]: max abs error %.3e at %.5f%n", worst, at);
        assertTrue(worst < 4e-7, "max abs error " + worst + " at " + at);   // measured 3.3e-7: ~5 float ulps near ±1
        assertEquals(0f, Fused.erf(0f));
        assertEquals(-Fused.erf(0.3f), Fused.erf(-0.3f), "odd");
        assertEquals(1f, Fused.erf(50f), 1e-7f);
        assertEquals(-1f, Fused.erf(Float.NEGATIVE_INFINITY), 1e-7f);
    }

    @Test void geluMatchesTheExactDefinition() {
        INDArray x = Nd4j.linspace(-9, 9, 3601, DataType.DOUBLE);
        INDArray ref = Ops.gelu(Tensor.of(x)).data();
        double worst = 0;
        for (int i = 0; i < x.length(); i++)
            worst = Math.max(worst, Math.abs(Fused.gelu((float) x.getDouble(i)) - ref.getDouble(i)) / Math.max(1, Math.abs(ref.getDouble(i))));
        System.out.printf("Fused.gelu vs exact (double): max error %.3e%n", worst);
        assertTrue(worst < 1e-6, "gelu error " + worst);
    }

    @Test void gegluEqualsItsNaiveTwin() {
        long[][] shapes = {{3, 10}, {2, 7, 34}, {5, 3, 4, 2}, {40_000, 6}};   // odd halves, rank 4, many rows (parallel)
        for (long[] s : shapes) {
            INDArray h = rand(21, s).muli(3).castTo(DataType.FLOAT);
            INDArray fused = Fused.geglu(Tensor.of(h)).data();
            INDArray naive = Fused.gegluNaive(Tensor.of(h)).data();
            long[] expected = s.clone();
            expected[s.length - 1] /= 2;
            assertArrayEquals(expected, fused.shape());
            double diff = fused.sub(naive).amaxNumber().doubleValue(), scale = naive.amaxNumber().doubleValue();
            System.out.printf("geglu %s: fused vs naive %.3e (max |y| %.2f)%n", java.util.Arrays.toString(s), diff, scale);
            assertTrue(diff < 2e-6 * Math.max(1, scale), java.util.Arrays.toString(s) + ": " + diff);
        }
    }

    @Test void otherLayoutsAndTypesTakeTheTwin() {
        INDArray h = rand(22, 4, 12);
        assertEquals(Fused.gegluNaive(Tensor.of(h)).data(), Fused.geglu(Tensor.of(h)).data(), "double goes to the twin, bit for bit");
        INDArray f = h.castTo(DataType.FLOAT), view = Views.interval(f, 0, 1, 3);               // a view with an offset
        assertEquals(Fused.gegluNaive(Tensor.of(view.dup())).data(), Fused.geglu(Tensor.of(view)).data());
        INDArray transposed = rand(23, 12, 4).castTo(DataType.FLOAT).transpose();               // f-order
        double diff = Fused.geglu(Tensor.of(transposed)).data().sub(Fused.gegluNaive(Tensor.of(transposed.dup('c'))).data())
                .amaxNumber().doubleValue();
        assertEquals(0, diff, 0.0);
        var e = assertThrows(IllegalArgumentException.class, () -> Fused.geglu(Tensor.of(rand(1, 3, 5).castTo(DataType.FLOAT))));
        assertTrue(e.getMessage().contains("[3, 5]"), e.getMessage());
    }

    @Test void gegluGradientsEqualTheTwins() {
        INDArray h = rand(24, 3, 5, 16).muli(2).castTo(DataType.FLOAT), g = rand(25, 3, 5, 8).castTo(DataType.FLOAT);
        INDArray[] got = grad(true, h, g), want = grad(false, h, g);
        double diff = got[0].sub(want[0]).amaxNumber().doubleValue();
        System.out.printf("geglu gradient: fused vs naive %.3e%n", diff);
        assertTrue(diff < 1e-5, "gradient differs by " + diff);
        assertTrue(want[0].amaxNumber().doubleValue() > 0.1, "a gradient that can fail the comparison");
    }

    /** gegluTraining is the twin's floats exactly, forward and backward (large, small, zero and extreme inputs). */
    @Test void gegluTrainingIsTheTwinBitForBit() {
        INDArray big = rand(26, 64, 64, 256).muli(3).castTo(DataType.FLOAT);  // several row blocks: the parallel path
        INDArray small = rand(27, 2, 3, 10).castTo(DataType.FLOAT);
        INDArray extreme = Nd4j.createFromArray(new float[]{0f, -0f, 1e-30f, -1e-30f, 5f, -5f, 40f, -40f, 1e30f, -1e30f,
                3f, -2f, 0.5f, 1f, -7f, 9f, 0.25f, -0.25f, 2f, 100f}).reshape(2, 10);
        for (INDArray h : new INDArray[]{big, small, extreme}) {
            long[] os = h.shape().clone();
            os[os.length - 1] /= 2;
            INDArray g = rand(28, os).castTo(DataType.FLOAT);
            float[] fwdFused = Fused.gegluTraining(Tensor.of(h)).data().data().asFloat();
            float[] fwdNaive = Fused.gegluNaive(Tensor.of(h)).data().data().asFloat();
            assertArrayEquals(fwdNaive, fwdFused, 0f, "forward " + java.util.Arrays.toString(h.shape()));
            Tensor a = Tensor.leaf(h.dup(), true), b = Tensor.leaf(h.dup(), true);
            try (Tape tape = Grad.record()) { tape.backward(Fused.gegluTraining(a), g); }
            try (Tape tape = Grad.record()) { tape.backward(Fused.gegluNaive(b), g); }
            assertArrayEquals(b.grad().data().asFloat(), a.grad().data().asFloat(), 0f, "gradient " + java.util.Arrays.toString(h.shape()));
        }
        // a strided output gradient, and inputs the kernel does not take (double, a view) go to the twin
        INDArray h = rand(29, 4, 12).castTo(DataType.FLOAT);
        INDArray gWide = rand(30, 4, 12).castTo(DataType.FLOAT), gView = gWide.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 6));
        Tensor a = Tensor.leaf(h.dup(), true), b = Tensor.leaf(h.dup(), true);
        try (Tape tape = Grad.record()) { tape.backward(Fused.gegluTraining(a), gView); }
        try (Tape tape = Grad.record()) { tape.backward(Fused.gegluNaive(b), gView.dup()); }
        assertArrayEquals(b.grad().data().asFloat(), a.grad().data().asFloat(), 0f, "strided output gradient");
        INDArray hd = rand(31, 3, 8);
        assertEquals(Fused.gegluNaive(Tensor.of(hd)).data(), Fused.gegluTraining(Tensor.of(hd)).data());
        assertThrows(IllegalArgumentException.class, () -> Fused.gegluTraining(Tensor.of(rand(1, 3, 5).castTo(DataType.FLOAT))));
    }

    private static INDArray[] grad(boolean fused, INDArray h, INDArray g) {
        Tensor leaf = Tensor.leaf(h.dup(), true);
        try (Tape tape = Grad.record()) {
            tape.backward(fused ? Fused.geglu(leaf) : Fused.gegluNaive(leaf), g);
        }
        return new INDArray[]{leaf.grad()};
    }

    /** groupNorm / groupNormPerFrame in float through the fused kernel and through the composed twin. */
    private static INDArray[] norms(boolean perFrame, INDArray x, int groups, INDArray w, INDArray b) {
        Tensor tw = w == null ? null : Tensor.of(w), tb = b == null ? null : Tensor.of(b);
        INDArray[] out = new INDArray[3];
        out[0] = perFrame ? Fused.groupNormPerFrame(Tensor.of(x), groups, tw, tb, 1e-6).data() : Fused.groupNorm(Tensor.of(x), groups, tw, tb, 1e-6).data();
        out[1] = perFrame ? NnOps.groupNormPerFrame(Tensor.of(x), groups, tw, tb, 1e-6).data() : NnOps.groupNorm(Tensor.of(x), groups, tw, tb, 1e-6).data();
        Tensor dx = Tensor.of(x.castTo(DataType.DOUBLE));
        Tensor dw = w == null ? null : Tensor.of(w.castTo(DataType.DOUBLE)), db = b == null ? null : Tensor.of(b.castTo(DataType.DOUBLE));
        out[2] = perFrame ? NnOps.groupNormPerFrame(dx, groups, dw, db, 1e-6).data() : NnOps.groupNorm(dx, groups, dw, db, 1e-6).data();
        return out;
    }

    @Test void groupNormFusedEqualsItsTwin() {
        Object[][] cases = {                    // shape, groups, per frame, offset (a mean far from 0 tests the variance)
                {new long[]{2, 8, 3, 5, 7}, 4, false, 0.0}, {new long[]{2, 8, 3, 5, 7}, 4, true, 0.0},
                {new long[]{1, 6, 10}, 3, false, 0.0}, {new long[]{2, 32, 4, 16, 16}, 8, false, 100.0},
                {new long[]{1, 64, 2, 9, 9}, 32, true, -30.0}};
        for (Object[] c : cases) {
            long[] shape = (long[]) c[0];
            int groups = (int) c[1];
            boolean perFrame = (boolean) c[2];
            INDArray x = rand(31, shape).muli(3).addi((double) c[3]).castTo(DataType.FLOAT);
            for (boolean affine : new boolean[]{true, false}) {
                INDArray w = affine ? rand(32, shape[1]).addi(1).castTo(DataType.FLOAT) : null, b = affine ? rand(33, shape[1]).castTo(DataType.FLOAT) : null;
                INDArray[] r = norms(perFrame, x, groups, w, b);
                double fused = r[0].castTo(DataType.DOUBLE).sub(r[2]).amaxNumber().doubleValue();
                double composed = r[1].castTo(DataType.DOUBLE).sub(r[2]).amaxNumber().doubleValue();
                System.out.printf("groupNorm%s %s groups %d offset %.0f affine %s: vs double, fused %.2e, composed %.2e%n",
                        perFrame ? "PerFrame" : "", java.util.Arrays.toString(shape), groups, (double) c[3], affine, fused, composed);
                // at offset 0 float rounding alone (measured <= 2.7e-7); around ±100 the inputs' own float spacing (7.6e-6)
                // over a std of ~3 bounds any float32 result (measured 8.8e-6 fused, 5.1e-5 composed)
                assertTrue(fused < ((double) c[3] == 0 ? 1e-6 : 2e-5), "fused " + fused);
                assertTrue(fused <= 2 * composed + 1e-6, "fused " + fused + " vs composed " + composed);
            }
        }
    }

    @Test void recordedGroupNormIsTheComposedPath() {
        INDArray x = rand(34, 2, 8, 3, 4, 4).castTo(DataType.FLOAT);
        Tensor leaf = Tensor.leaf(x.dup(), true);
        try (Tape tape = Grad.record()) {
            Tensor y = Fused.groupNorm(leaf, 4, null, null, 1e-6);
            assertTrue(y.requiresGrad());
            assertEquals(NnOps.groupNorm(Tensor.of(x), 4, null, null, 1e-6).data(), y.data(), "under a tape the composed ops run");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Fused.groupNorm(Tensor.of(x), 3, null, null, 1e-6));
        assertTrue(e.getMessage().contains("groupNorm"), "invalid input: the twin's error, " + e.getMessage());
    }

    @Test void layerNormFusedEqualsItsTwin() {
        long[][] shapes = {{3, 7}, {2, 5, 320}, {4, 16, 77}, {1, 1000, 64}};
        for (long[] shape : shapes) for (double offset : new double[]{0, 50}) for (int affine = 0; affine < 4; affine++) {
            INDArray x = rand(41, shape).muli(2).addi(offset).castTo(DataType.FLOAT);
            long d = shape[shape.length - 1];
            INDArray w = (affine & 1) != 0 ? rand(42, d).addi(1).castTo(DataType.FLOAT) : null, b = (affine & 2) != 0 ? rand(43, d).castTo(DataType.FLOAT) : null;
            Tensor tw = w == null ? null : Tensor.of(w), tb = b == null ? null : Tensor.of(b);
            INDArray fused = Fused.layerNorm(Tensor.of(x), tw, tb, 1e-5).data(), composed = NnOps.layerNorm(Tensor.of(x), tw, tb, 1e-5).data();
            INDArray ref = NnOps.layerNorm(Tensor.of(x.castTo(DataType.DOUBLE)), w == null ? null : Tensor.of(w.castTo(DataType.DOUBLE)),
                    b == null ? null : Tensor.of(b.castTo(DataType.DOUBLE)), 1e-5).data();
            double ef = fused.castTo(DataType.DOUBLE).sub(ref).amaxNumber().doubleValue(), ec = composed.castTo(DataType.DOUBLE).sub(ref).amaxNumber().doubleValue();
            if (affine == 3) System.out.printf("layerNorm %s offset %.0f: vs double, fused %.2e, composed %.2e%n", java.util.Arrays.toString(shape), offset, ef, ec);
            assertTrue(ef < (offset == 0 ? 1e-6 : 1e-5), java.util.Arrays.toString(shape) + " offset " + offset + " affine " + affine + ": " + ef);
            assertTrue(ef <= 2 * ec + 1e-6, "fused " + ef + " vs composed " + ec);
        }
        Tensor leaf = Tensor.leaf(rand(44, 3, 8).castTo(DataType.FLOAT), true);
        try (Tape tape = Grad.record()) {
            assertTrue(Fused.layerNorm(leaf, null, null, 1e-5).requiresGrad(), "recorded: the composed path with its backward");
        }
    }

    /**
     * LayerNorm reads views whose rows are contiguous in place (the temporal attention's permuted tokens, a channel
     * slice, a row range with an offset): the floats of the same rows made c-contiguous first, written c-contiguous.
     */
    @Test void layerNormReadsViewsWithContiguousRowsInPlace() {
        INDArray base = rand(45, 2, 5, 6, 24).muli(3).castTo(DataType.FLOAT);
        Tensor w = Tensor.of(rand(46, 16).addi(1).castTo(DataType.FLOAT)), b = Tensor.of(rand(47, 16).castTo(DataType.FLOAT));
        Tensor w24 = Tensor.of(rand(48, 24).addi(1).castTo(DataType.FLOAT)), b24 = Tensor.of(rand(49, 24).castTo(DataType.FLOAT));
        INDArray[] views = {
            base.permute(0, 2, 1, 3),                                                        // (b, n, f, c) of (b, f, n, c)
            base.reshape('c', 10, 6, 24).permute(1, 0, 2),
            base.get(NDArrayIndex.all(), NDArrayIndex.interval(1, 4), NDArrayIndex.all(), NDArrayIndex.all()),   // offset
            base.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(4, 20)), // channels 4..19
        };
        for (INDArray v : views) {
            boolean slice = v.size(-1) == 16;
            Tensor tw = slice ? w : w24, tb = slice ? b : b24;
            INDArray got = Fused.layerNorm(Tensor.of(v), tw, tb, 1e-5).data();
            INDArray want = Fused.layerNorm(Tensor.of(v.dup('c')), tw, tb, 1e-5).data();
            assertArrayEquals(v.shape(), got.shape());
            assertTrue(Shape.hasDefaultStridesForShape(got) && got.ordering() == 'c', "written c-contiguous");
            assertArrayEquals(want.data().asFloat(), got.data().asFloat(), 0f, java.util.Arrays.toString(v.stride()));
        }
        // a last dimension that is not contiguous (a transpose) takes the twin
        INDArray t = rand(50, 24, 6).castTo(DataType.FLOAT).transpose();
        assertEquals(NnOps.layerNorm(Tensor.of(t), w24, b24, 1e-5).data(), Fused.layerNorm(Tensor.of(t), w24, b24, 1e-5).data());
    }

    @Test void pointwiseConvEqualsItsTwin() {
        long[][] cases = {{2, 8, 16, 17, 12}, {3, 32, 16, 16, 16}, {1, 64, 20, 16, 64}};   // n, c, h, w, o: the GEMM path
        for (long[] k : cases) for (boolean withBias : new boolean[]{true, false}) {
            INDArray x = rand(51, k[0], k[1], k[2], k[3]).castTo(DataType.FLOAT), w = rand(52, k[4], k[1], 1, 1).castTo(DataType.FLOAT);
            INDArray b = withBias ? rand(53, k[4]).castTo(DataType.FLOAT) : null;
            Tensor tb = b == null ? null : Tensor.of(b);
            INDArray fused = Fused.pointwiseConv(Tensor.of(x), Tensor.of(w), tb).data();
            INDArray twin = NnOps.conv2d(Tensor.of(x), Tensor.of(w), tb, 1, 0).data();
            INDArray ref = NnOps.conv2d(Tensor.of(x.castTo(DataType.DOUBLE)), Tensor.of(w.castTo(DataType.DOUBLE)),
                    b == null ? null : Tensor.of(b.castTo(DataType.DOUBLE)), 1, 0).data();
            assertArrayEquals(twin.shape(), fused.shape());
            double ef = fused.castTo(DataType.DOUBLE).sub(ref).amaxNumber().doubleValue(), et = twin.castTo(DataType.DOUBLE).sub(ref).amaxNumber().doubleValue();
            assertTrue(ef < 1e-5 * Math.sqrt(k[1]), java.util.Arrays.toString(k) + " bias " + withBias + ": " + ef + " (twin " + et + ")");
        }
        // images under POINTWISE_GEMM_MIN_PIXELS take the twin: its floats exactly
        INDArray small = rand(58, 4, 8, 5, 7).castTo(DataType.FLOAT), ws = rand(59, 6, 8, 1, 1).castTo(DataType.FLOAT);
        assertArrayEquals(NnOps.conv2d(Tensor.of(small), Tensor.of(ws), null, 1, 0).data().data().asFloat(),
                Fused.pointwiseConv(Tensor.of(small), Tensor.of(ws), null).data().data().asFloat());
        // a 3x3 kernel is refused; a recorded input or a double input take the twin; a wrong channel count is the twin's error
        INDArray x = rand(54, 2, 4, 6, 6).castTo(DataType.FLOAT), w3 = rand(55, 5, 4, 3, 3).castTo(DataType.FLOAT);
        var e = assertThrows(IllegalArgumentException.class, () -> Fused.pointwiseConv(Tensor.of(x), Tensor.of(w3), null));
        assertTrue(e.getMessage().contains("[5, 4, 3, 3] is not a 1x1 kernel"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fused.pointwiseConv(Tensor.of(x), Tensor.of(rand(57, 5, 3, 1, 1).castTo(DataType.FLOAT)), null));
        assertTrue(e.getMessage().contains("conv2d"), e.getMessage());
        Tensor leaf = Tensor.leaf(x, true);
        INDArray w1 = rand(56, 5, 4, 1, 1).castTo(DataType.FLOAT);
        try (Tape tape = Grad.record()) {
            Tensor y = Fused.pointwiseConv(leaf, Tensor.of(w1), null);
            assertTrue(y.requiresGrad(), "recorded: the twin with its backward");
        }
        INDArray xd = x.castTo(DataType.DOUBLE);
        assertEquals(NnOps.conv2d(Tensor.of(xd), Tensor.of(w1.castTo(DataType.DOUBLE)), null, 1, 0).data(),
                Fused.pointwiseConv(Tensor.of(xd), Tensor.of(w1.castTo(DataType.DOUBLE)), null).data());
    }
}
