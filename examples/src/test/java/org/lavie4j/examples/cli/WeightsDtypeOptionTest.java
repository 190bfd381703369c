package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --weights-dtype fp32|fp16|bf16} of sample, cascade, upscale and interpolate. */
class WeightsDtypeOptionTest extends CliTestBase {

    @Test
    void badValuesExitTwoBeforeAnyWork(@TempDir Path tmp) throws Exception {
        byte[][] rgb = new byte[2][8 * 8 * 3];
        new Random(1).nextBytes(rgb[0]);
        Path in = VideoIO.write(Video.fromRgb(rgb, 8, 8, 8), tmp.resolve("in.gif"));
        String[][] commands = {
                {"sample", "a cat", "--out", tmp.resolve("s.gif").toString()},
                {"cascade", "a cat", "--stages", "base", "--out", tmp.resolve("c.gif").toString()},
                {"upscale", in.toString(), "a cat", "--out", tmp.resolve("u.gif").toString()},
                {"interpolate", in.toString(), "a cat", "--out", tmp.resolve("i.gif").toString()}};
        for (String[] c : commands) {
            for (String bad : new String[]{"fp8", "float16", ""}) {
                err.getBuffer().setLength(0);
                String[] args = java.util.Arrays.copyOf(c, c.length + 2);
                args[c.length] = "--weights-dtype";
                args[c.length + 1] = bad;
                assertEquals(2, run(args), c[0] + " " + bad + ": " + err);
                assertTrue(err.toString().contains("--weights-dtype must be fp32, fp16 or bf16, got '" + bad + "'"), c[0] + ": " + err);
            }
            out.getBuffer().setLength(0);
            assertEquals(0, run(c[0], "--help"));
            assertTrue(out.toString().contains("--weights-dtype=TYPE"), c[0] + " --help: " + out);
        }
    }

    /**
     * The embedded model with half-precision weights: half the bytes held. Its checkpoint is F16, so fp16 storage
     * loses nothing (the same video, bit for bit); bf16 rounds each weight to 8 significant bits, which moves the
     * decoded pixels by a fraction of a level (measured: mean 0.15 of 255 on PNG frames; a GIF's palette makes it 2.5).
     */
    @Test
    void sampleWithHalfWeightsHoldsHalfTheBytes(@TempDir Path tmp) throws Exception {
        String[] common = {"sample", "a red circle moving left", "--steps", "2", "--frames", "2", "--seed", "5"};
        Video[] videos = new Video[3];
        String[] types = {"fp32", "fp16", "bf16"};
        double[] gb = new double[3];
        for (int i = 0; i < 3; i++) {
            out.getBuffer().setLength(0);
            Path gif = tmp.resolve(types[i]);                  // a folder of PNG frames: exact pixels
            String[] args = java.util.Arrays.copyOf(common, common.length + 4);
            args[common.length] = "--out";
            args[common.length + 1] = gif.toString();
            args[common.length + 2] = "--weights-dtype";
            args[common.length + 3] = types[i];
            assertEquals(0, run(args), err.toString());
            String o = out.toString();
            assertTrue(o.contains("weights: " + types[i] + ", "), o);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("M parameters, ([0-9.]+) GB held").matcher(o);
            assertTrue(m.find(), o);
            gb[i] = Double.parseDouble(m.group(1));
            videos[i] = VideoIO.read(gif);
        }
        assertEquals(gb[0] / 2, gb[1], 0.011, "fp16 holds half the bytes");
        assertEquals(gb[0] / 2, gb[2], 0.011, "bf16 holds half the bytes");
        for (int i = 1; i < 3; i++) {
            double diff = 0;
            long n = 0;
            for (int f = 0; f < videos[0].frames(); f++) {
                byte[] a = videos[0].rgb(f), b = videos[i].rgb(f);
                for (int k = 0; k < a.length; k++, n++) diff += Math.abs((a[k] & 0xff) - (b[k] & 0xff));
            }
            System.out.printf(java.util.Locale.ROOT, "sample %s vs fp32: mean |Δ| %.3f of 255%n", types[i], diff / n);
            if (i == 1) assertEquals(0.0, diff, "fp16 storage of an F16 checkpoint is exact");
            else assertTrue(diff / n < 1.0, types[i] + ": mean |Δ| " + diff / n + " levels from the fp32 video");
        }
    }

    @Test
    void cascadeBaseStageWithHalfWeights(@TempDir Path tmp) throws Exception {
        Path gif = tmp.resolve("c.gif");
        assertEquals(0, run("cascade", "a red circle", "--stages", "base", "--frames", "2", "--steps", "2", "--seed", "3",
                "--out", gif.toString(), "--weights-dtype", "fp16"), err.toString());
        assertTrue(out.toString().contains("weights: fp16"), out.toString());
        assertEquals(2, VideoIO.read(gif).frames());
    }
}
