package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The table kernel of HalfFloats against ND4J's cast (its naive twin), on every 16-bit pattern and on layouts. */
class HalfFloatsTest {
    /** Every finite and infinite value of both formats (NaN payloads aside), as ND4J rounds a float to them. */
    @Test void everyBitPatternMatchesNd4jsCast() {
        for (DataType t : new DataType[]{DataType.HALF, DataType.BFLOAT16}) {
            float[] values = new float[1 << 16];
            for (int i = 0; i < values.length; i++)
                values[i] = t == DataType.BFLOAT16 ? Float.intBitsToFloat(i << 16) : HalfFloats.fp16ToFloat((short) i);
            INDArray half = Nd4j.createFromArray(values).castTo(t);   // exact: each value is representable in t
            float[] fast = HalfFloats.toFloat(half).toFloatVector(), naive = HalfFloats.toFloatNaive(half).toFloatVector();
            for (int i = 0; i < values.length; i++) {
                if (Float.isNaN(values[i])) {
                    assertEquals(Float.isNaN(naive[i]), Float.isNaN(fast[i]), t + " pattern " + i);
                    continue;
                }
                assertEquals(Float.floatToIntBits(naive[i]), Float.floatToIntBits(fast[i]), t + " pattern " + Integer.toHexString(i)
                        + ": " + naive[i] + " vs " + fast[i]);
                assertEquals(values[i], fast[i], t + " pattern " + Integer.toHexString(i));
            }
        }
    }

    @Test void largeArraysInParallelBlocksAndNonContiguousViews() {
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 700_001);              // several parallel blocks, odd tail
        for (DataType t : new DataType[]{DataType.HALF, DataType.BFLOAT16}) {
            INDArray half = x.castTo(t);
            INDArray fast = HalfFloats.toFloat(half);
            assertEquals(DataType.FLOAT, fast.dataType());
            assertArrayEquals(half.shape(), fast.shape());
            assertEquals(HalfFloats.toFloatNaive(half), fast);
            INDArray view = half.transpose();                               // not c-contiguous: the naive path
            assertEquals(HalfFloats.toFloatNaive(view), HalfFloats.toFloat(view));
        }
    }
}
