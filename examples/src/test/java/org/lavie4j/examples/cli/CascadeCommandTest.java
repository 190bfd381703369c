package org.lavie4j.examples.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.SuperResolutionModel;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.unet.UNetConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie cascade}: base only on the embedded model, all three stages on a tiny release folder, and bad inputs. */
class CascadeCommandTest extends CliTestBase {
    @TempDir
    static Path shared;
    private static Path model;

    /**
     * A tiny pretrained_models/: a random tiny base model (a lavie4j model folder's files at the top), the unet_interp
     * golden case's weights.pt as lavie_interpolation.pt with a tiny stable-diffusion-v1-4/ (the base model's tokenizer,
     * text encoder and VAE, and a 2-D UNet config), and a random tiny VSR release (lavie_vsr.safetensors,
     * stable-diffusion-x4-upscaler/).
     */
    @BeforeAll
    static void releaseFolder() throws IOException {
        model = shared.resolve("pretrained_models");
        SuperResolutionModel.randomTiny(11).save(model, DType.F32);
        Path parts = shared.resolve("parts");
        TextToVideoModel.randomTiny(7).save(parts, DType.F32);
        Path sd = Files.createDirectories(model.resolve("stable-diffusion-v1-4"));
        for (String part : List.of("tokenizer", "text_encoder", "vae")) copyTree(parts.resolve(part), sd.resolve(part));
        try (Stream<Path> s = Files.list(parts)) {
            for (Path p : s.toList()) Files.move(p, model.resolve(p.getFileName()));
        }
        Files.copy(TestData.goldenCase("unet_interp").resolve("weights.pt"), model.resolve("lavie_interpolation.pt"));
        Files.createDirectories(sd.resolve("unet"));
        UNetConfig c = UNetConfig.tinyInterpolation();
        ObjectNode n = c.toJson();
        n.put("_class_name", "UNet2DConditionModel");
        var down = n.putArray("down_block_types");
        c.downBlockTypes().forEach(t -> down.add(t.hasAttention() ? "CrossAttnDownBlock2D" : "DownBlock2D"));
        var up = n.putArray("up_block_types");
        c.upBlockTypes().forEach(t -> up.add(t.hasAttention() ? "CrossAttnUpBlock2D" : "UpBlock2D"));
        n.remove("use_first_frame");
        n.put("in_channels", 4);
        Files.writeString(sd.resolve("unet/config.json"), new ObjectMapper().writeValueAsString(n));
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
    }

    /** {@code lavie cascade PROMPT --out OUT MORE...} plus defaults for the options MORE does not set. */
    private int cascade(String prompt, Path outFile, String... more) {
        List<String> given = List.of(more);
        List<String> args = new ArrayList<>(List.of("cascade", prompt, "--out", outFile.toString()));
        for (String[] d : new String[][]{{"--steps", "2"}, {"--seed", "5"}, {"--interp-steps", "2"}, {"--vsr-steps", "1"}})
            if (!given.contains(d[0])) args.addAll(List.of(d));
        args.addAll(given);
        return run(args.toArray(String[]::new));
    }

    @Test
    void baseOnlyRunsOnTheEmbeddedModelWithoutModel(@TempDir Path tmp) throws Exception {
        Path gif = tmp.resolve("fox.gif");
        assertEquals(0, cascade("a red circle moving left", gif, "--stages", "base", "--frames", "2"), err.toString());
        Video v = VideoIO.read(gif);
        ModelInfo info = EmbeddedModel.load().info();
        assertEquals(2, v.frames());
        assertEquals(info.height(), v.height());
        assertEquals(info.width(), v.width());
        assertEquals(info.fps(), v.fps(), 0.5);
        String o = out.toString(), e = err.toString();
        assertTrue(o.contains("model: embedded"), o);
        assertTrue(o.contains("base: 2 frames " + info.height() + "x" + info.width()), o);
        assertTrue(o.contains("wrote " + gif.toAbsolutePath()) && o.contains("time: base"), o);
        assertTrue(e.contains("stage 1/1 base") && e.contains("base 2/2") && e.contains("stage base done"), e);
        assertFalse(e.contains("random, untrained"), "the embedded model is trained: " + e);
    }

