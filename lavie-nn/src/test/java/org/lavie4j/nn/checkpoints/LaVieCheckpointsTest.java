package org.lavie4j.nn.checkpoints;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.nn.checkpoints.InflationTest.rand;
import static org.lavie4j.nn.checkpoints.InflationTest.run;

class LaVieCheckpointsTest {
    private static final Path CASE = TestData.goldenCase("unet_base");
    private static final INDArray X = rand(31, 1, 4, 3, 8, 8), CTX = rand(32, 1, 77, 32);

    @Test void ptWithEmaAndSafetensorsLoadTheSameModel() throws IOException {
        UNet3DConditionModel pt = LaVieCheckpoints.loadBase(CASE.resolve("weights.pt"), UNetConfig.tiny());
        UNet3DConditionModel st = LaVieCheckpoints.loadBase(CASE.resolve("weights.safetensors"), UNetConfig.tiny());
        assertFalse(pt.isTraining());
        Map<String, Parameter> a = pt.namedEntries(), b = st.namedEntries();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertEquals(b.get(k).data(), a.get(k).data(), k);
        assertEquals(run(st, X, CTX), run(pt, X, CTX));
    }

    @Test void absentFreqsAreComputedAndGiveTheSameOutput(@TempDir Path dir) throws IOException {
        Path file = rewrite(dir, (k, v) -> k.endsWith(LaVieCheckpoints.FREQS) ? null : v);
        UNet3DConditionModel computed = LaVieCheckpoints.loadBase(file, UNetConfig.tiny());
        UNet3DConditionModel stored = LaVieCheckpoints.loadBase(CASE.resolve("weights.safetensors"), UNetConfig.tiny());
        String key = "mid_block.attentions.0.transformer_blocks.0.attn_temp.rotary_emb.freqs";
        INDArray fc = computed.namedEntries().get(key).data(), fs = stored.namedEntries().get(key).data();
        assertTrue(fc.equalsWithEps(fs, 1e-6), fc + " vs " + fs);
        assertTrue(run(stored, X, CTX).equalsWithEps(run(computed, X, CTX), 1e-5));
    }

    @Test void someFreqsWithoutTheOthersIsAnError(@TempDir Path dir) throws IOException {
        String dropped = "up_blocks.1.attentions.0.transformer_blocks.0.attn_temp.rotary_emb.freqs";
        Path file = rewrite(dir, (k, v) -> k.equals(dropped) ? null : v);
        var e = assertThrows(IllegalArgumentException.class, () -> LaVieCheckpoints.loadBase(file, UNetConfig.tiny()));
        assertTrue(e.getMessage().contains("3 of the 4 copies") && e.getMessage().contains(dropped), e.getMessage());
    }

    @Test void disagreeingFreqsCopiesAreReported(@TempDir Path dir) throws IOException {
        String changed = "up_blocks.1.attentions.0.transformer_blocks.0.attn_temp.rotary_emb.freqs";
        Path file = rewrite(dir, (k, v) -> k.equals(changed) ? v.mul(2) : v);
        var e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> LaVieCheckpoints.loadBase(file, UNetConfig.tiny()));
        assertEquals(1, e.report().aliasConflicts().size());
        assertEquals(changed, e.report().aliasConflicts().get(0).key());
    }

    @Test void aModulePrefixIsStripped(@TempDir Path dir) throws IOException {
        Map<String, INDArray> prefixed = new LinkedHashMap<>();
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"))) {
            for (String k : w.keys()) prefixed.put("module." + k, w.get(k).load());
        }
        Path file = dir.resolve("module.safetensors");
        SafeTensors.write(file, prefixed, null);
        UNet3DConditionModel m = LaVieCheckpoints.loadBase(file, UNetConfig.tiny());
        assertEquals(run(LaVieCheckpoints.loadBase(CASE.resolve("weights.safetensors"), UNetConfig.tiny()), X, CTX), run(m, X, CTX));
    }

    @Test void anotherModelsCheckpointIsRejectedNamingTheKeys() {
        // the interpolation UNet: 8 input channels, temporal attention without RoPE or position bias
        var interp = assertThrows(LoadReport.CheckpointMismatchException.class,
                () -> LaVieCheckpoints.loadBase(TestData.goldenCase("unet_interp").resolve("weights.safetensors"), UNetConfig.tiny()));
        LoadReport r = interp.report();
        assertTrue(r.shapeMismatches().stream().anyMatch(s -> s.key().equals("conv_in.weight")), r.toString());
        assertTrue(r.missing().contains("down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.time_rel_pos_bias.relative_attention_bias.weight"), r.toString());
        assertTrue(interp.getMessage().contains("unet_interp") && interp.getMessage().contains("conv_in.weight"), interp.getMessage());

        // a VAE: nothing fits
        var vae = assertThrows(LoadReport.CheckpointMismatchException.class,
                () -> LaVieCheckpoints.loadBase(TestData.goldenCase("vae").resolve("weights.safetensors"), UNetConfig.tiny()));
        assertTrue(vae.report().unexpected().stream().allMatch(k -> k.startsWith("encoder.") || k.startsWith("decoder.")
                || k.contains("quant_conv")), vae.report().toString());
        assertTrue(vae.report().missing().contains("conv_in.weight"));
        assertEquals(0, vae.report().loadedCount());
    }

    @Test void missingFilesAndNonCheckpointsGiveClearErrors(@TempDir Path dir) throws IOException {
        var missing = assertThrows(NoSuchFileException.class, () -> LaVieCheckpoints.loadBase(dir.resolve("lavie_base.pt"), UNetConfig.tiny()));
        assertTrue(missing.getMessage().contains("lavie_base.pt"));

        Path text = dir.resolve("notes.pt");
        Files.writeString(text, "these are not weights\n");
        var notCkpt = assertThrows(IOException.class, () -> LaVieCheckpoints.loadBase(text, UNetConfig.tiny()));
        assertTrue(notCkpt.getMessage().contains(text.toString()), notCkpt.getMessage());
        assertEquals("these are not weights\n", Files.readString(text), "the file is untouched");
    }

    @Test void stripModulePrefixOnlyWhenEveryKeyHasIt() {
        var sd = new org.lavie4j.core.StateDict("x");
        sd.put("module.a", org.nd4j.linalg.factory.Nd4j.zeros(1));
        sd.put("b", org.nd4j.linalg.factory.Nd4j.zeros(1));
        assertSame(sd, LaVieCheckpoints.stripModulePrefix(sd));
        var all = new org.lavie4j.core.StateDict("y").put("module.a", org.nd4j.linalg.factory.Nd4j.zeros(1));
        assertEquals(List.of("a"), List.copyOf(LaVieCheckpoints.stripModulePrefix(all).keys()));
    }

    /** The golden weights rewritten through {@code edit} (null drops the key) into a safetensors file in {@code dir}. */
    private static Path rewrite(Path dir, BiFunction<String, INDArray, INDArray> edit) throws IOException {
        Map<String, INDArray> out = new LinkedHashMap<>();
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"))) {
            for (String k : w.keys()) {
                INDArray v = edit.apply(k, w.get(k).load());
                if (v != null) out.put(k, v);
            }
        }
        Path file = dir.resolve("edited.safetensors");
        SafeTensors.write(file, out, null);
        return file;
    }
}
