package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Loading LaVie's interpolation release layout: {@code lavie_interpolation.pt} beside {@code stable-diffusion-v1-4/}. */
class InterpolationModelTest {

    /**
     * A release folder with tiny parts: the unet_interp golden case's {@code weights.pt} (torch.save of the original's
     * tiny interpolation UNet) as {@code lavie_interpolation.pt}, and a random tiny SD folder (tokenizer, text encoder, VAE,
     * and the 2-D UNet config {@code from_pretrained_2d} rewrites).
     */
    static Path releaseFolder(Path tmp) throws IOException {
        Path parts = tmp.resolve("parts");
        TextToVideoModel.randomTiny(7).save(parts, DType.F32);
        Path root = Files.createDirectories(tmp.resolve("pretrained_models"));
        Path sd = Files.createDirectories(root.resolve("stable-diffusion-v1-4"));
        for (String part : List.of("tokenizer", "text_encoder", "vae")) Files.move(parts.resolve(part), sd.resolve(part));
        Files.copy(TestData.goldenCase("unet_interp").resolve("weights.pt"), root.resolve(InterpolationModel.CHECKPOINT_PT));
        Files.createDirectories(sd.resolve("unet"));
        Files.writeString(sd.resolve("unet/config.json"), sd2dConfig(UNetConfig.tinyInterpolation()));
        return root;
    }

    /** A Stable Diffusion style 2-D UNet config (4 input channels) of the 3-D {@code c}. */
    static String sd2dConfig(UNetConfig c) throws IOException {
        ObjectNode n = c.toJson();
        n.put("_class_name", "UNet2DConditionModel");
        var down = n.putArray("down_block_types");
        c.downBlockTypes().forEach(t -> down.add(t.hasAttention() ? "CrossAttnDownBlock2D" : "DownBlock2D"));
        var up = n.putArray("up_block_types");
        c.upBlockTypes().forEach(t -> up.add(t.hasAttention() ? "CrossAttnUpBlock2D" : "UpBlock2D"));
        n.remove("use_first_frame");
        n.put("in_channels", 4);
        n.put("sample_size", 64);
        return new ObjectMapper().writeValueAsString(n);
    }

    @Test
    void releaseLayoutLoadsTheOriginalsCheckpoint(@TempDir Path tmp) throws IOException {
        Path root = releaseFolder(tmp);
        assertTrue(InterpolationModel.isModelFolder(root));
        InterpolationModel m = InterpolationModel.load(root);
        assertEquals(UNetConfig.tinyInterpolation(), m.unet().config(), "from_pretrained_2d: 3-D blocks, 8 input channels, sparse-causal attn1");
        try (TensorFile reference = TensorFile.open(TestData.goldenCase("unet_interp").resolve("weights.safetensors"))) {
            Map<String, Parameter> loaded = m.unet().namedEntries();
            assertEquals(reference.asMap().keySet(), loaded.keySet());
            for (var e : reference.asMap().entrySet())
                assertEquals(e.getValue().load().castTo(DataType.FLOAT), loaded.get(e.getKey()).data().castTo(DataType.FLOAT), e.getKey());
        }
        INDArray x = m.pipeline().interpolateLatents(Nd4j.rand(DataType.FLOAT, 1, 4, 16, 4, 4),
                InterpolateOptions.builder().prompt("a_cat").steps(2).outputType(OutputType.LATENTS).build()).latents();
        assertArrayEquals(new long[]{1, 4, 61, 4, 4}, x.shape());
        assertFalse(x.isNaN().any() || x.isInfinite().any());
        assertEquals(m.unet().config(), InterpolationModel.load(root.resolve(InterpolationModel.CHECKPOINT_PT)).unet().config(),
                "the checkpoint file names its folder");
    }

    @Test
    void realSdConfigBecomesLaViesInterpolationConfig() throws IOException {
        var sd14 = new ObjectMapper().readTree(sd2dConfig(UNetConfig.lavieInterpolation()));
        assertEquals(UNetConfig.lavieInterpolation(), InterpolationModel.interpolationConfig(sd14));
    }

    @Test
    void whatIsMissingIsNamed(@TempDir Path tmp) throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> InterpolationModel.load(empty));
        assertTrue(e.getMessage().contains("lavie_interpolation.pt") && e.getMessage().contains("stable-diffusion-v1-4"), e.getMessage());
        assertFalse(InterpolationModel.isModelFolder(empty));
        assertThrows(NoSuchFileException.class, () -> InterpolationModel.load(tmp.resolve("nowhere")));

        Path root = releaseFolder(tmp);
        Path sd = root.resolve("stable-diffusion-v1-4");
        Files.move(sd.resolve("vae"), tmp.resolve("vae"));
        e = assertThrows(NoSuchFileException.class, () -> InterpolationModel.load(root));
        assertTrue(e.getMessage().contains("vae") && e.getMessage().contains(sd.toString()), e.getMessage());
        Files.move(sd, tmp.resolve("sd-elsewhere"));
        e = assertThrows(NoSuchFileException.class, () -> InterpolationModel.load(root));
        assertTrue(e.getMessage().contains("stable-diffusion-v1-4"), e.getMessage());
    }

    @Test
    void aBaseCheckpointIsNotAnInterpolationOne(@TempDir Path tmp) throws IOException {
        Path root = releaseFolder(tmp);
        Files.copy(TestData.goldenCase("unet_base").resolve("weights.pt"), root.resolve(InterpolationModel.CHECKPOINT_PT),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        LoadReport.CheckpointMismatchException e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> InterpolationModel.load(root));
        assertTrue(e.getMessage().contains("lavie_interpolation.pt"), e.getMessage());
    }
}