    @Test
    void threeStagesOnTheReleaseFolder(@TempDir Path tmp) throws Exception {
        assertTrue(VideoIO.mp4Available(), "the CLI carries FFmpeg");
        Path mp4 = tmp.resolve("cascade.mp4");
        assertEquals(0, cascade("a red ball", mp4, "--model", model.toString(), "--frames", "16", "--height", "16", "--width", "16",
                "--save-stages", "--decode-slice", "16"), err.toString());
        Video v = VideoIO.read(mp4);
        assertEquals(61, v.frames());
        assertEquals(64, v.height());
        assertEquals(64, v.width());
        assertEquals(24.0, v.fps(), 1e-6, "VSR keeps the interpolated video's 24 fps");
        Video base = VideoIO.read(tmp.resolve("cascade-base.mp4"));
        assertEquals(16, base.frames());
        assertEquals(8.0, base.fps(), 1e-6);
        assertEquals(61, VideoIO.read(tmp.resolve("cascade-interp.mp4")).frames());
        String o = out.toString(), e = err.toString();
        assertTrue(o.contains("later stages: \"a_red_ball\""), o);
        assertTrue(o.contains("interp: 61 frames 16x16 at 24 fps") && o.contains("vsr: 61 frames 64x64 at 24 fps"), o);
        assertTrue(o.contains("VSR estimated working memory"), o);
        assertTrue(e.contains("stage 2/3 interp") && e.contains("interp 2/2") && e.contains("vsr 8/8") && e.contains("stage vsr done"), e);
        assertTrue(o.contains("time: base") && o.contains("interp") && o.contains("vsr"), o);
    }

    @Test
    void laterStagesWithoutModelExplainWhatTheyNeed(@TempDir Path tmp) {
        Path gif = tmp.resolve("x.gif");
        assertEquals(2, cascade("a cat", gif));
        String e = err.toString();
        assertTrue(e.contains("the interp stage needs LaVie's interpolation weights") && e.contains("the vsr stage needs LaVie's VSR weights")
                && e.contains("--stages base"), e);
        assertFalse(Files.exists(gif));
    }

    @Test
    void badInputsAreRefusedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path gif = tmp.resolve("x.gif");
        assertBad(cascade(" ", gif, "--stages", "base"), "the prompt is empty");
        assertBad(cascade("a cat", gif, "--stages", "base,upsample"), "--stages: unknown stage 'upsample'");
        assertBad(cascade("a cat", gif, "--stages", "interp,vsr"), "--stages must include base");
        assertBad(cascade("a cat", gif, "--stages", "base", "--handoff", "fp16"), "--handoff must be uint8 or float");
        assertBad(cascade("a cat", gif, "--stages", "base", "--scheduler", "magic"), "--scheduler");
        assertBad(cascade("a cat", gif, "--stages", "base", "--height", "64"), "--height and --width together");
        assertBad(cascade("a cat", tmp.resolve("x.avi"), "--stages", "base"), "unsupported output");
        assertBad(cascade("a cat", gif, "--model", tmp.resolve("nope").toString()), "no such folder");
        Path onlyVsr = tmp.resolve("only-vsr");
        SuperResolutionModel.randomTiny(3).save(onlyVsr, DType.F32);
        assertBad(cascade("a cat", gif, "--model", onlyVsr.toString(), "--stages", "base,vsr"), "has no base model (lavie_base.pt");
        // shapes that do not chain: the embedded-size base of 8 frames cannot be interpolated
        assertBad(cascade("a cat", gif, "--model", model.toString(), "--stages", "base,interp", "--frames", "8", "--height", "16", "--width", "16"),
                "the interp stage cannot take the base stage's output (8 frames of 16x16)");
        assertBad(cascade("a cat", gif, "--model", model.toString(), "--stages", "base,vsr", "--frames", "2", "--height", "16", "--width", "16",
                "--memory-budget", "0.000001"), "the vsr stage cannot take the base stage's output");
        assertTrue(err.toString().contains("set --memory-mode low, --chunk, --tile or --memory-budget"), err.toString());
        assertBad(cascade("a cat", gif, "--stages", "base", "--memory-mode", "tiny"), "--memory-mode must be auto, full or low");
        assertFalse(Files.exists(gif), "nothing written");

        // an existing output is kept without --force, replaced with it
        Path existing = Files.writeString(tmp.resolve("old.gif"), "keep me");
        assertBad(cascade("a cat", existing, "--stages", "base", "--frames", "1"), "already exists (use --force");
        assertEquals("keep me", Files.readString(existing));
        Files.writeString(tmp.resolve("s-base.gif"), "keep me too");
        assertBad(cascade("a cat", tmp.resolve("s.gif"), "--model", model.toString(), "--stages", "base,vsr", "--save-stages"), "s-base.gif: already exists");
        assertEquals(0, cascade("a cat", existing, "--stages", "base", "--frames", "1", "--force"), err.toString());
        assertEquals(1, VideoIO.read(existing).frames());
    }

    private void assertBad(int code, String message) {
        assertEquals(2, code, "exit code; stderr: " + err);
        assertTrue(err.toString().contains(message), "expected '" + message + "' in: " + err);
    }
}
