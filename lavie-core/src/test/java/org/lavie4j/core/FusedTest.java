package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.rand;

/** The fused Java kernels against double-precision references and their naive twins. */
class FusedTest {
    /** erf in double through ND4J's Erf op (error ~1e-13, nd4j-notes). */
    private static INDArray erfDouble(INDArray x) { return Ops.erf(x.castTo(DataType.DOUBLE)); }

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

    private static INDArray[] grad(boolean fused, INDArray h, INDArray g) {
        Tensor leaf = Tensor.leaf(h.dup(), true);
        try (Tape tape = Grad.record()) {
            tape.backward(fused ? Fused.geglu(leaf) : Fused.gegluNaive(leaf), g);
        }
        return new INDArray[]{leaf.grad()};
    }
}
