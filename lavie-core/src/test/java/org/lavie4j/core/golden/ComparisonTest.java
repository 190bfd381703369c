package org.lavie4j.core.golden;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ComparisonTest {
    private static final Tolerance.Applied CLOSE = new Tolerance.Applied(new Tolerance.Close(1e-4, 1e-5), "default");
    private static final Tolerance.Applied EXACT = new Tolerance.Applied(new Tolerance.Exact(), "exact");

    private static INDArray f32(float[] v, long... shape) { return Nd4j.createFromArray(v).reshape(shape); }

    @Test
    void passesWithinAtolPlusRtolTimesExpected() {
        INDArray e = f32(new float[]{1, 100, 0, -2}, 2, 2);
        // allowances: 1e-5 + 1e-4*|e| = 1.1e-4, 1.001e-2, 1e-5, 2.1e-4
        INDArray a = f32(new float[]{1.0001f, 100.009f, 0.000009f, -2.0002f}, 2, 2);
        Comparison c = Comparison.compare("y", a, e, CLOSE);
        assertEquals(Comparison.Status.PASS, c.status(), c.toString());
        assertEquals(0, c.mismatches());
        assertEquals(4, c.elements());
        assertEquals(0.009, c.maxAbsErr(), 1e-5);
        assertTrue(c.maxRelErr() > 0 && c.maxRelErr() < 1.2e-4, "rel err " + c.maxRelErr());
    }

    @Test
    void failsAndReportsTheWorstMultiDimensionalIndex() {
        float[] ev = new float[2 * 3 * 4];
        for (int i = 0; i < ev.length; i++) ev[i] = i;
        float[] av = ev.clone();
        av[1 * 12 + 2 * 4 + 3] += 0.5f;   // index [1,2,3]: far out
        av[5] += 0.01f;                   // [0,1,1]: out, but less
        Comparison c = Comparison.compare("y", f32(av, 2, 3, 4), f32(ev, 2, 3, 4), CLOSE);
        assertEquals(Comparison.Status.FAIL, c.status());
        assertEquals(2, c.mismatches());
        assertArrayEquals(new long[]{1, 2, 3}, c.worstIndex());
        assertEquals(23.5, c.actualAtWorst(), 1e-6);
        assertEquals(23, c.expectedAtWorst(), 0);
        assertEquals(0.5, c.maxAbsErr(), 1e-6);
        assertNotNull(c.message());
        assertTrue(c.message().contains("[1, 2, 3]"), c.message());
    }

    @Test
    void worstIndexIsTheLargestExcessOverAllowanceNotTheLargestAbsoluteError() {
        // |err| 0.005 at e=100 is within rtol; |err| 0.001 at e=0 is not.
        INDArray e = f32(new float[]{100, 0}, 2);
        INDArray a = f32(new float[]{100.005f, 0.001f}, 2);
        Comparison c = Comparison.compare("y", a, e, CLOSE);
        assertEquals(Comparison.Status.FAIL, c.status());
        assertArrayEquals(new long[]{1}, c.worstIndex());
        assertEquals(1, c.mismatches());
    }

    @Test
    void shapeAndDtypeMismatchFailWithAClearMessage() {
        Comparison shape = Comparison.compare("y", Nd4j.zeros(DataType.FLOAT, 2, 3), Nd4j.zeros(DataType.FLOAT, 3, 2), CLOSE);
        assertEquals(Comparison.Status.FAIL, shape.status());
        assertTrue(shape.message().contains("shape [2, 3] != expected [3, 2]"), shape.message());
        Comparison dtype = Comparison.compare("y", Nd4j.zeros(DataType.DOUBLE, 2), Nd4j.zeros(DataType.FLOAT, 2), CLOSE);
        assertEquals(Comparison.Status.FAIL, dtype.status());
        assertTrue(dtype.message().contains("dtype double != expected float"), dtype.message());
    }

    @Test
    void exactIsBitwiseForFloats() {
        INDArray e = f32(new float[]{0f, 1f}, 2);
        assertEquals(Comparison.Status.PASS, Comparison.compare("t", f32(new float[]{0f, 1f}, 2), e, EXACT).status());
        Comparison negZero = Comparison.compare("t", f32(new float[]{-0f, 1f}, 2), e, EXACT);
        assertEquals(Comparison.Status.FAIL, negZero.status(), "-0.0 differs bitwise from 0.0");
        assertEquals(0, negZero.maxAbsErr());
        assertArrayEquals(new long[]{0}, negZero.worstIndex());
        Comparison ulp = Comparison.compare("t", f32(new float[]{0f, Math.nextUp(1f)}, 2), e, EXACT);
        assertEquals(Comparison.Status.FAIL, ulp.status());
    }

    @Test
    void integersAreComparedAsIntegers() {
        INDArray e = Nd4j.createFromArray(new long[]{49406, 320, 49407});
        INDArray near = Nd4j.createFromArray(new long[]{49406, 321, 49407});
        Tolerance.Applied loose = new Tolerance.Applied(new Tolerance.Close(1, 1000), "default");
        Comparison c = Comparison.compare("ids", near, e, loose);
        assertEquals(Comparison.Status.FAIL, c.status(), "rtol/atol never applies to integer outputs");
        assertArrayEquals(new long[]{1}, c.worstIndex());
        assertEquals(1, c.maxAbsErr());
        assertEquals(Comparison.Status.FAIL, Comparison.compare("ids", near, e, EXACT).status());
        Tolerance.Applied one = new Tolerance.Applied(new Tolerance.MaxAbsDiff(1), "video_uint8");
        assertEquals(Comparison.Status.PASS, Comparison.compare("ids", near, e, one).status());
        // large I64 values survive (no double rounding)
        INDArray big = Nd4j.createFromArray(new long[]{(1L << 60) + 1});
        INDArray big2 = Nd4j.createFromArray(new long[]{(1L << 60)});
        assertEquals(Comparison.Status.FAIL, Comparison.compare("b", big, big2, EXACT).status());
    }

    @Test
    void unsignedBytesAreComparedAsIntegers() {
        INDArray e = Nd4j.createFromArray(new byte[]{(byte) 255, 0, 7}).castTo(DataType.UBYTE);
        INDArray a = Nd4j.createFromArray(new byte[]{(byte) 254, 0, 7}).castTo(DataType.UBYTE);
        Tolerance.Applied one = new Tolerance.Applied(new Tolerance.MaxAbsDiff(1), "video_uint8");
        Comparison c = Comparison.compare("video_uint8", a, e, one);
        assertEquals(Comparison.Status.PASS, c.status(), c.toString());
        assertEquals(1, c.maxAbsErr());
        Tolerance.Applied zero = new Tolerance.Applied(new Tolerance.MaxAbsDiff(0), "x");
        Comparison z = Comparison.compare("video_uint8", a, e, zero);
        assertEquals(Comparison.Status.FAIL, z.status());
        assertEquals(255, z.expectedAtWorst(), 0);
    }

    @Test
    void nanIsAFailureUnlessBothAreNaN() {
        INDArray e = f32(new float[]{1f, Float.NaN}, 2);
        assertEquals(Comparison.Status.PASS, Comparison.compare("y", f32(new float[]{1f, Float.NaN}, 2), e, CLOSE).status());
        Comparison c = Comparison.compare("y", f32(new float[]{Float.NaN, Float.NaN}, 2), e, CLOSE);
        assertEquals(Comparison.Status.FAIL, c.status());
        assertArrayEquals(new long[]{0}, c.worstIndex());
    }

    @Test
    void worksOnViewsAndDoubles() {
        INDArray base = Nd4j.createFromArray(new double[][]{{1, 2, 3}, {4, 5, 6}});
        INDArray view = base.transpose(); // (3, 2), not C-contiguous
        INDArray expected = Nd4j.createFromArray(new double[][]{{1, 4}, {2, 5}, {3, 6}});
        assertEquals(Comparison.Status.PASS, Comparison.compare("y", view, expected, EXACT).status());
        expected.putScalar(2, 1, 6.5);
        Comparison c = Comparison.compare("y", view, expected, CLOSE);
        assertArrayEquals(new long[]{2, 1}, c.worstIndex());
    }
}
