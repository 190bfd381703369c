package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie train-vae} then {@code lavie eval-shapes} on what it wrote (tiny sizes, a few steps), and bad input. */
class TrainVaeAndEvalShapesCommandTest extends CliTestBase {
    @Test
    void trainVaeWritesAModelThatEvalShapesMeasures(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("vae-model");
        assertEquals(0, run("train-vae", model.toString(), "--size", "16", "--frames", "2", "--steps", "3", "--batch", "2",
                "--log-every", "1", "--holdout", "red circle left"), err.toString());
        assertTrue(out.toString().contains("step 3/3"), out.toString());
        TextToVideoModel m = TextToVideoModel.load(model);
        ModelInfo info = m.info();
        assertEquals(2, info.frames());
        assertEquals(16, info.height());
        assertEquals(16, info.width());
        assertFalse(info.trained(), "the UNet is still random");
        Matcher s = Pattern.compile("scaling factor (\\d+\\.\\d+)").matcher(out.toString());
        assertTrue(s.find(), out.toString());
        assertEquals(Double.parseDouble(s.group(1)), m.vae().config().scalingFactor(), 1e-4);

        // never over an existing folder
        assertEquals(2, run("train-vae", model.toString(), "--steps", "1"));
        assertTrue(err.toString().contains("already exists"), err.toString());

        Path heldout = tmp.resolve("heldout.txt");
        Files.writeString(heldout, "a red circle moving left\na blue square moving up\n");
        Path gifs = tmp.resolve("gifs");
        out.getBuffer().setLength(0);
        assertEquals(0, run("eval-shapes", "--model", model.toString(), "--heldout", heldout.toString(), "--seeds", "2",
                "--steps", "2", "--save", gifs.toString(), "--publish", tmp.resolve("published").toString()), err.toString());
        String text = out.toString();
        assertTrue(text.contains("2 prompts x 2 seeds, 2 frames 16x16, 2 steps"), text);
        Matcher a = Pattern.compile("accuracy \\(colour and direction\\): (\\d+\\.\\d)% of 4 videos; colour (\\d+\\.\\d)%, direction (\\d+\\.\\d)%").matcher(text);
        assertTrue(a.find(), text);
        assertTrue(Double.parseDouble(a.group(1)) <= Math.min(Double.parseDouble(a.group(2)), Double.parseDouble(a.group(3))), text);
        assertEquals(4, text.lines().filter(l -> l.contains(" seed ") && l.contains(" -> ")).count(), text);
        try (var files = Files.list(gifs)) {
            assertEquals(4, files.filter(p -> p.toString().endsWith(".gif")).count());
        }
        ModelInfo published = TextToVideoModel.load(tmp.resolve("published")).info();
        assertTrue(published.trained());
        assertEquals("lavie-tiny-shapes", published.name());
        assertTrue(published.description().startsWith(info.description()), published.description());
        assertTrue(published.description().contains("prompt following on 2 prompts held out from training x 2 seeds (eval-shapes, 2 steps, guidance 7.5): "
                + "colour and direction right in " + a.group(1) + "%"), published.description());
        assertEquals(16, published.height());

        // the VAE's ceiling: reconstructions of the prompts' own clips, scored the same way
        out.getBuffer().setLength(0);
        assertEquals(0, run("eval-shapes", "--model", model.toString(), "--prompts", "red circle left, blue square up", "--seeds", "1",
                "--vae-only"), err.toString());
        assertTrue(out.toString().contains("VAE round trip") && out.toString().contains("of 2 videos"), out.toString());

        // the caption probe: one row per timestep, the right, empty, wrong and opposite-direction captions' x0 errors
        out.getBuffer().setLength(0);
        assertEquals(0, run("eval-shapes", "--model", model.toString(), "--prompts", "red circle left, blue square up", "--probe"), err.toString());
        String probe = out.toString();
        assertTrue(probe.contains("(epsilon): x0 error of the UNet's prediction, mean over 2 synthetic clips"), probe);
        for (int t : new int[]{300, 600, 800, 950})
            assertTrue(Pattern.compile("(?m)^\\s+" + t + "\\s+\\d+\\.\\d{4}\\s+\\d+\\.\\d{4}\\s+\\d+\\.\\d{4}\\s+\\d+\\.\\d{4}\\s+[+-]\\d+\\.\\d%\\s+[+-]\\d+\\.\\d%$").matcher(probe).find(), probe);
        // probe clips that move edge to edge (data of synthetic-data --travel 1): other clips, other errors
        out.getBuffer().setLength(0);
        assertEquals(0, run("eval-shapes", "--model", model.toString(), "--prompts", "red circle left, blue square up", "--probe",
                "--travel", "1"), err.toString());
        assertNotEquals(probe, out.toString());
    }

    @Test
    void evalShapesBadInputExits2(@TempDir Path tmp) {
        assertEquals(2, run("eval-shapes", "--prompts", "pink circle left"));
        assertTrue(err.toString().contains("pink"), err.toString());
        assertEquals(2, run("eval-shapes"));
        assertTrue(err.toString().contains("exactly one of"), err.toString());
        assertEquals(2, run("eval-shapes", "--prompts", "red circle left", "--seeds", "0"));
        assertEquals(2, run("train-vae", tmp.resolve("x").toString(), "--size", "15"));
        assertEquals(2, run("eval-shapes", "--prompts", "red circle left", "--publish", tmp.toString()));
        assertTrue(err.toString().contains("already exists"), err.toString());
        assertEquals(2, run("eval-shapes", "--prompts", "red circle left", "--vae-only", "--publish", tmp.resolve("p").toString()));
        assertEquals(2, run("eval-shapes", "--prompts", "red circle left", "--probe"));
        assertTrue(err.toString().contains("--probe needs at least two prompts"), err.toString());
        assertEquals(2, run("eval-shapes", "--prompts", "red circle left, blue square up", "--probe", "--vae-only"));
        assertTrue(err.toString().contains("at most one of --vae-only and --probe"), err.toString());
        assertEquals(2, run("eval-shapes", "--prompts", "red circle left, blue square up", "--travel", "1"));
        assertTrue(err.toString().contains("--travel is read with --probe only"), err.toString());
    }
}
