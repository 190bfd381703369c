package org.lavie4j.examples.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.SuperResolutionModel;
import org.lavie4j.nn.pipeline.UpscaleOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie upscale} on a tiny random-weight VSR release folder, and every kind of bad input. */
class UpscaleCommandTest extends CliTestBase {
    @TempDir
    static Path shared;
    private static Path model;

    /** pretrained_models/ with a random tiny VSR UNet (lavie_vsr.safetensors) and a tiny stable-diffusion-x4-upscaler/. */
    @BeforeAll
    static void releaseFolder() throws IOException {
        model = shared.resolve("pretrained_models");
        SuperResolutionModel.randomTiny(7).save(model, DType.F32);
    }

    private static Path video(Path file, int frames, int h, int w, double fps) throws IOException {
        Random r = new Random(frames * 31L + h);
        byte[][] rgb = new byte[frames][h * w * 3];
        for (byte[] f : rgb) r.nextBytes(f);
        return VideoIO.write(Video.fromRgb(rgb, h, w, fps), file);
    }

    /** {@code lavie upscale ARGS...} plus {@code --model <tiny> --steps 2 --chunk 2} for each of those ARGS does not set. */
    private int upscale(String... args) {
        List<String> given = List.of(args);
        List<String> all = new ArrayList<>(List.of("upscale"));
        all.addAll(given);
        for (String[] d : new String[][]{{"--model", model.toString()}, {"--steps", "2"}, {"--chunk", "2"}})
            if (!given.contains(d[0])) all.addAll(List.of(d));
        return run(all.toArray(String[]::new));
    }

    @Test
    void threeFramesInTwoChunksBecomeFourTimesLargerAtTheInputsFps(@TempDir Path tmp) throws Exception {
        assertTrue(VideoIO.mp4Available(), "the CLI carries FFmpeg");
        Path in = video(tmp.resolve("a_red_ball.mp4"), 3, 8, 8, 12);
        Path mp4 = tmp.resolve("out.mp4");
        assertEquals(0, upscale(in.toString(), "--out", mp4.toString()), err.toString());
        Video v = VideoIO.read(mp4);
        assertEquals(3, v.frames());
        assertEquals(32, v.height());
        assertEquals(32, v.width());
        assertEquals(12.0, v.fps(), 1e-6, "written at the input's fps");
        String o = out.toString(), e = err.toString();
        assertTrue(o.contains("prompt: \"a_red_ball\""), "the prompt defaults to the file name: " + o);
        assertTrue(o.contains("negative: \"blur, worst quality\""), o);
        assertTrue(o.contains("3 frames 8x8 -> 32x32 in 2 chunks") && o.contains("seed 10"), o);
        assertTrue(o.contains("estimated working memory"), o);
        assertTrue(o.contains("wrote " + mp4.toAbsolutePath()), o);
        assertTrue(e.contains("chunk 1/2") && e.contains("chunk 2/2 done: frames 2-2"), e);
        assertTrue(e.contains("upscale 2/2 2/2"), "step lines per chunk: " + e);
    }

    /** The written frames are the pipeline's, truncated to uint8, frame for frame (PNG output is lossless). */
    @Test
    void pngFramesEqualThePipelinesTruncatedVideo(@TempDir Path tmp) throws Exception {
        Path in = video(tmp.resolve("in.gif"), 3, 8, 8, 8);
        Path frames = tmp.resolve("frames");
        assertEquals(0, upscale(in.toString(), "a red ball", "--out", frames.toString(), "--seed", "3"), err.toString());
        Video written = VideoIO.read(frames);
        Video expected = SuperResolutionModel.load(model).pipeline().upscale(VideoIO.read(in),
                UpscaleOptions.builder().prompt("a red ball").steps(2).chunkFrames(2).seed(3).build()).toVideo(8);
        assertEquals(expected.frames(), written.frames());
        for (int f = 0; f < expected.frames(); f++) assertArrayEquals(expected.rgb(f), written.rgb(f), "frame " + f);
    }

    @Test
    void withoutModelItExplainsThatVsrNeedsOne(@TempDir Path tmp) throws Exception {
        Path in = video(tmp.resolve("in.gif"), 2, 8, 8, 8);
        assertEquals(UpscaleCommand.BAD_INPUT, run("upscale", in.toString(), "x"));
        assertTrue(err.toString().contains("pass --model DIR") && err.toString().contains("no embedded VSR model")
                && err.toString().contains("lavie_vsr.pt"), err.toString());
    }

    @Test
    void badInputsAreRefusedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path in = video(tmp.resolve("in.gif"), 2, 8, 8, 8);
        Path odd = video(tmp.resolve("odd.gif"), 2, 6, 8, 8);
        Path exists = Files.writeString(tmp.resolve("exists.mp4"), "x");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        String[][] cases = {
                {"no such file", tmp.resolve("missing.mp4").toString()},
                {"no such folder", in.toString(), "--model", tmp.resolve("nope").toString()},
                {"lavie_vsr.pt", in.toString(), "--model", empty.toString()},
                {"divisible by 4", odd.toString(), "--out", tmp.resolve("o1.mp4").toString()},
                {"chunkFrames must be >= 1", in.toString(), "--chunk", "0"},
                {"steps must be >= 1", in.toString(), "--steps", "0"},
                {"guidanceScale must be finite and >= 0", in.toString(), "--guidance", "-1"},
                {"max_noise_level", in.toString(), "--noise-level", "351", "--out", tmp.resolve("o2.mp4").toString()},
                {"already exists (use --force", in.toString(), "--out", exists.toString()},
                {"one PNG holds one frame", in.toString(), "--out", tmp.resolve("x.png").toString()},
                {"is the input", in.toString(), "--out", in.toString(), "--force"},
                {"over the budget", in.toString(), "--memory-budget", "0.000001", "--out", tmp.resolve("o3.mp4").toString()},
                {"--memory-budget must be a positive", in.toString(), "--memory-budget", "0"},
                {"--memory-mode must be auto, full or low", in.toString(), "--memory-mode", "half"},
                {"in the low-memory mode, over the budget", in.toString(), "--memory-mode", "low", "--memory-budget", "0.000001",
                        "--out", tmp.resolve("o4.mp4").toString()},
                {"the prompt is empty", in.toString(), " "},
        };
        for (String[] c : cases) {
            err.getBuffer().setLength(0);
            String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
            assertEquals(UpscaleCommand.BAD_INPUT, upscale(args), String.join(" ", args) + ": " + err);
            assertTrue(err.toString().contains(c[0]), c[0] + " <- " + err);
        }
        assertEquals("x", Files.readString(exists), "an existing output is never touched");
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.matches("o\\d\\.mp4")).toList(), "nothing written");
        }
    }

    @Test
    void forceReplacesAnExistingOutput(@TempDir Path tmp) throws Exception {
        Path in = video(tmp.resolve("in.gif"), 1, 8, 8, 8);
        Path gif = Files.writeString(tmp.resolve("out.gif"), "old");
        assertEquals(0, upscale(in.toString(), "x", "--out", gif.toString(), "--force", "--steps", "1"), err.toString());
        assertEquals(32, VideoIO.read(gif).height());
    }

    @Test
    void helpListsTheOptions() {
        assertEquals(0, run("upscale", "--help"));
        for (String o : List.of("--model", "--out", "--steps", "--guidance", "--chunk", "--seed", "--force", "--memory-budget"))
            assertTrue(out.toString().contains(o), o);
    }
}
