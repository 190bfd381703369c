package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie sample} on the embedded default model: outputs, determinism, and every kind of bad input. */
class SampleCommandTest extends CliTestBase {

    /**
     * {@code lavie sample PROMPT --out OUT MORE...} plus {@code --steps 2 --frames 2 --seed 5} for each of those MORE does
     * not set (picocli refuses an option given twice).
     */
    private int sample(String prompt, Path outFile, String... more) {
        java.util.List<String> given = java.util.List.of(more);
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", prompt, "--out", outFile.toString()));
        for (String[] d : new String[][]{{"--steps", "2"}, {"--frames", "2"}, {"--seed", "5"}})
            if (!given.contains(d[0])) args.addAll(java.util.List.of(d));
        args.addAll(given);
        return run(args.toArray(String[]::new));
    }

    @Test
    void embeddedModelIsShippedAndSaysItIsUntrained() throws Exception {
        assertTrue(EmbeddedModel.present());
        TextToVideoModel m = EmbeddedModel.load();
        assertFalse(m.info().trained(), "until a trained model is shipped, the default is random and must say so");
        assertTrue(m.info().description().contains("RANDOM"), m.info().description());
    }

    @Test
    void writesAGifWithTheModelsSizeAndReportsTime(@TempDir Path tmp) throws Exception {
        Path gif = tmp.resolve("fox.gif");
        assertEquals(0, sample("a red circle moving left", gif), err.toString());
        Video v = VideoIO.read(gif);
        ModelInfo info = EmbeddedModel.load().info();
        assertEquals(2, v.frames());
        assertEquals(info.height(), v.height());
        assertEquals(info.width(), v.width());
        assertEquals(info.fps(), v.fps(), 0.5);
        String o = out.toString();
        assertTrue(o.contains("wrote " + gif.toAbsolutePath()), o);
        assertTrue(o.contains("time: denoise") && o.contains("it/s") && o.contains("total"), o);
        assertTrue(o.contains("seed 5"), o);
        assertTrue(err.toString().contains("random, untrained"), err.toString());
        assertTrue(err.toString().contains("denoise 2/2"), "progress lines: " + err);
    }

    @Test
    void sameSeedSameVideoOtherSeedOtherVideo(@TempDir Path tmp) throws Exception {
        assertEquals(0, sample("a blue square moving up", tmp.resolve("a")), err.toString());
        assertEquals(0, sample("a blue square moving up", tmp.resolve("b")), err.toString());
        assertEquals(0, sample("a blue square moving up", tmp.resolve("c"), "--seed", "6"), err.toString());
        Video a = VideoIO.read(tmp.resolve("a")), b = VideoIO.read(tmp.resolve("b")), c = VideoIO.read(tmp.resolve("c"));
        assertEquals(2, a.frames(), "a folder output holds PNG frames");
        for (int f = 0; f < a.frames(); f++) assertArrayEquals(a.rgb(f), b.rgb(f));
        assertFalse(java.util.Arrays.equals(a.rgb(0), c.rgb(0)));
    }

    @Test
    void writesMp4AndChosenSampler(@TempDir Path tmp) throws Exception {
        assertTrue(VideoIO.mp4Available(), "the CLI carries FFmpeg");
        Path mp4 = tmp.resolve("clip.mp4");
        assertEquals(0, sample("a green triangle moving right", mp4, "--scheduler", "dpm++", "--fps", "12"), err.toString());
        Video v = VideoIO.read(mp4);
        assertEquals(2, v.frames());
        assertEquals(12.0, v.fps(), 0.01);
        assertTrue(out.toString().contains("dpm++"), out.toString());
    }

    @Test
    void badInputIsRefusedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path taken = tmp.resolve("taken.gif");
        Files.writeString(taken, "keep me");
        assertEquals(2, sample("a cat", taken));
        assertTrue(err.toString().contains("already exists"), err.toString());
        assertEquals("keep me", Files.readString(taken));

        assertEquals(2, sample(" ", tmp.resolve("x.gif")));
        assertTrue(err.toString().contains("prompt is empty"));
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--scheduler", "lms"));
        assertTrue(err.toString().contains("unknown scheduler 'lms'"), err.toString());
        assertEquals(2, sample("a cat", tmp.resolve("x.avi")));
        assertTrue(err.toString().contains("unsupported output"), err.toString());
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--height", "36"));
        assertTrue(err.toString().contains("multiple of 8"), err.toString());
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--steps", "0"));
        assertTrue(err.toString().contains("steps must be >= 1"), err.toString());
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--steps", "5000"));
        assertTrue(err.toString().contains("steps 5000 cannot be more than the 1000"), err.toString());
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--fps", "0"));
        assertTrue(err.toString().contains("--fps must be in"), err.toString());
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--model", tmp.resolve("nowhere").toString()));
        assertTrue(err.toString().contains("nowhere: no such folder"), err.toString());
        Path empty = Files.createDirectories(tmp.resolve("empty-model"));
        assertEquals(2, sample("a cat", tmp.resolve("x.gif"), "--model", empty.toString()));
        assertTrue(err.toString().contains("lavie_base.pt"), err.toString());
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(2, s.count(), "only taken.gif and empty-model/: nothing written on refusal");
        }
    }

    @Test
    void longPromptsAreTruncatedWithAWarning(@TempDir Path tmp) {
        String longPrompt = "a red circle moving left ".repeat(20);
        assertEquals(0, sample(longPrompt, tmp.resolve("long.gif")), err.toString());
        assertTrue(err.toString().contains("reads only the first 75"), err.toString());
    }

    @Test
    void defaultFileNameIsThePromptWithUnderscores() {
        assertEquals("a_panda_playing_guitar", SampleCommand.defaultName("a panda playing guitar"));
        assertEquals("etcpasswd", SampleCommand.defaultName("../../etc/passwd"));
        assertEquals("video", SampleCommand.defaultName("///"));
        assertEquals(100, SampleCommand.defaultName("x".repeat(300)).length());
    }
}
