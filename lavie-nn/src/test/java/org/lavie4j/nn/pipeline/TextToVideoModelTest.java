package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.schedulers.DDIMScheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Saving and loading whole text-to-video models in both folder layouts, and sampling from a text prompt. */
class TextToVideoModelTest {
    private static TextToVideoModel model;

    @BeforeAll
    static void build() { model = TextToVideoModel.randomTiny(7); }

    private static GenerateOptions.Builder small(String prompt) {
        return GenerateOptions.builder().prompt(prompt).frames(2).size(16, 16).steps(3).guidanceScale(7.5).seed(11)
                .outputType(OutputType.LATENTS);
    }

    private static void assertSameParameters(org.lavie4j.core.Module a, org.lavie4j.core.Module b, double tol) {
        Map<String, Parameter> pa = a.namedEntries(), pb = b.namedEntries();
        assertEquals(pa.keySet(), pb.keySet());
        for (String k : pa.keySet()) {
            INDArray x = pa.get(k).data().castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
            INDArray y = pb.get(k).data().castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
            double err = x.sub(y).amaxNumber().doubleValue();
            assertTrue(err <= tol * Math.max(1, x.amaxNumber().doubleValue()), k + ": max difference " + err);
        }
    }

    @Test
    void configsRoundTripThroughJson() {
        for (UNetConfig c : List.of(UNetConfig.tiny(), UNetConfig.lavieBase())) assertEquals(c, UNetConfig.fromJson(c.toJson()).config());
        for (VaeConfig c : List.of(VaeConfig.tiny(), VaeConfig.sd14(), VaeConfig.x4Upscaler())) assertEquals(c, VaeConfig.fromJson(c.toJson()).config());
        for (CLIPTextConfig c : List.of(CLIPTextConfig.tiny(), CLIPTextConfig.sd14())) assertEquals(c, CLIPTextConfig.fromJson(c.toJson()).config());
        for (SchedulerKind k : SchedulerKind.values()) {
            SchedulerConfig c = SchedulerConfig.lavieBase(k);
            assertEquals(c, SchedulerConfig.fromJson(c.toJson().toString()), k.toString());
        }
        ModelInfo info = model.info();
        assertEquals(info, ModelInfo.fromJson(info.toJson()));
    }

