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
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.unet.UNetConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie interpolate} on a tiny LaVie release folder, and every kind of bad input. */
class InterpolateCommandTest extends CliTestBase {
    @TempDir
    static Path shared;
    private static Path model;

    /**
     * pretrained_models/ with tiny parts: the unet_interp golden case's weights.pt (torch.save of the original's tiny
     * interpolation UNet) as lavie_interpolation.pt, and a random tiny stable-diffusion-v1-4/ (tokenizer, text encoder,
     * VAE, 2-D UNet config).
     */
    @BeforeAll
    static void releaseFolder() throws IOException {
        Path parts = shared.resolve("parts");
        TextToVideoModel.randomTiny(7).save(parts, DType.F32);
        model = Files.createDirectories(shared.resolve("pretrained_models"));
        Path sd = Files.createDirectories(model.resolve("stable-diffusion-v1-4"));
        for (String part : List.of("tokenizer", "text_encoder", "vae")) Files.move(parts.resolve(part), sd.resolve(part));
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

    private static Path video(Path file, int frames, int h, int w) throws IOException {
        Random r = new Random(frames * 31L + h);
        byte[][] rgb = new byte[frames][h * w * 3];
        for (byte[] f : rgb) r.nextBytes(f);
        return VideoIO.write(Video.fromRgb(rgb, h, w, 8), file);
    }

    /** {@code lavie interpolate ARGS... } plus {@code --model <tiny> --steps 2 --seed 3} for each of those ARGS does not set. */
    private int interpolate(String... args) {
        List<String> given = List.of(args);
        List<String> all = new ArrayList<>(List.of("interpolate"));
        all.addAll(given);
        for (String[] d : new String[][]{{"--model", model.toString()}, {"--steps", "2"}, {"--seed", "3"}})
            if (!given.contains(d[0])) all.addAll(List.of(d));
        return run(all.toArray(String[]::new));
    }

    @Test
    void sixteenFramesBecomeSixtyOneAt24Fps(@TempDir Path tmp) throws Exception {
        assertTrue(VideoIO.mp4Available(), "the CLI carries FFmpeg");
        Path in = video(tmp.resolve("a_red_ball.mp4"), 16, 16, 16);
        Path mp4 = tmp.resolve("out.mp4");
        assertEquals(0, interpolate(in.toString(), "a red ball", "--out", mp4.toString()), err.toString());
        Video v = VideoIO.read(mp4);
        assertEquals(61, v.frames());
        assertEquals(24.0, v.fps(), 0.01);
        assertEquals(16, v.height());
        assertEquals(16, v.width());
        String o = out.toString();
        assertTrue(o.contains("prompt: \"a red ball, 4k.\", negative: \"None\""), o);
        assertTrue(o.contains("interpolating 16 -> 61 frames at 16x16, 2 respaced DDIM steps, guidance 4, seed 3"), o);
        assertTrue(o.contains("wrote " + mp4.toAbsolutePath() + " (61 frames, 16x16, 24 fps)"), o);
        assertTrue(o.contains("time: encode + denoise"), o);
        assertTrue(err.toString().contains("interpolate 2/2"), "progress lines: " + err);
    }

    @Test
    void promptDefaultsToTheFileNameAndSeedsRepeat(@TempDir Path tmp) throws Exception {
        Path in = video(tmp.resolve("a_blue_square.gif"), 16, 8, 8);
        assertEquals(0, interpolate(in.toString(), "--out", tmp.resolve("a").toString(), "--guidance", "2.5"), err.toString());
        assertTrue(out.toString().contains("prompt: \"a_blue_square, 4k.\""), out.toString());
        assertEquals(0, interpolate(in.toString(), "--out", tmp.resolve("b").toString(), "--guidance", "2.5"), err.toString());
        assertEquals(0, interpolate(in.toString(), "--out", tmp.resolve("c").toString(), "--guidance", "2.5", "--seed", "4"), err.toString());
        Video a = VideoIO.read(tmp.resolve("a")), b = VideoIO.read(tmp.resolve("b")), c = VideoIO.read(tmp.resolve("c"));
        assertEquals(61, a.frames(), "a folder output holds PNG frames");
        for (int f = 0; f < a.frames(); f++) assertArrayEquals(a.rgb(f), b.rgb(f));
        assertFalse(java.util.Arrays.equals(a.rgb(30), c.rgb(30)));
        // --force replaces, a resize is asked for with both sides
        assertEquals(0, interpolate(in.toString(), "x", "--out", tmp.resolve("a").toString(), "--force", "--height", "16", "--width", "8"),
                err.toString());
        assertEquals(16, VideoIO.read(tmp.resolve("a")).height());
    }

    @Test
    void withoutModelItExplainsThatTheStageNeedsWeights(@TempDir Path tmp) throws Exception {
        assertFalse(Files.exists(InterpolateCommand.DEFAULT_MODEL.resolve("lavie_interpolation.pt")), "the test expects no ./pretrained_models");
        Path in = video(tmp.resolve("clip.gif"), 16, 8, 8);
        assertEquals(2, run("interpolate", in.toString(), "a cat", "--out", tmp.resolve("x.gif").toString()));
        String e = err.toString();
        assertTrue(e.contains("needs LaVie's interpolation weights") && e.contains("--model") && e.contains("lavie_interpolation.pt")
                && e.contains("no embedded interpolation model"), e);
    }

    @Test
    void badInputIsRefusedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path in = video(tmp.resolve("clip.gif"), 16, 8, 8);
        Path taken = tmp.resolve("taken.gif");
        Files.writeString(taken, "keep me");
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", taken.toString()));
        assertTrue(err.toString().contains("already exists"), err.toString());
        assertEquals("keep me", Files.readString(taken));

        Path x = tmp.resolve("x.gif");
        assertEquals(2, interpolate(tmp.resolve("missing.mp4").toString(), "a cat", "--out", x.toString()));
        assertTrue(err.toString().contains("missing.mp4: no such file"), err.toString());
        assertEquals(2, interpolate(in.toString(), " ", "--out", x.toString()));
        assertTrue(err.toString().contains("prompt is empty"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", tmp.resolve("x.avi").toString()));
        assertTrue(err.toString().contains("unsupported output"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", tmp.resolve("x.png").toString()));
        assertTrue(err.toString().contains("one PNG holds one frame"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", x.toString(), "--steps", "0"));
        assertTrue(err.toString().contains("steps must be in [1, 1000]"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", x.toString(), "--guidance", "-1"));
        assertTrue(err.toString().contains("guidanceScale must be finite and >= 0"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", x.toString(), "--fps", "0"));
        assertTrue(err.toString().contains("--fps must be in"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", x.toString(), "--height", "16"));
        assertTrue(err.toString().contains("--height and --width together"), err.toString());
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", x.toString(), "--model", tmp.resolve("nowhere").toString()));
        assertTrue(err.toString().contains("nowhere: no such folder"), err.toString());
        Path empty = Files.createDirectories(tmp.resolve("empty-model"));
        assertEquals(2, interpolate(in.toString(), "a cat", "--out", x.toString(), "--model", empty.toString()));
        assertTrue(err.toString().contains("lavie_interpolation.pt") && err.toString().contains("stable-diffusion-v1-4"), err.toString());

        Path short15 = video(tmp.resolve("short.gif"), 15, 8, 8);
        assertEquals(2, interpolate(short15.toString(), "a cat", "--out", x.toString()));
        assertTrue(err.toString().contains("has 15 frames; the interpolation stage needs 16"), err.toString());
        Path odd = video(tmp.resolve("odd.gif"), 16, 6, 8);
        assertEquals(2, interpolate(odd.toString(), "a cat", "--out", x.toString()));
        assertTrue(err.toString().contains("multiples of 4 for this model"), err.toString());
        Path notVideo = tmp.resolve("notes.mp4");
        Files.writeString(notVideo, "not a video");
        assertEquals(2, interpolate(notVideo.toString(), "a cat", "--out", x.toString()));
        assertTrue(err.toString().contains("cannot read"), err.toString());

        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(6, s.count(), "only the inputs, taken.gif and empty-model/: nothing written on refusal");
        }
    }
}
