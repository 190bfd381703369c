package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.TestSeeds;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Grad;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Loading tiny diffusers-style folders built from the golden weights: {@code sd/text_encoder}, {@code sd/tokenizer},
 * {@code sd/vae}, as SD v1.4 ships them (model_index.json, configs with metadata keys, the tokenizer's JSON files).
 */
class StableDiffusionPartsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CLIP = TestData.goldenCase("clip_text"), VAE = TestData.goldenCase("vae");

    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    // ------------------------------------------------------------------ a tiny SD 1.4 folder

    /** Writes {@code root} as a diffusers SD folder over the golden tiny weights. */
    static Path sdFolder(Path root) throws IOException {
        Files.createDirectories(root);
        Files.writeString(root.resolve("model_index.json"), """
                {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.2.2",
                 "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                 "vae": ["diffusers", "AutoencoderKL"], "unet": ["diffusers", "UNet2DConditionModel"]}""");
        Path te = Files.createDirectories(root.resolve("text_encoder"));
        ObjectNode clipConfig = (ObjectNode) caseConfig(CLIP);
        clipConfig.put("_name_or_path", "openai/clip-vit-large-patch14").put("architectures", "CLIPTextModel")
                .put("model_type", "clip_text_model").put("torch_dtype", "float32").put("transformers_version", "4.22.0.dev0")
                .put("bos_token_id", 0).put("eos_token_id", 2).put("pad_token_id", 1).put("dropout", 0.0).put("attention_dropout", 0.0);
        writeJson(te.resolve("config.json"), clipConfig);
        Files.copy(CLIP.resolve("weights.safetensors"), te.resolve("model.safetensors"));

        Path tok = Files.createDirectories(root.resolve("tokenizer"));
        Files.copy(TestData.reference().resolve("tokenizer/vocab.json"), tok.resolve("vocab.json"));
        Files.copy(TestData.reference().resolve("tokenizer/merges.txt"), tok.resolve("merges.txt"));
        Files.writeString(tok.resolve("tokenizer_config.json"), """
                {"add_prefix_space": false, "bos_token": {"__type": "AddedToken", "content": "<|startoftext|>", "lstrip": false,
                 "normalized": true, "rstrip": false, "single_word": false}, "do_lower_case": true,
                 "eos_token": {"__type": "AddedToken", "content": "<|endoftext|>", "lstrip": false, "normalized": true,
                 "rstrip": false, "single_word": false}, "errors": "replace", "model_max_length": 77,
                 "name_or_path": "openai/clip-vit-large-patch14", "pad_token": "<|endoftext|>",
                 "special_tokens_map_file": "./special_tokens_map.json", "tokenizer_class": "CLIPTokenizer",
                 "unk_token": {"__type": "AddedToken", "content": "<|endoftext|>", "lstrip": false, "normalized": true,
                 "rstrip": false, "single_word": false}}""");
        Files.writeString(tok.resolve("special_tokens_map.json"), """
                {"bos_token": {"content": "<|startoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
                 "eos_token": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
                 "pad_token": "<|endoftext|>",
                 "unk_token": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false}}""");

        Path vae = Files.createDirectories(root.resolve("vae"));
        ObjectNode vaeConfig = (ObjectNode) caseConfig(VAE);
        vaeConfig.put("_class_name", "AutoencoderKL").put("_diffusers_version", "0.2.2");
        writeJson(vae.resolve("config.json"), vaeConfig);
        Files.copy(VAE.resolve("weights.safetensors"), vae.resolve("diffusion_pytorch_model.safetensors"));
        return root;
    }

    private static JsonNode caseConfig(Path caseDir) throws IOException {
        return JSON.readTree(caseDir.resolve("case.json").toFile()).get("config").deepCopy();
    }

    private static void writeJson(Path file, JsonNode json) throws IOException {
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json));
    }

    private static ObjectNode readJson(Path file) throws IOException {
        return (ObjectNode) JSON.readTree(file.toFile());
    }

    /** Rewrites a weights file: {@code edit} returns the new key and value for each entry, or null to drop it. */
    private static void rewrite(Path from, Path to, BiFunction<String, INDArray, Map.Entry<String, INDArray>> edit) throws IOException {
        Map<String, INDArray> out = new LinkedHashMap<>();
        try (TensorFile f = SafeTensors.read(from)) {
            for (var e : f.asMap().entrySet()) {
                Map.Entry<String, INDArray> kv = edit.apply(e.getKey(), e.getValue().load());
                if (kv != null) out.put(kv.getKey(), kv.getValue());
            }
        }
        SafeTensors.write(to, out, Map.of());
    }

    // ------------------------------------------------------------------ running

    private static Map<String, INDArray> io(Path caseDir) throws IOException {
        Map<String, INDArray> m = new LinkedHashMap<>();
        try (TensorFile f = SafeTensors.read(caseDir.resolve("io.safetensors"))) {
            f.asMap().forEach((k, v) -> m.put(k, v.load().dup()));
        }
        return m;
    }

    private static INDArray text(CLIPTextModel m, INDArray ids) {
        try (Tape off = Grad.disabled()) {
            return m.forward(Tensor.of(ids)).data().dup();
        }
    }

    private static INDArray decode(AutoencoderKL vae, INDArray z) {
        try (Tape off = Grad.disabled()) {
            return vae.decode(Tensor.of(z)).data().dup();
        }
    }

    private static INDArray[] encode(AutoencoderKL vae, INDArray x) {
        try (Tape off = Grad.disabled()) {
            DiagonalGaussian p = vae.encode(Tensor.of(x));
            return new INDArray[]{p.mean().data().dup(), p.logvar().data().dup()};
        }
    }

    /** |ours − ref| ≤ atol + rtol·|ref| everywhere (the golden cases' rule). */
    private static void assertClose(INDArray ref, INDArray ours, double rtol, double atol, String what) {
        assertArrayEquals(ref.shape(), ours.shape(), what);
        INDArray r = ref.castTo(DataType.DOUBLE), o = ours.castTo(DataType.DOUBLE);
        INDArray excess = Transforms.abs(o.sub(r)).sub(Transforms.abs(r).mul(rtol).add(atol));
        assertTrue(excess.maxNumber().doubleValue() <= 0, what + ": max abs diff " + Transforms.abs(o.sub(r)).maxNumber());
    }

    private static void assertGoldenText(CLIPTextModel m) throws IOException {
        Map<String, INDArray> io = io(CLIP);
        assertClose(io.get("out.last_hidden_state"), text(m, io.get("in.input_ids")), 1e-4, 1e-5, "last_hidden_state");
    }

    private static void assertGoldenVae(AutoencoderKL vae) throws IOException {
        Map<String, INDArray> io = io(VAE);
        INDArray[] posterior = encode(vae, io.get("in.image"));
        assertClose(io.get("out.posterior_mean"), posterior[0], 1e-4, 3.3e-5, "posterior mean");
        assertClose(io.get("out.posterior_logvar"), posterior[1], 1e-4, 3.3e-5, "posterior logvar");
        assertClose(io.get("out.decoded"), decode(vae, io.get("in.latent")), 1e-4, 3.3e-5, "decoded");
    }

    // ------------------------------------------------------------------ loading

    @Test void loadsAllThreePartsAndReproducesTheGoldenOutputs(@TempDir Path tmp) throws IOException {
        StableDiffusionParts.Parts parts = StableDiffusionParts.load(sdFolder(tmp.resolve("stable-diffusion-v1-4")));
        assertEquals(CLIPTextConfig.tiny(), parts.textEncoder().config());
        assertEquals(VaeConfig.tiny(), parts.vae().config());
        assertFalse(parts.textEncoder().isTraining());
        assertFalse(parts.vae().isTraining());
        assertGoldenText(parts.textEncoder());
        assertGoldenVae(parts.vae());

        CLIPTokenizer tok = parts.tokenizer();
        assertEquals(49407, tok.padTokenId());
        assertEquals(77, tok.maxLength());
        assertEquals(CLIPTokenizer.sd14().encode("a panda playing a guitar, 4k"), tok.encode("a panda playing a guitar, 4k"));
    }

    @Test void eachPartLoadsOnItsOwnAndTheVaeFromItsOwnFolder(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Files.delete(sd.resolve("model_index.json"));   // not needed, as with from_pretrained(path, subfolder=...)
        assertGoldenText(StableDiffusionParts.textEncoder(sd));
        assertGoldenVae(StableDiffusionParts.vae(sd));
        assertGoldenVae(StableDiffusionParts.vae(sd.resolve("vae")));   // the x4 upscaler's vae/ is passed like this
        assertEquals(49407, StableDiffusionParts.tokenizer(sd).padTokenId());
    }

    @Test void fp16VariantIsTheFallbackAndLoadsAsFloat32(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path vae = sd.resolve("vae");
        try (TensorFile f = SafeTensors.read(vae.resolve("diffusion_pytorch_model.safetensors"))) {
            SafeTensors.write(vae.resolve("diffusion_pytorch_model.fp16.safetensors"), f.asMap(), Map.of(), DType.F16);
        }
        Files.delete(vae.resolve("diffusion_pytorch_model.safetensors"));
        AutoencoderKL half = StableDiffusionParts.vae(sd);
        for (Parameter p : half.namedEntries().values()) assertEquals(DataType.FLOAT, p.dtype());
        Map<String, INDArray> io = io(VAE);
        // fp16 weights: the outputs move by the rounding of the weights only.
        assertClose(io.get("out.decoded"), decode(half, io.get("in.latent")), 1e-2, 1e-2, "decoded from fp16 weights");
    }

    @Test void binWeightsAreReadAndTheirKeysChecked(@TempDir Path tmp) throws IOException {
        // testdata/torch/state_dict.bin is a real torch.save of a 2-layer nn.Sequential: read, then rejected by key.
        Path sd = sdFolder(tmp.resolve("sd"));
        Path te = sd.resolve("text_encoder");
        Files.delete(te.resolve("model.safetensors"));
        Files.copy(TestData.root().resolve("torch/state_dict.bin"), te.resolve("pytorch_model.bin"));
        var e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> StableDiffusionParts.textEncoder(sd));
        String msg = e.getMessage();
        assertTrue(msg.contains(te.resolve("pytorch_model.bin").toString()) && msg.contains(te.resolve("config.json").toString()), msg);
        assertTrue(msg.contains("unexpected keys") && msg.contains("0.weight"), msg);
        assertTrue(msg.contains("missing keys") && msg.contains("text_model.final_layer_norm.weight"), msg);
        assertTrue(e.report().missing().contains("text_model.embeddings.token_embedding.weight"));
    }

    @Test void safetensorsArePreferredOverBin(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Files.copy(TestData.root().resolve("torch/state_dict.bin"), sd.resolve("text_encoder/pytorch_model.bin"));
        assertGoldenText(StableDiffusionParts.textEncoder(sd));
    }

    @Test void missingPositionIdsKeepsTheConstructorsRange(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path w = sd.resolve("text_encoder/model.safetensors");
        rewrite(CLIP.resolve("weights.safetensors"), w, (k, v) -> k.equals(StableDiffusionParts.POSITION_IDS) ? null : Map.entry(k, v));
        try (TensorFile f = SafeTensors.read(w)) {
            assertFalse(f.contains(StableDiffusionParts.POSITION_IDS));
        }
        CLIPTextModel m = StableDiffusionParts.textEncoder(sd);
        Parameter ids = m.namedEntries().get(StableDiffusionParts.POSITION_IDS);
        assertEquals(DataType.LONG, ids.dtype());
        assertEquals(Nd4j.arange(0, 77).castTo(DataType.LONG).reshape(1, 77), ids.data());
        assertGoldenText(m);
    }

    @Test void withDefaultPositionIdsOnlyFillsTheAbsentBuffer() {
        StateDict module = new CLIPTextModel(CLIPTextConfig.tiny()).stateDict();
        StateDict without = new StateDict("file").put("a", Nd4j.zeros(2));
        StateDict filled = StableDiffusionParts.withDefaultPositionIds(without, module);
        assertEquals(List.of("a", StableDiffusionParts.POSITION_IDS), List.copyOf(filled.keys()));
        assertEquals("file", filled.origin());
        assertFalse(without.contains(StableDiffusionParts.POSITION_IDS), "the input is not changed");
        INDArray stored = Nd4j.zeros(DataType.LONG, 1, 77);
        StateDict with = new StateDict("file").put(StableDiffusionParts.POSITION_IDS, stored);
        assertSame(with, StableDiffusionParts.withDefaultPositionIds(with, module), "a stored buffer is loaded (and checked) as is");
    }

    @Test void vaeWithNewStyleAttentionNamesAndConvShapedWeightsLoadsIdentically(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path w = sd.resolve("vae/diffusion_pytorch_model.safetensors");
        Map<String, String> rename = Map.of(".query.", ".to_q.", ".key.", ".to_k.", ".value.", ".to_v.", ".proj_attn.", ".to_out.0.");
        rewrite(VAE.resolve("weights.safetensors"), w, (k, v) -> {
            if (!k.contains("mid_block.attentions.0.")) return Map.entry(k, v);
            for (var r : rename.entrySet()) {
                if (k.contains(r.getKey())) {
                    INDArray value = k.endsWith(".weight") && k.startsWith("decoder.") ? v.reshape(v.size(0), v.size(1), 1, 1) : v;
                    return Map.entry(k.replace(r.getKey(), r.getValue()), value);
                }
            }
            return Map.entry(k, v);   // group_norm
        });
        try (TensorFile f = SafeTensors.read(w)) {
            assertTrue(f.contains("encoder.mid_block.attentions.0.to_out.0.weight"));
            assertArrayEquals(new long[]{64, 64, 1, 1}, f.get("decoder.mid_block.attentions.0.to_q.weight").shape());
            assertFalse(f.keys().stream().anyMatch(k -> k.contains(".query.") || k.contains(".proj_attn.")));
        }
        AutoencoderKL renamed = StableDiffusionParts.vae(sd);
        AutoencoderKL direct = new AutoencoderKL(VaeConfig.tiny());
        try (TensorFile f = SafeTensors.read(VAE.resolve("weights.safetensors"))) {
            direct.load(StateDict.of(f.path().toString(), f.asMap()));
        }
        direct.eval();
        Map<String, Parameter> a = direct.namedEntries(), b = renamed.namedEntries();
        for (String k : a.keySet()) assertEquals(a.get(k).data(), b.get(k).data(), k);
        Map<String, INDArray> io = io(VAE);
        assertEquals(decode(direct, io.get("in.latent")), decode(renamed, io.get("in.latent")));
        assertEquals(encode(direct, io.get("in.image"))[0], encode(renamed, io.get("in.image"))[0]);
    }

    // ------------------------------------------------------------------ bad input

    @Test void missingPartsNameThePartAndTheExpectedPath(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("stable-diffusion-v1-4"));
        deleteTree(sd.resolve("vae"));
        var e = assertThrows(NoSuchFileException.class, () -> StableDiffusionParts.load(sd));
        assertTrue(e.getMessage().contains("missing part 'vae'") && e.getMessage().contains(sd.resolve("vae").toString()), e.getMessage());
        e = assertThrows(NoSuchFileException.class, () -> StableDiffusionParts.vae(sd));
        assertTrue(e.getMessage().contains("missing part 'vae'"), e.getMessage());

        deleteTree(sd.resolve("tokenizer"));
        e = assertThrows(NoSuchFileException.class, () -> StableDiffusionParts.tokenizer(sd));
        assertTrue(e.getMessage().contains("missing part 'tokenizer'") && e.getMessage().contains(sd.resolve("tokenizer").toString()), e.getMessage());

        e = assertThrows(NoSuchFileException.class, () -> StableDiffusionParts.load(tmp.resolve("nowhere")));
        assertTrue(e.getMessage().contains("nowhere") && e.getMessage().contains("no such model folder"), e.getMessage());
    }

    @Test void missingConfigNamesTheExpectedFile(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("stable-diffusion-v1-4"));
        Files.delete(sd.resolve("text_encoder/config.json"));
        var e = assertThrows(NoSuchFileException.class, () -> StableDiffusionParts.textEncoder(sd));
        assertTrue(e.getMessage().contains("expected " + sd.resolve("text_encoder").resolve("config.json")), e.getMessage());
        assertTrue(e.getMessage().contains("stable-diffusion-v1-4/text_encoder/config.json"), e.getMessage());
    }

    @Test void missingWeightsNameTheExpectedFiles(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Files.delete(sd.resolve("vae/diffusion_pytorch_model.safetensors"));
        var e = assertThrows(IOException.class, () -> StableDiffusionParts.vae(sd));
        assertTrue(e.getMessage().contains(sd.resolve("vae/diffusion_pytorch_model.safetensors").toString())
                && e.getMessage().contains(sd.resolve("vae/diffusion_pytorch_model.bin").toString()), e.getMessage());
    }

    @Test void missingTokenizerFileNamesIt(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Files.delete(sd.resolve("tokenizer/merges.txt"));
        var e = assertThrows(IOException.class, () -> StableDiffusionParts.tokenizer(sd));
        assertTrue(e.getMessage().contains(sd.resolve("tokenizer/merges.txt").toString()), e.getMessage());
    }

    @Test void textConfigThatDoesNotMatchTheWeightsListsKeysShapesAndTheConfig(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path config = sd.resolve("text_encoder/config.json");
        writeJson(config, readJson(config).put("intermediate_size", 40));
        var e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> StableDiffusionParts.textEncoder(sd));
        String msg = e.getMessage();
        assertTrue(msg.contains(config.toString()) && msg.contains(sd.resolve("text_encoder/model.safetensors").toString()), msg);
        assertTrue(msg.contains("text_model.encoder.layers.0.mlp.fc1.weight: module expects [40, 32], checkpoint has [37, 32]"), msg);
        assertTrue(msg.contains("text_model.encoder.layers.1.mlp.fc2.weight: module expects [32, 40], checkpoint has [32, 37]"), msg);
        assertEquals(6, e.report().shapeMismatches().size());   // fc1 weight+bias, fc2 weight, in 2 layers
        writeJson(config, readJson(config).put("intermediate_size", 37).put("num_hidden_layers", 3));
        e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> StableDiffusionParts.textEncoder(sd));
        assertTrue(e.report().missing().contains("text_model.encoder.layers.2.self_attn.q_proj.weight"), e.getMessage());
    }

    @Test void vaeConfigThatDoesNotMatchTheWeightsListsKeysShapesAndTheConfig(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path config = sd.resolve("vae/config.json");
        ObjectNode json = readJson(config);
        ((ArrayNode) json.get("block_out_channels")).removeAll().add(32).add(48);
        writeJson(config, json);
        var e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> StableDiffusionParts.vae(sd));
        String msg = e.getMessage();
        assertTrue(msg.contains(config.toString()), msg);
        assertTrue(msg.contains("decoder.mid_block.attentions.0.query.weight: module expects [48, 48], checkpoint has [64, 64]"), msg);
    }

    @Test void invalidConfigsNameTheFile(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path vaeConfig = sd.resolve("vae/config.json");
        writeJson(vaeConfig, readJson(vaeConfig).put("act_fn", "gelu"));
        var bad = assertThrows(IllegalArgumentException.class, () -> StableDiffusionParts.vae(sd));
        assertTrue(bad.getMessage().startsWith(vaeConfig + ": ") && bad.getMessage().contains("act_fn"), bad.getMessage());

        Path clipConfig = sd.resolve("text_encoder/config.json");
        Files.writeString(clipConfig, "{\"hidden_size\": 32,");
        var e = assertThrows(IOException.class, () -> StableDiffusionParts.textEncoder(sd));
        assertTrue(e.getMessage().contains(clipConfig.toString()) && e.getMessage().contains("invalid JSON"), e.getMessage());
    }

    @Test void failedLoadsLeaveTheFolderUntouched(@TempDir Path tmp) throws IOException {
        Path sd = sdFolder(tmp.resolve("sd"));
        Path config = sd.resolve("text_encoder/config.json");
        writeJson(config, readJson(config).put("hidden_size", 36).put("num_attention_heads", 4));
        byte[] weights = Files.readAllBytes(sd.resolve("text_encoder/model.safetensors"));
        String before = Files.readString(config);
        assertThrows(LoadReport.CheckpointMismatchException.class, () -> StableDiffusionParts.textEncoder(sd));
        assertArrayEquals(weights, Files.readAllBytes(sd.resolve("text_encoder/model.safetensors")));
        assertEquals(before, Files.readString(config));
        try (var files = Files.list(sd.resolve("text_encoder"))) {
            assertEquals(2, files.count());
        }
    }

    // ------------------------------------------------------------------ real weights (skipped when absent)

    @Test void realStableDiffusion14LoadsWhenPresent() throws IOException {
        String prop = System.getProperty("lavie4j.sd14");
        Path sd = prop == null ? Path.of("pretrained_models/stable-diffusion-v1-4") : Path.of(prop);
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(sd.resolve("text_encoder")), "no SD 1.4 folder at " + sd);
        StableDiffusionParts.Parts parts = StableDiffusionParts.load(sd);
        assertEquals(CLIPTextConfig.sd14(), parts.textEncoder().config());
        assertEquals(VaeConfig.sd14(), parts.vae().config());
        assertEquals(49407, parts.tokenizer().padTokenId());
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