    @Test
    void savedFolderLoadsToTheSameModelAndSamples(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("tiny");
        model.save(dir, DType.F32);
        try (Stream<Path> s = Files.list(tmp)) { assertEquals(List.of(dir), s.toList(), "no temporary folder left"); }
        try (Stream<Path> s = Files.walk(dir)) {
            assertEquals(new java.util.TreeSet<>(TextToVideoModel.FILES), s.filter(Files::isRegularFile)
                    .map(p -> dir.relativize(p).toString().replace('\\', '/')).collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new)));
        }
        assertTrue(TextToVideoModel.isModelFolder(dir));
        if (Files.getFileStore(dir).supportsFileAttributeView("posix")) {   // ordinary permissions, not a temp file's owner-only ones
            assertTrue(Files.getPosixFilePermissions(dir).contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ));
            assertTrue(Files.getPosixFilePermissions(dir.resolve("unet/diffusion_pytorch_model.safetensors"))
                    .contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ));
        }
        TextToVideoModel back = TextToVideoModel.load(dir);
        assertEquals(model.info(), back.info());
        assertFalse(back.info().trained());
        assertEquals(model.unet().config(), back.unet().config());
        assertEquals(model.schedulerConfig(), back.schedulerConfig());
        assertSameParameters(model.unet(), back.unet(), 0);
        assertSameParameters(model.vae(), back.vae(), 0);
        assertSameParameters(model.textEncoder(), back.textEncoder(), 0);

        // the same prompt, seed and sampler give the same latents from both copies
        INDArray a = model.pipeline().generate(small("a red circle moving left").build()).latents();
        INDArray b = back.pipeline().generate(small("a red circle moving left").build()).latents();
        assertEquals(a, b);
        INDArray other = back.pipeline().generate(small("a blue square moving up").build()).latents();
        assertNotEquals(a, other, "the prompt must change the result");
    }

    @Test
    void framePositionTablesAddedToATrainedModelChangeNothingUntilTrained(@TempDir Path tmp) throws IOException {
        TextToVideoModel grown = model.withFramePositionEmbeddings(8);
        assertEquals(8, grown.unet().config().framePositionEmbeddings());
        assertSame(model.vae(), grown.vae());
        assertSame(grown, grown.withFramePositionEmbeddings(8));
        var e = assertThrows(IllegalArgumentException.class, () -> grown.withFramePositionEmbeddings(16));
        assertTrue(e.getMessage().contains("8 frames"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> model.withFramePositionEmbeddings(0));
        Map<String, Parameter> old = model.unet().namedEntries(), now = grown.unet().namedEntries();
        for (var en : now.entrySet()) {
            if (en.getKey().endsWith("frame_position_embedding")) {
                assertEquals(0.0, en.getValue().data().amaxNumber().doubleValue(), 0.0, en.getKey());
                continue;
            }
            assertArrayEquals(old.get(en.getKey()).data().data().asFloat(), en.getValue().data().data().asFloat(), 0f, en.getKey());
        }
        INDArray a = model.pipeline().generate(small("a red circle moving left").build()).latents();
        INDArray b = grown.pipeline().generate(small("a red circle moving left").build()).latents();
        assertEquals(a, b, "zero tables: the same samples");

        // trained tables change the samples and survive a save and load (config and weights)
        String block = "down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.";
        var out = now.get(block + "to_out.0.weight");                          // a fresh temporal branch outputs only its bias
        out.set(org.lavie4j.core.GradAssert.rand(42, out.shape()).muli(0.2).castTo(out.dtype()));
        INDArray before = grown.pipeline().generate(small("a red circle moving left").build()).latents();
        var table = now.get(block + "frame_position_embedding");
        table.set(org.lavie4j.core.GradAssert.rand(41, table.shape()).castTo(table.dtype()));
        assertNotEquals(before, grown.pipeline().generate(small("a red circle moving left").build()).latents());
        var tooLong = assertThrows(IllegalArgumentException.class, () -> grown.pipeline().generate(small("a red circle").frames(9).build()));
        assertTrue(tooLong.getMessage().contains("frames 9") && tooLong.getMessage().contains("8 frames"), tooLong.getMessage());
        Path dir = tmp.resolve("tabled");
        grown.save(dir, DType.F16);
        TextToVideoModel back = TextToVideoModel.load(dir);
        assertEquals(grown.unet().config(), back.unet().config());
        assertSameParameters(grown.unet(), back.unet(), 1e-3);
        // half-stored weights stay half-stored
        TextToVideoModel halfGrown = TextToVideoModel.randomTiny(7);
        halfGrown.unet().setTrainable(false);
        halfGrown.unet().storeWeightsAs(org.nd4j.linalg.api.buffer.DataType.HALF);
        TextToVideoModel hg = halfGrown.withFramePositionEmbeddings(4);
        assertTrue(hg.unet().namedEntries().get("conv_in.weight").isHalfStored());
        assertTrue(hg.unet().namedEntries().get("down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.frame_position_embedding").isHalfStored());
    }

    @Test
    void halfPrecisionFolderIsSmallerAndLoads(@TempDir Path tmp) throws IOException {
        model.save(tmp.resolve("f32"), DType.F32);
        model.save(tmp.resolve("f16"), DType.F16);
        long f32 = Files.size(tmp.resolve("f32/unet/diffusion_pytorch_model.safetensors"));
        long f16 = Files.size(tmp.resolve("f16/unet/diffusion_pytorch_model.safetensors"));
        assertTrue(f16 < 0.6 * f32, f16 + " vs " + f32);
        TextToVideoModel back = TextToVideoModel.load(tmp.resolve("f16"));
        assertSameParameters(model.unet(), back.unet(), 1e-3);
    }

    @Test
    void saveNeverOverwrites(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("taken"));
        Files.writeString(dir.resolve("keep.txt"), "mine");
        assertThrows(FileAlreadyExistsException.class, () -> model.save(dir, DType.F32));
        assertEquals("mine", Files.readString(dir.resolve("keep.txt")));
        try (Stream<Path> s = Files.list(tmp)) { assertEquals(1, s.count()); }
    }

    @Test
    void perCallSchedulerMatchesAPipelineBuiltWithIt() {
        TextToVideoPipeline ddpmDefault = new TextToVideoPipeline(model.tokenizer(), model.textEncoder(), model.unet(), model.vae(),
                model.schedulerConfig().withKind(SchedulerKind.DDPM));
        TextToVideoPipeline ddim = new TextToVideoPipeline(model.tokenizer(), model.textEncoder(), model.unet(), model.vae(),
                new DDIMScheduler(model.schedulerConfig().withKind(SchedulerKind.DDIM)));
        INDArray chosen = ddpmDefault.generate(small("a green triangle").scheduler(SchedulerKind.DDIM).build()).latents();
        assertEquals(ddim.generate(small("a green triangle").build()).latents(), chosen);
        assertEquals(SchedulerKind.DDPM, ddpmDefault.scheduler().config().kind(), "the pipeline's own sampler is unchanged");
        INDArray ddpm = ddpmDefault.generate(small("a green triangle").build()).latents();
        assertNotEquals(chosen, ddpm);
        for (SchedulerKind k : SchedulerKind.values()) {
            INDArray x = ddpmDefault.generate(small("a green triangle").scheduler(k).build()).latents();
            assertFalse(x.isNaN().any() || x.isInfinite().any(), k + " produced non-finite latents");
        }
    }

    @Test
    void textPromptToDecodedFrames() {
        GenerateResult r = model.pipeline().generate(small("a yellow square moving right").outputType(OutputType.FRAMES).build());
        assertArrayEquals(new long[]{1, 3, 2, 16, 16}, r.video().shape());
        assertArrayEquals(new long[]{1, 2, 16, 16, 3}, r.videoUint8().shape());
    }

    @Test
    void releaseLayoutLoadsWithLaViesDefaults(@TempDir Path tmp) throws IOException {
        // pretrained_models/: lavie_base.safetensors + stable-diffusion-v1-4/{unet/config.json (2-D), tokenizer, text_encoder, vae}
        Path parts = tmp.resolve("parts");
        model.save(parts, DType.F32);
        Path root = Files.createDirectories(tmp.resolve("pretrained_models"));
        Path sd = Files.createDirectories(root.resolve("stable-diffusion-v1-4"));
        for (String part : List.of("tokenizer", "text_encoder", "vae")) Files.move(parts.resolve(part), sd.resolve(part));
        Files.move(parts.resolve("unet/diffusion_pytorch_model.safetensors"), root.resolve("lavie_base.safetensors"));
        Files.createDirectories(sd.resolve("unet"));
        Files.writeString(sd.resolve("unet/config.json"), sd2dConfig(model.unet().config()));

        TextToVideoModel back = TextToVideoModel.load(root);
        assertEquals(ModelInfo.lavieBase(), back.info());
        assertEquals(SchedulerConfig.lavieBase(SchedulerKind.DDPM), back.schedulerConfig());
        assertEquals(model.unet().config(), back.unet().config());
        assertSameParameters(model.unet(), back.unet(), 0);
        assertEquals(back.info(), TextToVideoModel.load(root.resolve("lavie_base.safetensors")).info(), "the checkpoint file names its folder");

        // what is missing is named, with where it is expected
        Files.move(sd.resolve("text_encoder"), tmp.resolve("te"));
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> TextToVideoModel.load(root));
        assertTrue(e.getMessage().contains("text_encoder") && e.getMessage().contains(sd.toString()), e.getMessage());
        Files.move(sd, tmp.resolve("sd-elsewhere"));
        e = assertThrows(NoSuchFileException.class, () -> TextToVideoModel.load(root));
        assertTrue(e.getMessage().contains("stable-diffusion-v1-4"), e.getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(NoSuchFileException.class, () -> TextToVideoModel.load(empty));
        assertTrue(e.getMessage().contains("lavie_base.pt") && e.getMessage().contains("lavie4j.json"), e.getMessage());
        assertThrows(NoSuchFileException.class, () -> TextToVideoModel.load(tmp.resolve("nowhere")));
    }

    @Test
    void releaseLayoutReadsATorchZipCheckpoint(@TempDir Path tmp) throws IOException {
        // the unet_base golden case's weights.pt, written by torch.save from the original UNet (tiny config), as lavie_base.pt
        Path parts = tmp.resolve("parts");
        model.save(parts, DType.F32);
        Path root = Files.createDirectories(tmp.resolve("pretrained_models"));
        Path sd = Files.createDirectories(root.resolve("stable-diffusion-v1-4"));
        for (String part : List.of("tokenizer", "text_encoder", "vae")) Files.move(parts.resolve(part), sd.resolve(part));
        Files.copy(TestData.goldenCase("unet_base").resolve("weights.pt"), root.resolve("lavie_base.pt"));
        Files.createDirectories(sd.resolve("unet"));
        Files.writeString(sd.resolve("unet/config.json"), sd2dConfig(UNetConfig.tiny()));

        TextToVideoModel back = TextToVideoModel.load(root);
        assertEquals(UNetConfig.tiny(), back.unet().config());
        try (TensorFile reference = TensorFile.open(TestData.goldenCase("unet_base").resolve("weights.safetensors"))) {
            Map<String, Parameter> loaded = back.unet().namedEntries();
            for (var e : reference.asMap().entrySet()) {
                INDArray want = e.getValue().load().castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT);
                assertEquals(want, loaded.get(e.getKey()).data().castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT), e.getKey());
            }
        }
        INDArray x = back.pipeline().generate(small("a cat").build()).latents();
        assertFalse(x.isNaN().any() || x.isInfinite().any());
    }

    @Test
    void brokenLavie4jFolderNamesTheFile(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("m");
        model.save(dir, DType.F32);
        Files.writeString(dir.resolve("lavie4j.json"), "{\"name\": \"x\"}");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> TextToVideoModel.load(dir));
        assertTrue(bad.getMessage().contains("lavie4j.json") && bad.getMessage().contains("missing key"), bad.getMessage());
        Files.writeString(dir.resolve("lavie4j.json"), model.info().toJson().toString());
        Files.delete(dir.resolve("scheduler/scheduler_config.json"));
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> TextToVideoModel.load(dir));
        assertTrue(e.getMessage().contains("scheduler_config.json"), e.getMessage());
    }

    /** A Stable Diffusion style 2-D UNet config of the 3-D {@code c} (what {@code from_pretrained_2d} inflates). */
    private static String sd2dConfig(UNetConfig c) throws IOException {
        ObjectNode n = c.toJson();
        n.put("_class_name", "UNet2DConditionModel");
        var down = n.putArray("down_block_types");
        c.downBlockTypes().forEach(t -> down.add(t.hasAttention() ? "CrossAttnDownBlock2D" : "DownBlock2D"));
        var up = n.putArray("up_block_types");
        c.upBlockTypes().forEach(t -> up.add(t.hasAttention() ? "CrossAttnUpBlock2D" : "UpBlock2D"));
        n.remove("use_first_frame");
        n.put("sample_size", 64);
        return new ObjectMapper().writeValueAsString(n);
    }

    @Test
    void aSeedGivesTheSameRandomModel() {
        // Nd4j.getRandom().setSeed did not repeat ND4J's draws from one model to the next (Init's javadoc); Init.seed does
        TextToVideoModel a = TextToVideoModel.randomTiny(11), b = TextToVideoModel.randomTiny(11), c = TextToVideoModel.randomTiny(12);
        var pa = a.unet().namedParameters();
        var pb = b.unet().namedParameters();
        var pc = c.unet().namedParameters();
        int differ = 0;
        for (var e : pa.entrySet()) {
            assertEquals(e.getValue().data(), pb.get(e.getKey()).data(), e.getKey());
            if (!e.getValue().data().equals(pc.get(e.getKey()).data())) differ++;
        }
        assertTrue(differ > pa.size() / 2, "another seed changes the random weights (" + differ + " of " + pa.size() + ")");
        assertEquals(a.textEncoder().namedParameters().get("text_model.embeddings.token_embedding.weight").data(),
                b.textEncoder().namedParameters().get("text_model.embeddings.token_embedding.weight").data());
    }
}
