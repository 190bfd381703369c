package org.lavie4j.core.io;

import org.lavie4j.core.Memory;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Raw little-endian, row-major bytes to and from ND4J arrays, for every {@link DType}. Half and bfloat16 values are
 * copied bit for bit (ND4J stores them as 2-byte IEEE half / bfloat16, like the files), never via float.
 */
final class NdBytes {
    private NdBytes() {}

    /** Elements of a shape; throws on negative dimensions or overflow. */
    static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    /** Byte size of a tensor; throws on overflow. */
    static long nbytes(DType dtype, long[] shape) {
        return Math.multiplyExact(numel(shape), (long) dtype.bytes());
    }

    /**
     * A new detached c-order array of {@code dtype} and {@code shape} holding the bytes between {@code src}'s
     * position and limit (little-endian, row-major; exactly {@code nbytes(dtype, shape)} of them).
     */
    static INDArray toArray(DType dtype, long[] shape, ByteBuffer src) {
        long n = nbytes(dtype, shape);
        if (src.remaining() != n) {
            throw new IllegalArgumentException("expected " + n + " bytes for " + dtype + Arrays.toString(shape)
                    + ", got " + src.remaining());
        }
        // float32 (the weights of every checkpoint) from malloc: ND4J's allocator would first write every byte once more
        INDArray a = dtype.nd4j() == DataType.FLOAT ? Memory.uninitialized(DataType.FLOAT, shape.clone())
                : Nd4j.createUninitializedDetached(dtype.nd4j(), shape.clone());
        if (n == 0) return a;
        ByteBuffer dst = a.data().asNio().order(ByteOrder.nativeOrder());
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN || dtype.bytes() == 1) {
            dst.position(0).limit((int) n);
            dst.put(src.duplicate());
        } else {
            ByteBuffer le = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            byte[] tmp = new byte[(int) n];
            le.get(tmp);
            swap(tmp, dtype.bytes());
            dst.position(0).limit((int) n);
            dst.put(tmp);
        }
        return a;
    }

    /** A new detached array from little-endian bytes. */
    static INDArray toArray(DType dtype, long[] shape, byte[] src) {
        return toArray(dtype, shape, ByteBuffer.wrap(src));
    }

    /**
     * The array's values as little-endian row-major bytes (a fresh buffer positioned at 0). Views, permuted and
     * f-order arrays are copied to c order first.
     */
    static ByteBuffer toBytes(INDArray a) {
        DType dtype = DType.of(a.dataType());
        long n = nbytes(dtype, a.shape());
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor of " + n + " bytes is larger than the 2 GB this writer handles");
        }
        ByteBuffer out = ByteBuffer.allocate((int) n).order(ByteOrder.LITTLE_ENDIAN);
        if (n == 0) return out;
        boolean plain = a.ordering() == 'c' && a.offset() == 0 && isCContiguous(a.shape(), a.stride())
                && a.data().length() == a.length();
        INDArray c = plain ? a : a.dup('c');
        try {
            ByteBuffer src = c.data().asNio().order(ByteOrder.nativeOrder());
            src.position(0).limit((int) n);
            out.put(src);
        } finally {
            if (c != a) Memory.free(c);
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) swap(out.array(), dtype.bytes());
        out.flip();
        return out;
    }

    static boolean isCContiguous(long[] shape, long[] stride) {
        long expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] != 1 && stride[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /** Reverses the bytes of each {@code width}-byte element in place. */
    static void swap(byte[] b, int width) {
        if (width == 1) return;
        for (int i = 0; i + width <= b.length; i += width) {
            for (int j = 0; j < width / 2; j++) {
                byte t = b[i + j];
                b[i + j] = b[i + width - 1 - j];
                b[i + width - 1 - j] = t;
            }
        }
    }
}
