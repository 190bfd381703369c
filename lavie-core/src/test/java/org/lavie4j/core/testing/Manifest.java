package org.lavie4j.core.testing;

import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The full-size key/shape manifests of the real checkpoints ({@code testdata/reference/manifests/<name>.tsv}: a
 * {@code #} header, then {@code key<TAB>[shape]<TAB>dtype} per line).
 */
public final class Manifest {
    /** One tensor of a manifest. */
    public record Entry(String key, long[] shape, DType dtype) {}

    private Manifest() {}

    /** The entries of {@code testdata/reference/manifests/<name>.tsv}, in file order. */
    public static Map<String, Entry> read(String name) {
        Path tsv = TestData.reference().resolve("manifests/" + name + ".tsv");
        try {
            Map<String, Entry> out = new LinkedHashMap<>();
            for (String line : Files.readAllLines(tsv)) {
                if (line.startsWith("#") || line.isBlank()) continue;
                String[] f = line.split("\t");
                String dims = f[1].replaceAll("[\\[\\] ]", "");
                long[] shape = dims.isEmpty() ? new long[0] : Arrays.stream(dims.split(",")).mapToLong(Long::parseLong).toArray();
                out.put(f[0], new Entry(f[0], shape, DType.fromSafetensors(f[2].trim())));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(tsv + ": " + e.getMessage(), e);
        }
    }

    /** Asserts that {@code state} has exactly the manifest's keys, and each its shape and dtype. */
    public static void assertMatches(String name, StateDict state) {
        Map<String, Entry> expected = read(name);
        assertEquals(expected.keySet(), state.keys(), name + ": key set");
        for (Entry e : expected.values()) {
            TensorSource ours = state.get(e.key());
            assertArrayEquals(e.shape(), ours.shape(), e.key());
            assertEquals(e.dtype(), ours.dtype(), e.key());
        }
    }

    /** A state dict of shape-only sources (nothing can be loaded): for key-mapping tests without full-size weights. */
    public static StateDict shapeOnly(String name) {
        StateDict sd = new StateDict(name + ".tsv");
        for (Entry e : read(name).values()) {
            sd.put(e.key(), new TensorSource() {
                @Override public String key() { return e.key(); }
                @Override public DType dtype() { return e.dtype(); }
                @Override public long[] shape() { return e.shape().clone(); }
                @Override public org.nd4j.linalg.api.ndarray.INDArray load() {
                    throw new UnsupportedOperationException("shape-only source " + e.key());
                }
            });
        }
        return sd;
    }
}
