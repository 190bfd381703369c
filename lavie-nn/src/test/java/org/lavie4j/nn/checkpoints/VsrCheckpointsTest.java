package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Grad;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TorchCheckpoint;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.VsrConfig;
import org.lavie4j.nn.unet.VsrGolden;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.*;

class VsrCheckpointsTest {
    private static final Path CASE = VsrGolden.CASE;

    private static INDArray run(UNet3DVSRModel unet) {
        TestSeeds.seed(71);
        INDArray x = Nd4j.randn(DataType.FLOAT, 1, 4, 2, 8, 8), lowRes = Nd4j.randn(DataType.FLOAT, 1, 3, 2, 8, 8),
                ctx = Nd4j.randn(DataType.FLOAT, 1, 77, 48);
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(981L)), Tensor.of(lowRes), Tensor.of(ctx),
                    Tensor.of(Nd4j.createFromArray(50L))).data().dup();
        }
    }

    @Test void ptWithEmaAndSafetensorsLoadTheSameModel() throws IOException {
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(CASE.resolve("weights.pt"))) {
            assertEquals("ema", ckpt.stateDictKey());
        }
        UNet3DVSRModel pt = VsrCheckpoints.loadVsr(CASE.resolve("weights.pt"), VsrConfig.tiny());
        UNet3DVSRModel st = VsrCheckpoints.loadVsr(CASE.resolve("weights.safetensors"), VsrConfig.tiny());
        assertFalse(pt.isTraining());
        Map<String, Parameter> a = pt.namedEntries(), b = st.namedEntries();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertEquals(b.get(k).data(), a.get(k).data(), k);
        assertEquals(run(st), run(pt));
    }

    @Test void absentFreqsAreComputedAndSomeWithoutTheOthersIsAnError(@TempDir Path dir) throws IOException {
        Path none = rewrite(dir, "none.safetensors", (k, v) -> k.endsWith("rotary_emb.freqs") ? null : v);
        assertTrue(run(VsrCheckpoints.loadVsr(CASE.resolve("weights.safetensors"), VsrConfig.tiny()))
                .equalsWithEps(run(VsrCheckpoints.loadVsr(none, VsrConfig.tiny())), 1e-5));
        Path some = rewrite(dir, "some.safetensors", (k, v) -> k.equals("temporal_rotary_emb.freqs") ? null : v);
        var e = assertThrows(IllegalArgumentException.class, () -> VsrCheckpoints.loadVsr(some, VsrConfig.tiny()));
        assertTrue(e.getMessage().contains("7 of the 8 copies") && e.getMessage().contains("temporal_rotary_emb.freqs"), e.getMessage());
    }

    @Test void aModulePrefixIsStripped(@TempDir Path dir) throws IOException {
        Map<String, INDArray> prefixed = new LinkedHashMap<>();
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"))) {
            for (String k : w.keys()) prefixed.put("module." + k, w.get(k).load());
        }
        Path file = dir.resolve("module.safetensors");
        SafeTensors.write(file, prefixed, null);
        assertEquals(run(VsrCheckpoints.loadVsr(CASE.resolve("weights.safetensors"), VsrConfig.tiny())), run(VsrCheckpoints.loadVsr(file, VsrConfig.tiny())));
    }

    @Test void wrongFilesGiveClearErrors(@TempDir Path dir) {
        var base = assertThrows(LoadReport.CheckpointMismatchException.class,
                () -> VsrCheckpoints.loadVsr(TestData.goldenCase("unet_base").resolve("weights.pt"), VsrConfig.tiny()));
        LoadReport r = base.report();
        assertTrue(r.missing().contains("class_embedding.weight") && r.missing().contains("down_temporal_blocks.0.shift_conv.weight"), r.toString());
        assertTrue(r.unexpected().stream().anyMatch(k -> k.contains("attn_temp.")), r.toString());
        var missing = assertThrows(NoSuchFileException.class, () -> VsrCheckpoints.loadVsr(dir.resolve("lavie_vsr.pt")));
        assertTrue(missing.getMessage().contains("lavie_vsr.pt"));
    }

    /** The golden weights rewritten through {@code edit} (null drops the key) into a safetensors file in {@code dir}. */
    private static Path rewrite(Path dir, String name, BiFunction<String, INDArray, INDArray> edit) throws IOException {
        Map<String, INDArray> out = new LinkedHashMap<>();
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"))) {
            for (String k : w.keys()) {
                INDArray v = edit.apply(k, w.get(k).load());
                if (v != null) out.put(k, v);
            }
        }
        Path file = dir.resolve(name);
        SafeTensors.write(file, out, null);
        return file;
    }
}
