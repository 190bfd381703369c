package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie init-model}: the tiny random model, a UNet of another shape over kept parts, and bad input. */
class InitModelCommandTest extends CliTestBase {
    private static final String WIDER_UNET = """
            {"_class_name": "UNet3DConditionModel", "in_channels": 4, "out_channels": 4, "block_out_channels": [32, 64],
             "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D"],
             "up_block_types": ["CrossAttnUpBlock3D", "CrossAttnUpBlock3D"], "layers_per_block": 1,
             "cross_attention_dim": 32, "attention_head_dim": [1, 2], "norm_num_groups": 8}
            """;

    @Test
    void writesTheTinyRandomModelRepeatably(@TempDir Path tmp) throws Exception {
        assertEquals(0, run("init-model", tmp.resolve("a").toString(), "--seed", "3"), err.toString());
        assertTrue(out.toString().contains("lavie-tiny-random"), out.toString());
        assertEquals(0, run("init-model", tmp.resolve("b").toString(), "--seed", "3"), err.toString());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/unet/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(tmp.resolve("b/unet/diffusion_pytorch_model.safetensors")));
        assertEquals(2, run("init-model", tmp.resolve("a").toString()));
        assertTrue(err.toString().contains("already exists"), err.toString());
    }

    @Test
    void aNewUNetOverKeptParts(@TempDir Path tmp) throws Exception {
        Path base = tmp.resolve("base");
        assertEquals(0, run("init-model", base.toString(), "--seed", "1"), err.toString());
        Path config = tmp.resolve("unet.json");
        Files.writeString(config, WIDER_UNET);
        Path out = tmp.resolve("wider");
        assertEquals(0, run("init-model", out.toString(), "--from", base.toString(), "--unet-config", config.toString(),
                "--seed", "5"), err.toString());

        TextToVideoModel from = TextToVideoModel.load(base), made = TextToVideoModel.load(out);
        UNetConfig c = made.unet().config();
        assertEquals(List.of(1, 2), c.attentionHeadDim());
        assertEquals(2, c.downBlockTypes().stream().filter(t -> t == UNetConfig.DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D).count());
        assertFalse(made.info().trained());
        // the text encoder and the VAE are kept bit for bit, the UNet is new
        assertArrayEquals(Files.readAllBytes(base.resolve("vae/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(out.resolve("vae/diffusion_pytorch_model.safetensors")));
        INDArray a = from.textEncoder().parameters().get(0).data(), b = made.textEncoder().parameters().get(0).data();
        assertEquals(a, b);
        assertTrue(made.unet().parameterCount() > from.unet().parameterCount(), "cross-attention at both levels adds parameters");
    }

    @Test
    void badUNetConfigsAreNamed(@TempDir Path tmp) throws Exception {
        Path base = tmp.resolve("base");
        assertEquals(0, run("init-model", base.toString()), err.toString());
        Path wrongWidth = tmp.resolve("wrong.json");
        Files.writeString(wrongWidth, WIDER_UNET.replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 48"));
        assertEquals(2, run("init-model", tmp.resolve("x").toString(), "--from", base.toString(), "--unet-config", wrongWidth.toString()));
        assertTrue(err.toString().contains("wrong.json") && err.toString().contains("cross_attention_dim"), err.toString());
        assertFalse(Files.exists(tmp.resolve("x")), "nothing written");

        Path narrowHeads = tmp.resolve("narrow.json");
        Files.writeString(narrowHeads, WIDER_UNET.replace("[1, 2]", "[4, 8]"));
        assertEquals(2, run("init-model", tmp.resolve("w").toString(), "--from", base.toString(), "--unet-config", narrowHeads.toString()));
        assertTrue(err.toString().contains("narrow.json") && err.toString().contains("rotary dim 32 exceeds the head size 8"), err.toString());

        Path broken = tmp.resolve("broken.json");
        Files.writeString(broken, "{\"block_out_channels\": [32, ");
        assertEquals(2, run("init-model", tmp.resolve("y").toString(), "--unet-config", broken.toString()));
        assertTrue(err.toString().contains("broken.json"), err.toString());

        assertEquals(2, run("init-model", tmp.resolve("z").toString(), "--from", tmp.resolve("missing").toString()));
        assertTrue(err.toString().contains("missing"), err.toString());
        assertFalse(Files.exists(tmp.resolve("w")) || Files.exists(tmp.resolve("y")) || Files.exists(tmp.resolve("z")), "nothing written");
    }
}
