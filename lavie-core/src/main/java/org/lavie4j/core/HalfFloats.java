package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.stream.IntStream;

/**
 * Widening FLOAT16 / BFLOAT16 arrays to FLOAT, for weights stored in half precision ({@link Parameter#storeAs}): a
 * lookup in a 65,536-entry table (exact: every 16-bit pattern maps to one float), in parallel blocks. Widening all
 * 909M weights of LaVie's base UNet, as each forward does once, took 5.7-7.5 s with it against 7.4-11.2 s with ND4J's
 * {@code castTo} (2 shared cores, same JVM; both are mostly the fresh 3.6 GB being faulted in and written).
 * {@link #toFloatNaive} is the ND4J twin the tests compare with.
 */
public final class HalfFloats {
    private HalfFloats() {}

    /** Elements per parallel task. */
    private static final int BLOCK = 1 << 18;
    /** Elements converted through one pair of Java scratch arrays. */
    private static final int CHUNK = 1 << 12;

    private static final float[] BF16 = new float[1 << 16], FP16 = new float[1 << 16];

    static {
        for (int i = 0; i < 1 << 16; i++) {
            BF16[i] = Float.intBitsToFloat(i << 16);            // bfloat16 is the upper half of a float32
            FP16[i] = fp16ToFloat((short) i);
        }
    }

    /** IEEE 754 binary16 bits -> float (exact: subnormals, infinities and NaN included). */
    static float fp16ToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));      // inf / NaN
        if (exp != 0) return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13)); // normal: rebias 15 -> 127
        float v = mant * 0x1p-24f;                                                            // subnormal (or zero)
        return sign != 0 ? -v : v;
    }

    /**
     * A fresh FLOAT copy of a HALF or BFLOAT16 array. C-contiguous arrays at offset 0 take the table kernel;
     * anything else goes to {@link #toFloatNaive}.
     */
    public static INDArray toFloat(INDArray half) {
        DataType t = half.dataType();
        if ((t != DataType.HALF && t != DataType.BFLOAT16) || half.ordering() != 'c' || !Shape.hasDefaultStridesForShape(half)
                || half.offset() != 0 || half.length() > Integer.MAX_VALUE || half.isEmpty())
            return toFloatNaive(half);
        float[] table = t == DataType.HALF ? FP16 : BF16;
        INDArray out = Memory.uninitialized(DataType.FLOAT, half.shape());
        ShortBuffer src = half.data().asNio().order(ByteOrder.nativeOrder()).asShortBuffer();
        FloatBuffer dst = out.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
        int n = (int) half.length();
        int tasks = (n + BLOCK - 1) / BLOCK;
        IntStream range = IntStream.range(0, tasks);
        if (tasks > 1) range = range.parallel();
        range.forEach(k -> {
            int end = Math.min(n, (k + 1) * BLOCK);
            short[] s = new short[CHUNK];                       // small scratch: no heap growth from big weights
            float[] f = new float[CHUNK];
            for (int i0 = k * BLOCK; i0 < end; i0 += CHUNK) {
                int len = Math.min(CHUNK, end - i0);
                src.get(i0, s, 0, len);
                for (int i = 0; i < len; i++) f[i] = table[s[i] & 0xffff];
                dst.put(i0, f, 0, len);
            }
        });
        return out;
    }

    /** The naive twin of {@link #toFloat}: ND4J's cast. */
    public static INDArray toFloatNaive(INDArray half) {
        return half.castTo(DataType.FLOAT);
    }
}
