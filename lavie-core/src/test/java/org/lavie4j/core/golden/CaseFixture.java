package org.lavie4j.core.golden;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes small synthetic case directories (case.json + a hand-made io.safetensors) for harness tests. */
final class CaseFixture {
    private final Map<String, String> dtypes = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, float[]> values = new LinkedHashMap<>();

    /** An F32 tensor of {@code io.safetensors}. */
    CaseFixture f32(String key, float[] v, long... shape) {
        dtypes.put(key, "F32");
        shapes.put(key, shape);
        values.put(key, v);
        return this;
    }

    /** An I64 tensor (values given as floats for brevity). */
    CaseFixture i64(String key, float[] v, long... shape) {
        dtypes.put(key, "I64");
        shapes.put(key, shape);
        values.put(key, v);
        return this;
    }

    /** Writes {@code io.safetensors} into {@code dir}. */
    void writeIo(Path dir) throws IOException {
        StringBuilder h = new StringBuilder("{\"__metadata__\":{\"case\":\"test\"}");
        long off = 0;
        for (String k : dtypes.keySet()) {
            int width = dtypes.get(k).equals("I64") ? 8 : 4;
            long n = values.get(k).length * (long) width;
            h.append(",\"").append(k).append("\":{\"dtype\":\"").append(dtypes.get(k)).append("\",\"shape\":")
                    .append(Arrays.toString(shapes.get(k)).replace(" ", "")).append(",\"data_offsets\":[")
                    .append(off).append(',').append(off + n).append("]}");
            off += n;
        }
        h.append('}');
        while ((h.length() + 8) % 8 != 0) h.append(' ');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + (int) off).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        for (String k : dtypes.keySet()) {
            for (float v : values.get(k)) {
                if (dtypes.get(k).equals("I64")) b.putLong((long) v);
                else b.putFloat(v);
            }
        }
        Files.write(dir.resolve(GoldenCase.IO_FILE), b.array());
    }

    /** A minimal valid case.json of {@code kind} with input x [2] and output y [2] (F32). */
    static String caseJson(String kind) {
        return "{\"kind\": \"" + kind + "\", \"config\": {\"n\": 2},"
                + " \"inputs\": {\"x\": {\"shape\": [2], \"dtype\": \"F32\"}},"
                + " \"outputs\": {\"y\": {\"shape\": [2], \"dtype\": \"F32\"}},"
                + " \"tolerance\": {\"default\": {\"rtol\": 1e-4, \"atol\": 1e-5}, \"outputs\": []}}";
    }

    /** A complete valid case directory {@code dir/name}: y = 2x for x = [1, 2]. */
    static Path writeCase(Path parent, String name, String kind) throws IOException {
        Path dir = Files.createDirectories(parent.resolve(name));
        Files.writeString(dir.resolve(GoldenCase.CASE_JSON), caseJson(kind));
        new CaseFixture().f32("in.x", new float[]{1, 2}, 2).f32("out.y", new float[]{2, 4}, 2).writeIo(dir);
        return dir;
    }
}
