package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.media.VideoIO;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie train}: the synthetic demo end to end (data, training, validation, checkpoint, export, sampling), configs, resume, bad input. */
class TrainCommandTest extends CliTestBase {

    @Test void syntheticDemoTrainsValidatesExportsAndTheModelSamples(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        assertEquals(0, run("train", "--synthetic", "--steps", "2", "--out", out.toString()), err.toString());
        String log = this.out.toString();
        assertTrue(log.contains("data: wrote 64 clips and 16 stills"), log);
        assertTrue(log.contains("step 1/2  loss ") && log.contains("step 2/2  loss ") && log.contains("clips/s"), log);
        assertTrue(log.contains("(video ") && log.contains(", image "), "joint batches: " + log);
        assertTrue(log.contains("checkpoint: " + out.resolve("checkpoints").resolve("step-000000002").toAbsolutePath()), log);
        assertTrue(err.toString().contains("random, untrained"), err.toString());
        Path model = out.resolve("model-step-2").toAbsolutePath();
        assertTrue(log.contains("exported EMA weights to " + model), log);
        assertTrue(log.contains("lavie sample --model " + model), log);
        assertTrue(Files.isRegularFile(out.resolve("checkpoints").resolve("latest")));
        assertTrue(Files.isRegularFile(out.resolve("data").resolve("videos.csv")));

        // validation every 10 steps: none in a 2-step run; the exported model samples
        Path gif = tmp.resolve("sample.gif");
        assertEquals(0, run("sample", "a red circle moving left", "--model", model.toString(), "--steps", "2", "--frames", "2",
                "--out", gif.toString()), err.toString());
        assertEquals(2, VideoIO.read(gif).frames());
    }

    @Test void configRunThenResumeContinues(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("run.yaml"), out = tmp.resolve("out");
        Files.writeString(cfg, """
                model: {source: tiny, seed: 1}
                train: temporal
                steps: 1
                optimizer: {lr: 1.0e-3, schedule: constant}
                ema: {decay: 0.9}
                checkpoint: {every: 1, keep_last: 2}
                validation: {every: 1, prompts: ["a red circle moving left"], steps: 2, guidance: 1.0, frames: 2, height: 16, width: 16}
                output_dir: %s
                data: {source: random, frames: 2, height: 16, width: 16}
                """.formatted(out.toString().replace("\\", "/")));
        assertEquals(0, run("train", "--config", cfg.toString(), "--no-export"), err.toString());
        String log = this.out.toString();
        assertTrue(log.contains("training temporal parameters"), log);
        assertTrue(log.contains("validation: " + out.resolve("validation").resolve("step-000000001.gif").toAbsolutePath()), log);
        assertFalse(log.contains("exported"), log);

        this.out.getBuffer().setLength(0);
        assertEquals(0, run("train", "--resume", out.toString(), "--steps", "2", "--no-export"), err.toString());
        log = this.out.toString();
        assertTrue(log.contains("resumed from " + out + " at step 1"), log);
        assertTrue(log.contains("step 2/2") && !log.contains("step 1/2"), log);
        assertTrue(log.contains("trained steps 1..2"), log);
        assertTrue(Files.isDirectory(out.resolve("checkpoints").resolve("step-000000002")));
    }

    @Test void badInputExitsTwoWithTheReason(@TempDir Path tmp) throws Exception {
        assertEquals(2, run("train"));
        assertTrue(err.toString().contains("give --config FILE, --synthetic, or --resume DIR"), err.toString());

        Path cfg = tmp.resolve("bad.yaml");
        Files.writeString(cfg, "model: {source: tiny}\noutput_dir: o\noptimizer: {lr: -1}\n");
        err.getBuffer().setLength(0);
        assertEquals(2, run("train", "--config", cfg.toString()));
        assertTrue(err.toString().contains("'optimizer.lr'"), err.toString());

        Files.writeString(cfg, "model: {source: tiny}\noutput_dir: o\ndata: {source: webdataset}\n");
        err.getBuffer().setLength(0);
        assertEquals(2, run("train", "--config", cfg.toString()));
        assertTrue(err.toString().contains("'data.source' must be one of [manifest, synthetic, random]"), err.toString());

        Files.writeString(cfg, "model: {source: lavie4j, path: " + tmp.resolve("absent") + "}\noutput_dir: o\ndata: {source: random}\n");
        err.getBuffer().setLength(0);
        assertEquals(2, run("train", "--config", cfg.toString()));
        assertTrue(err.toString().contains("cannot load the model") && err.toString().contains("absent"), err.toString());

        err.getBuffer().setLength(0);
        assertEquals(2, run("train", "--resume", tmp.resolve("nothing").toString()));
        assertTrue(err.toString().contains("nothing"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("train", "--synthetic", "--config", cfg.toString()));
        assertEquals(2, run("train", "--synthetic", "--steps", "0"));
    }
}
