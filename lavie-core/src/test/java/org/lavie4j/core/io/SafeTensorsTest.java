package org.lavie4j.core.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.io.IoTestData.le2;
import static org.lavie4j.core.io.IoTestData.le4;
import static org.lavie4j.core.io.IoTestData.le8;

class SafeTensorsTest {
    @TempDir Path dir;

    /** Little-endian raw bytes for every dtype, including the awkward values (subnormals, inf, NaN payloads, -0). */
    static Map<String, INDArray> everyDtype() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        m.put("f64", NdBytes.toArray(DType.F64, new long[]{2, 2}, le8(Double.doubleToRawLongBits(1.0 / 3), Double.doubleToRawLongBits(-0.0),
                Double.doubleToRawLongBits(Double.MIN_VALUE), Double.doubleToRawLongBits(Double.POSITIVE_INFINITY))));
        m.put("f32", NdBytes.toArray(DType.F32, new long[]{3}, le4(Float.floatToRawIntBits(0.1f), Float.floatToRawIntBits(Float.MIN_VALUE), 0x7fc00001)));
        // half: 1.0, -2.0, 65504 (max), smallest subnormal, -0, +inf, NaN
        m.put("f16", NdBytes.toArray(DType.F16, new long[]{7}, le2(0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x7E00)));
        // bfloat16: 1.0, 3.140625, smallest subnormal, -inf, a value that differs from its float rounding
        m.put("bf16", NdBytes.toArray(DType.BF16, new long[]{5}, le2(0x3F80, 0x4049, 0x0001, 0xFF80, 0x3DCD)));
        m.put("i64", NdBytes.toArray(DType.I64, new long[]{2}, le8(Long.MIN_VALUE, 1L << 40)));
        m.put("i32", NdBytes.toArray(DType.I32, new long[]{2}, le4(Integer.MIN_VALUE, 7)));
        m.put("i16", NdBytes.toArray(DType.I16, new long[]{2}, le2(0x8000, 0x7FFF)));
        m.put("i8", NdBytes.toArray(DType.I8, new long[]{3}, new byte[]{-128, 127, 0}));
        m.put("u8", NdBytes.toArray(DType.U8, new long[]{3}, new byte[]{0, (byte) 200, (byte) 255}));
        m.put("bool", NdBytes.toArray(DType.BOOL, new long[]{3}, new byte[]{1, 0, 1}));
        m.put("scalar", NdBytes.toArray(DType.F32, new long[0], le4(Float.floatToRawIntBits(3.5f))));
        m.put("empty", NdBytes.toArray(DType.F32, new long[]{0, 3}, new byte[0]));
        return m;
    }

    @Test
    void roundTripsEveryDtypeBitForBit() throws IOException {
        Map<String, INDArray> tensors = everyDtype();
        Path f = dir.resolve("all.safetensors");
        SafeTensors.write(f, tensors, Map.of("case", "all", "format", "pt"));
        try (TensorFile tf = SafeTensors.read(f)) {
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(tf.keys()), "written in the given order");
            assertEquals(Map.of("case", "all", "format", "pt"), tf.metadata());
            for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
                IoTestData.assertSameTensor(e.getKey(), TensorSource.of(e.getKey(), e.getValue()), tf.get(e.getKey()));
            }
            INDArray h = tf.get("f16").load();
            assertEquals(DType.F16.nd4j(), h.dataType());
            assertEquals(1.0, h.getDouble(0));
            assertEquals(-2.0, h.getDouble(1));
            assertEquals(65504.0, h.getDouble(2));
            INDArray b = tf.get("bf16").load();
            assertEquals(DataType.BFLOAT16, b.dataType());
            assertEquals(3.140625, b.getDouble(1));
            INDArray s = tf.get("scalar").load();
            assertEquals(0, s.rank());
            assertEquals(3.5, s.getDouble(0));
            assertTrue(tf.get("empty").load().isEmpty());
            assertEquals(1.0, tf.get("bool").load().getDouble(0));
            assertEquals(Long.MIN_VALUE, tf.get("i64").load().getLong(0));
            assertEquals(200, tf.get("u8").load().getInt(1));
        }
    }

    @Test
    void writesTheReferenceLayout() throws IOException {
        Path f = dir.resolve("layout.safetensors");
        SafeTensors.write(f, Map.of("a", Nd4j.createFromArray(1f, 2f, 3f)), Map.of("k", "v"));
        byte[] all = Files.readAllBytes(f);
        ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong(0);
        assertEquals(0, (8 + n) % 8, "data starts 8-byte aligned");
        assertEquals(8 + n + 12, all.length);
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals("{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", header.stripTrailing());
        assertTrue(header.endsWith(" ") || header.length() % 8 == 0, "padded with spaces");
        assertEquals(1f, bb.getFloat((int) (8 + n)));
        assertEquals(3f, bb.getFloat((int) (8 + n + 8)));
    }

    @Test
    void writesViewsAndPermutedArraysInRowMajorOrder() throws IOException {
        INDArray m = Nd4j.createFromArray(new float[][]{{1, 2, 3}, {4, 5, 6}});
        Map<String, INDArray> t = new LinkedHashMap<>();
        t.put("t", m.permute(1, 0));
        t.put("row", m.getRow(1));
        t.put("f", m.dup('f'));
        Path f = dir.resolve("views.safetensors");
        SafeTensors.write(f, t, null);
        try (TensorFile tf = SafeTensors.read(f)) {
            assertEquals(Nd4j.createFromArray(new float[][]{{1, 4}, {2, 5}, {3, 6}}), tf.get("t").load());
            assertEquals(Nd4j.createFromArray(4f, 5f, 6f), tf.get("row").load());
            assertEquals(m, tf.get("f").load());
            assertTrue(tf.metadata().isEmpty());
        }
    }

    @Test
    void convertsFloatTensorsToHalfOnRequest() throws IOException {
        Map<String, TensorSource> src = new LinkedHashMap<>();
        INDArray w = Nd4j.createFromArray(0.1f, -1.5f, 1000.25f);
        src.put("w", TensorSource.of("w", w));
        src.put("ids", TensorSource.of("ids", Nd4j.createFromArray(1L, 2L)));
        Path f = dir.resolve("half.safetensors");
        SafeTensors.write(f, src, Map.of(), DType.F16);
        try (TensorFile tf = SafeTensors.read(f)) {
            assertEquals(DType.F16, tf.get("w").dtype());
            assertEquals(DType.I64, tf.get("ids").dtype(), "integer tensors keep their dtype");
            assertArrayEquals(IoTestData.bytes(w.castTo(DType.F16.nd4j())), IoTestData.bytes(tf.get("w").load()));
            assertEquals(DataType.FLOAT, tf.get("w").load(DataType.FLOAT).dataType());
        }
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(f, src, Map.of(), DType.I32));
    }

    @Test
    void readsLazilyAndCopiesOnLoad() throws IOException {
        Path f = dir.resolve("lazy.safetensors");
        SafeTensors.write(f, everyDtype(), Map.of());
        TensorFile tf = SafeTensors.read(f);
        TensorSource s = tf.get("f32");
        assertEquals(DType.F32, s.dtype());
        assertArrayEquals(new long[]{3}, s.shape());
        INDArray a = s.load();
        a.assign(42);
        assertNotEquals(42.0, s.load().getDouble(0), "each load is a fresh array; the file is never written through");
        tf.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, s::load);
        assertTrue(e.getMessage().contains("lazy.safetensors") && e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void filesAboveTheMappingLimitAreMappedPerTensor() throws IOException {
        Map<String, INDArray> tensors = everyDtype();
        Path f = dir.resolve("big.safetensors");
        SafeTensors.write(f, tensors, Map.of());
        try (TensorFile whole = SafeTensors.read(f); TensorFile perTensor = SafeTensors.read(f, 16)) {
            IoTestData.assertSameTensors(whole, perTensor);
        }
    }

    @Test
    void readsTheReferenceImplementationsFiles() throws IOException {
        // written by Python safetensors (torch), header padded with spaces, __metadata__ {"case": ...}
        Path io = IoTestData.require("golden/layer_inflated_conv/io.safetensors");
        try (TensorFile tf = TensorFile.open(io)) {
            assertEquals("layer_inflated_conv", tf.metadata().get("case"));
            assertFalse(tf.keys().isEmpty());
            for (TensorSource s : tf.tensors()) {
                INDArray a = s.load();
                assertArrayEquals(s.shape(), a.shape(), s.key());
                a.close();
            }
        }
    }

    @Test
    void failedWriteLeavesTheExistingFileAndNoTemporaryFiles() throws IOException {
        Path f = dir.resolve("keep.safetensors");
        SafeTensors.write(f, Map.of("a", Nd4j.createFromArray(1f, 2f)), Map.of());
        byte[] before = Files.readAllBytes(f);
        TensorSource failing = new TensorSource() {
            @Override public String key() { return "bad"; }
            @Override public DType dtype() { return DType.F32; }
            @Override public long[] shape() { return new long[]{4}; }
            @Override public INDArray load() { throw new IllegalStateException("disk on fire"); }
        };
        Map<String, TensorSource> src = new LinkedHashMap<>();
        src.put("ok", TensorSource.of("ok", Nd4j.createFromArray(5f, 6f, 7f)));
        src.put("bad", failing);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> SafeTensors.write(f, src, Map.of(), null));
        assertEquals("disk on fire", e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(f), "existing file untouched");
        assertEquals(List.of(f), listDir(), "no temporary file left behind");

        // a source whose data does not match its declared shape is refused the same way
        TensorSource lying = new TensorSource() {
            @Override public String key() { return "lie"; }
            @Override public DType dtype() { return DType.F32; }
            @Override public long[] shape() { return new long[]{5}; }
            @Override public INDArray load() { return Nd4j.createFromArray(1f); }
        };
        IOException e2 = assertThrows(IOException.class, () -> SafeTensors.write(f, Map.of("lie", lying), Map.of(), null));
        assertTrue(e2.getMessage().contains("lie"), e2.getMessage());
        assertArrayEquals(before, Files.readAllBytes(f));
        assertEquals(List.of(f), listDir());

        // a successful overwrite replaces the file and leaves nothing else
        SafeTensors.write(f, Map.of("b", Nd4j.createFromArray(9.0)), Map.of());
        try (TensorFile tf = SafeTensors.read(f)) {
            assertEquals(List.of("b"), List.copyOf(tf.keys()));
        }
        assertEquals(List.of(f), listDir());
    }

    @Test
    void rejectsReservedOrEmptyKeys() {
        Path f = dir.resolve("x.safetensors");
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(f, Map.of("__metadata__", Nd4j.createFromArray(1f)), null));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(f, Map.of("", Nd4j.createFromArray(1f)), null));
        assertFalse(Files.exists(f));
    }

    private List<Path> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    // ------------------------------------------------------------------------------------------- bad input

    /** A safetensors file with the given header (not padded) and {@code dataBytes} zero bytes of data. */
    private Path raw(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    private void assertBad(Path f, String... fragments) {
        IOException e = assertThrows(IOException.class, () -> SafeTensors.read(f).close());
        assertTrue(e.getMessage().contains(f.toString()), "names the file: " + e.getMessage());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    @Test
    void rejectsTruncatedFiles() throws IOException {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[]{1, 2, 3});
        assertBad(f, "truncated");
        Path good = dir.resolve("good.safetensors");
        SafeTensors.write(good, Map.of("a", Nd4j.createFromArray(1f, 2f, 3f, 4f)), Map.of());
        byte[] all = Files.readAllBytes(good);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 3));
        assertBad(cut, "'a'", "beyond the end of the file");
        Path cutHeader = dir.resolve("cuthead.safetensors");
        Files.write(cutHeader, java.util.Arrays.copyOf(all, 20));
        assertBad(cutHeader, "header length", "larger than the file");
    }

    @Test
    void rejectsHeaderLengthBeyondTheFile() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(1_000_000).put("{}      ".getBytes(StandardCharsets.US_ASCII));
        Path f = dir.resolve("long.safetensors");
        Files.write(f, b.array());
        assertBad(f, "1000000", "larger than the file");
        b.putLong(0, -5);
        Files.write(f, b.array());
        assertBad(f, "larger than the file");
    }

    @Test
    void rejectsInvalidJson() throws IOException {
        assertBad(raw("json1.safetensors", "{\"a\": {\"dtype\": \"F32\",", 0), "invalid safetensors JSON header");
        assertBad(raw("json2.safetensors", "{} trailing", 0), "invalid safetensors JSON header");
        assertBad(raw("json3.safetensors", "[1,2]   ", 0), "does not start with '{'");
        assertBad(raw("json4.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
                "invalid safetensors JSON header");
        assertBad(raw("json5.safetensors", "{\"a\": 3}", 0), "'a'", "not an object");
        assertBad(raw("json6.safetensors", "{\"__metadata__\": {\"x\": 1}}", 0), "__metadata__");
    }

    @Test
    void rejectsBadOffsetsDtypesAndShapes() throws IOException {
        assertBad(raw("beyond.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
                "'w'", "beyond the end of the file");
        assertBad(raw("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16),
                "'w'", "span 12 bytes", "needs 16");
        assertBad(raw("overlap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "'a'", "'b'", "overlap");
        assertBad(raw("reversed.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8),
                "'w'", "invalid data_offsets");
        assertBad(raw("dtype.safetensors", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2),
                "'w'", "unknown safetensors dtype 'F8_E4M3'");
        assertBad(raw("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,0]}}", 0),
                "'w'", "negative dimension");
        assertBad(raw("noshape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "'w'", "shape");
        assertBad(raw("offsets3.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8),
                "'w'", "data_offsets must have 2 entries");
    }

    @Test
    void acceptsTheSmallestValidFiles() throws IOException {
        try (TensorFile tf = SafeTensors.read(raw("empty.safetensors", "{}", 0))) {
            assertEquals(0, tf.size());
        }
        try (TensorFile tf = SafeTensors.read(raw("padded.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}      ", 2))) {
            assertEquals(0, tf.get("w").load().getInt(1));
        }
    }
}
