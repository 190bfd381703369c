package org.lavie4j.core.io;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.HashSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Locates the project's testdata/ folder and compares tensors bit for bit. */
final class IoTestData {
    private IoTestData() {}

    /** {@code -Dlavie4j.testdata} (set by surefire), else the first {@code testdata/} found walking up from the working directory. */
    static Path root() {
        String prop = System.getProperty("lavie4j.testdata");
        if (prop != null && Files.isDirectory(Paths.get(prop))) return Paths.get(prop);
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("testdata"))) return p.resolve("testdata");
        }
        return Paths.get("testdata");
    }

    /** A file under testdata/; the test is skipped when it is absent. */
    static Path require(String relative) {
        Path p = root().resolve(relative);
        assumeTrue(Files.exists(p), "test data absent: " + p);
        return p;
    }

    static byte[] le2(int... v) {
        ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int x : v) b.putShort((short) x);
        return b.array();
    }

    static byte[] le4(int... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int x : v) b.putInt(x);
        return b.array();
    }

    static byte[] le8(long... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (long x : v) b.putLong(x);
        return b.array();
    }

    static byte[] bytes(INDArray a) {
        ByteBuffer b = NdBytes.toBytes(a);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /** Same dtype, same shape, bitwise equal values. */
    static void assertSameTensor(String key, TensorSource expected, TensorSource actual) {
        assertEquals(expected.dtype(), actual.dtype(), key + " dtype");
        assertArrayEquals(expected.shape(), actual.shape(), key + " shape");
        INDArray e = expected.load(), a = actual.load();
        try {
            assertEquals(e.dataType(), a.dataType(), key + " loaded dtype");
            assertArrayEquals(e.shape(), a.shape(), key + " loaded shape");
            assertArrayEquals(bytes(e), bytes(a), key + " values");
        } finally {
            e.close();
            a.close();
        }
    }

    /** Same key set (order-insensitive) and identical tensors. */
    static void assertSameTensors(TensorFile expected, TensorFile actual) {
        assertEquals(new HashSet<>(expected.keys()), new HashSet<>(actual.keys()),
                () -> "key sets differ: " + Arrays.toString(expected.keys().toArray()) + " vs " + Arrays.toString(actual.keys().toArray()));
        for (String k : expected.keys()) assertSameTensor(k, expected.get(k), actual.get(k));
    }
}
