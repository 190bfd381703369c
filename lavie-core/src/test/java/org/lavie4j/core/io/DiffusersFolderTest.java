package org.lavie4j.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class DiffusersFolderTest {
    @TempDir Path root;

    @BeforeEach
    void makeFolder() throws IOException {
        Files.writeString(root.resolve("model_index.json"), """
                {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.25.0",
                 "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                 "text_encoder": ["transformers", "CLIPTextModel"], "scheduler": ["diffusers", "DDIMScheduler"],
                 "safety_checker": [null, null], "half": ["diffusers", "UNet2DConditionModel"]}""");
        Path unet = Files.createDirectories(root.resolve("unet"));
        Files.writeString(unet.resolve("config.json"), "{\"in_channels\": 4, \"sample_size\": 64}");
        SafeTensors.write(unet.resolve("diffusion_pytorch_model.safetensors"), Map.of("conv_in.weight", Nd4j.createFromArray(1f, 2f)), Map.of());
        // a lower-preference variant that must not be chosen
        SafeTensors.write(unet.resolve("diffusion_pytorch_model.fp16.safetensors"), Map.of("other", Nd4j.createFromArray(1f)), Map.of());

        Path vae = Files.createDirectories(root.resolve("vae"));
        Files.writeString(vae.resolve("config.json"), "{\"latent_channels\": 4}");
        Files.copy(IoTestData.require("torch/state_dict.bin"), vae.resolve("diffusion_pytorch_model.bin"), StandardCopyOption.REPLACE_EXISTING);

        Path te = Files.createDirectories(root.resolve("text_encoder"));
        Files.writeString(te.resolve("config.json"), "{\"hidden_size\": 32}");
        Map<String, org.nd4j.linalg.api.ndarray.INDArray> s1 = new LinkedHashMap<>();
        s1.put("a", Nd4j.createFromArray(1f));
        s1.put("b", Nd4j.createFromArray(2f));
        SafeTensors.write(te.resolve("model-00001-of-00002.safetensors"), s1, Map.of());
        SafeTensors.write(te.resolve("model-00002-of-00002.safetensors"), Map.of("c", Nd4j.createFromArray(3L)), Map.of());
        Files.writeString(te.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 12}, "weight_map": {"c": "model-00002-of-00002.safetensors",
                 "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}}""");

        Path sched = Files.createDirectories(root.resolve("scheduler"));
        Files.writeString(sched.resolve("scheduler_config.json"), "{\"num_train_timesteps\": 1000}");

        Path half = Files.createDirectories(root.resolve("half"));
        Files.writeString(half.resolve("config.json"), "{}");
        SafeTensors.write(half.resolve("diffusion_pytorch_model.fp16.safetensors"), Map.of("w", Nd4j.createFromArray(1f).castTo(DType.F16.nd4j())), Map.of());
    }

    @Test
    void readsPartsConfigsAndWeights() throws IOException {
        DiffusersFolder f = DiffusersFolder.open(root);
        assertEquals(List.of("unet", "vae", "text_encoder", "scheduler", "half"), f.parts(), "file order, null parts skipped");
        assertEquals("UNet2DConditionModel", f.partClass("unet"));
        assertEquals(4, f.config("unet").get("in_channels").asInt());
        assertEquals(1000, f.config("scheduler").get("num_train_timesteps").asInt());
        try (TensorFile w = f.weights("unet")) {
            assertEquals(List.of("conv_in.weight"), List.copyOf(w.keys()), "the plain file wins over the fp16 variant");
            assertEquals(2f, w.get("conv_in.weight").load().getFloat(1));
        }
        try (TensorFile w = f.weights("vae")) {
            assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias"), List.copyOf(w.keys()));
        }
        try (TensorFile w = f.weights("text_encoder")) {
            assertEquals(List.of("c", "a", "b"), List.copyOf(w.keys()), "weight_map order");
            assertEquals(3L, w.get("c").load().getLong(0));
            assertEquals(2f, w.get("b").load().getFloat(0));
            assertEquals("12", w.metadata().get("total_size"));
        }
        try (TensorFile w = f.weights("half")) {
            assertEquals(DType.F16, w.get("w").dtype(), "fp16 variant used when nothing else exists");
        }
        try (TensorFile direct = TensorFile.open(root.resolve("unet"))) {
            assertTrue(direct.contains("conv_in.weight"));
        }
    }

    @Test
    void missingPiecesNameTheExpectedFiles() throws IOException {
        DiffusersFolder f = DiffusersFolder.open(root);
        IOException e = assertThrows(IOException.class, () -> f.weights("scheduler"));
        assertTrue(e.getMessage().contains(root.resolve("scheduler/diffusion_pytorch_model.safetensors").toString())
                && e.getMessage().contains(root.resolve("scheduler/pytorch_model.bin").toString()), e.getMessage());
        e = assertThrows(IOException.class, () -> f.config("tokenizer"));
        assertTrue(e.getMessage().contains(root.resolve("tokenizer").toString()), e.getMessage());
        Files.delete(root.resolve("vae/config.json"));
        e = assertThrows(IOException.class, () -> f.config("vae"));
        assertTrue(e.getMessage().contains(root.resolve("vae/config.json").toString()), e.getMessage());
        e = assertThrows(IOException.class, () -> TensorFile.open(root));
        assertTrue(e.getMessage().contains("pipeline folder") && e.getMessage().contains("unet"), e.getMessage());
        e = assertThrows(IOException.class, () -> DiffusersFolder.open(root.resolve("unet")));
        assertTrue(e.getMessage().contains(root.resolve("unet/model_index.json").toString()), e.getMessage());

        Files.delete(root.resolve("text_encoder/model-00002-of-00002.safetensors"));
        e = assertThrows(IOException.class, () -> f.weights("text_encoder"));
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors") && e.getMessage().contains("missing shard"), e.getMessage());
    }

    @Test
    void invalidJsonNamesTheFile() throws IOException {
        Files.writeString(root.resolve("unet/config.json"), "{broken");
        IOException e = assertThrows(IOException.class, () -> DiffusersFolder.open(root).config("unet"));
        assertTrue(e.getMessage().contains(root.resolve("unet/config.json").toString()), e.getMessage());
        JsonNode idx = DiffusersFolder.open(root).modelIndex();
        assertEquals("StableDiffusionPipeline", idx.get("_class_name").asText());
    }
}
