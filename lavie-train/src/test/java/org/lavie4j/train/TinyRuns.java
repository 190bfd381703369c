package org.lavie4j.train;

import org.lavie4j.core.Parameter;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.train.data.SampleSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Tiny runs for the trainer's tests: the random tiny model on 2-frame 16x16 random clips. */
final class TinyRuns {
    static final long MODEL_SEED = 3;
    static final List<String> CAPTIONS = List.of("a red circle moving left", "a blue square moving up", "a green triangle");

    private TinyRuns() {}

    /** Constant lr 1e-3 (no warm-up, so the first steps move the weights), clip 1, EMA 0.9, checkpoints every 100 steps. */
    static TrainConfig config(Path out, long steps) {
        TrainConfig d = TrainConfig.defaults(new ModelSource.Tiny(MODEL_SEED), out);
        return d.withSteps(steps)
                .withOptimizer(d.optimizer().withLr(1e-3).withSchedule(TrainConfig.Schedule.CONSTANT, 0))
                .withEma(new TrainConfig.EmaSettings(0.9, false))
                .withCheckpoint(new TrainConfig.Checkpointing(100, 2))
                .withSeed(11);
    }

    static SampleSource source(int imageCount) {
        return new RandomSampleSource(5, 2, 16, 16, imageCount, CAPTIONS);
    }

    static Trainer trainer(TrainConfig config, int imageCount) {
        return new Trainer(config, TextToVideoModel.randomTiny(MODEL_SEED), source(imageCount));
    }

    /** Copies of every UNet entry. */
    static Map<String, INDArray> snapshot(Map<String, Parameter> entries) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        entries.forEach((k, p) -> out.put(k, p.data().dup('c')));
        return out;
    }
}
