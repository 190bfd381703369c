package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.io.DType;
import org.lavie4j.nn.pipeline.TextToVideoModel;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie train-text}: trains the text encoder of a model folder on a manifest's captions; bad input exits 2. */
class TrainTextCommandTest extends CliTestBase {
    @Test
    void trainTextWritesTheModelWithATrainedTextEncoder(@TempDir Path tmp) throws Exception {
        TextToVideoModel tiny = TextToVideoModel.randomTiny(3);
        Path model = tmp.resolve("model");
        tiny.save(model, DType.F32);
        Path manifest = tmp.resolve("videos.csv");
        Files.writeString(manifest, "path,caption\na.mp4,a red circle moving left\nb.mp4,a blue square moving up\nc.mp4,a red circle moving left\n");
        Path trained = tmp.resolve("trained");
        assertEquals(0, run("train-text", trained.toString(), "--model", model.toString(), "--captions", manifest.toString(),
                "--steps", "3", "--batch", "2", "--log-every", "1"), err.toString());
        String text = out.toString();
        assertTrue(text.contains("2 distinct captions (and the empty one), 8 distinct tokens"), text);
        assertTrue(text.contains("step 3/3") && text.contains("read-back accuracy"), text);
        TextToVideoModel back = TextToVideoModel.load(trained);
        String w = "text_model.encoder.layers.0.self_attn.q_proj.weight";
        assertNotEquals(tiny.textEncoder().namedEntries().get(w).data(), back.textEncoder().namedEntries().get(w).data(), "the encoder trained");
        for (var e : tiny.unet().namedEntries().entrySet())
            assertEquals(e.getValue().data(), back.unet().namedEntries().get(e.getKey()).data(), e.getKey());
        assertTrue(back.info().description().contains("text encoder trained on the 2 captions of videos.csv (3 steps x 2"), back.info().description());

        // never over an existing folder; bad options and missing files named
        assertEquals(2, run("train-text", trained.toString(), "--model", model.toString(), "--captions", manifest.toString()));
        assertTrue(err.toString().contains("already exists"), err.toString());
        assertEquals(2, run("train-text", tmp.resolve("x").toString(), "--model", model.toString(), "--captions", manifest.toString(), "--steps", "0"));
        assertTrue(err.toString().contains("--steps"), err.toString());
        assertEquals(1, run("train-text", tmp.resolve("y").toString(), "--model", model.toString(), "--captions", tmp.resolve("none.csv").toString()));
        assertTrue(err.toString().contains("none.csv"), err.toString());
        assertFalse(Files.exists(tmp.resolve("y")));
    }
}
