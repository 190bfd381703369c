package org.lavie4j.nn.unet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.lavie4j.core.Module;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Test access to the {@code unet_vsr} golden case: its weights (whole or one submodule's, by key prefix), inputs and
 * the per-submodule outputs of its {@code trace.safetensors}, to check single VSR layers against the reference.
 */
public final class VsrGolden {
    public static final Path CASE = TestData.goldenCase("unet_vsr");
    /** The case's atol (10 × its measured fp32-vs-fp64 difference), used for single layers checked against the trace. */
    public static final double ATOL = 3.5e-5;

    private VsrGolden() {}

    /** Loads the weights under {@code prefix} (e.g. {@code "down_temporal_blocks.0."}, or "" for all) into {@code m} strictly. */
    public static <M extends Module> M load(M m, String prefix) {
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"))) {
            m.load(StateDict.of(w.path().toString(), w.asMap()).withoutPrefix(prefix));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        m.eval();
        return m;
    }

    /** The tiny VSR UNet with the golden weights, in eval mode. */
    public static UNet3DVSRModel model() {
        return load(new UNet3DVSRModel(VsrConfig.tiny()), "");
    }

    /** A trace entry ({@code "forward/<module path>"}) as float32; aliases (bitwise repeats of an earlier entry) resolved. */
    public static INDArray trace(String key) {
        try (TensorFile f = SafeTensors.read(CASE.resolve("trace.safetensors"))) {
            String stored = key;
            if (!f.keys().contains(key)) {
                JsonNode aliases = new ObjectMapper().readTree(f.metadata().get("aliases"));
                stored = aliases.path(key).asText(key);
            }
            return f.get(stored).load(DataType.FLOAT).dup();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An input or output of the case ({@code "in.sample"}, {@code "out.sample"}, ...). */
    public static INDArray io(String key) { return read("io.safetensors", key); }

    /** The time embedding plus class embedding the case's forward added (fp32, as the reference). */
    public static INDArray emb() {
        return trace("forward/time_embedding.linear_2").add(trace("forward/class_embedding"));
    }

    private static INDArray read(String file, String key) {
        try (TensorFile f = SafeTensors.read(CASE.resolve(file))) {
            return f.get(key).load(DataType.FLOAT).dup();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
