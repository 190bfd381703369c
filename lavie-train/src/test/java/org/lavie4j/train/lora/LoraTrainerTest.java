package org.lavie4j.train.lora;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.train.checkpoint.TrainCheckpoint;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.train.ModelSource;
import org.lavie4j.train.RandomSampleSource;
import org.lavie4j.train.TrainConfig;
import org.lavie4j.train.TrainListener;
import org.lavie4j.train.Trainer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code train: lora} on the tiny model: only the adapters train, checkpoint, resume and export. */
class LoraTrainerTest {
    private static final long MODEL_SEED = 3;

    private static TrainConfig config(Path out, long steps) {
        TrainConfig d = TrainConfig.defaults(new ModelSource.Tiny(MODEL_SEED), out);
        return d.withSteps(steps).withBatch(1, 2)
                .withOptimizer(d.optimizer().withLr(1e-2).withSchedule(TrainConfig.Schedule.CONSTANT, 0))
                .withEma(new TrainConfig.EmaSettings(0.9, false))
                .withCheckpoint(new TrainConfig.Checkpointing(2, 2))
                .withSeed(11)
                .withLora(LoraConfig.attention(2, 4));
    }

    private static Trainer trainer(TrainConfig config) {
        return new Trainer(config, TextToVideoModel.randomTiny(MODEL_SEED),
                new RandomSampleSource(5, 2, 16, 16, 0, List.of("a red circle moving left", "a blue square moving up")));
    }

    private static Map<String, INDArray> snapshot(Map<String, Parameter> entries) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        entries.forEach((k, p) -> out.put(k, p.data().dup('c')));
        return out;
    }

    @Test void configReadsRankAlphaAndTargets() {
        TrainConfig c = TrainConfig.parse("model: {source: tiny}\noutput_dir: o\ntrain: lora\nlora: {rank: 4, targets: [attn2.to_k, attn2.to_v]}\n", true);
        assertEquals(new LoraConfig(4, 4, List.of("attn2.to_k", "attn2.to_v")), c.lora());
        assertEquals(c, TrainConfig.fromJson(c.toJson()));
        TrainConfig d = TrainConfig.parse("model: {source: tiny}\noutput_dir: o\ntrain: lora\n", true);
        assertEquals(LoraConfig.attention(8, 8), d.lora());
        assertEquals(null, d.withTrain(TrainConfig.TrainTarget.ALL).lora());
    }

    @Test void onlyTheAdaptersTrainAndAResumedRunMatchesTheStraightOne(@TempDir Path tmp) throws Exception {
        Trainer straight = trainer(config(tmp.resolve("straight"), 4));
        LoraAdapters lora = straight.lora();
        Map<String, INDArray> before = snapshot(straight.model().unet().namedEntries());
        Map<String, INDArray> adaptersBefore = snapshot(lora.namedParameters());
        assertEquals(lora.namedParameters().keySet(), straight.trainableParameters().keySet());
        straight.train(TrainListener.NONE);
        for (String k : straight.optimizer().stateDict().keys()) assertTrue(k.contains(".lora_"), "optimizer state for " + k);
        lora.namedParameters().forEach((k, p) -> assertNotEquals(adaptersBefore.get(k), p.data(), k + " did not move"));
        for (Map.Entry<String, Parameter> e : straight.model().unet().namedEntries().entrySet())
            assertEquals(before.get(e.getKey()), e.getValue().data(), e.getKey() + " moved");
        // checkpoints hold the adapters (and their EMA), not the frozen UNet
        List<Path> checkpoints;
        try (var dirs = Files.list(tmp.resolve("straight/checkpoints"))) {
            checkpoints = dirs.filter(Files::isDirectory).toList();
        }
        assertTrue(!checkpoints.isEmpty());
        for (Path d : checkpoints) {
            assertTrue(Files.isRegularFile(d.resolve(Trainer.LORA_FILE)), d + ": no adapters");
            assertFalse(Files.exists(d.resolve(TrainCheckpoint.UNET)), d + ": the frozen UNet was written");
            try (TensorFile ema = TensorFile.open(d.resolve(TrainCheckpoint.EMA))) {
                assertEquals(lora.namedParameters().keySet(), ema.asMap().keySet(), "the EMA averages the adapters");
            }
        }

        Trainer first = trainer(config(tmp.resolve("resumed"), 2));
        first.train(TrainListener.NONE);
        Trainer resumed = trainer(config(tmp.resolve("resumed"), 4));
        resumed.resume(tmp.resolve("resumed"));
        resumed.train(TrainListener.NONE);
        lora.namedParameters().forEach((k, p) -> assertEquals(p.data(), resumed.lora().namedParameters().get(k).data(), k + " after resume"));

        // the exported adapters on a fresh copy of the base model give the trained model's output, and so do the
        // exported (merged) weights W + s·B·A in a plain model
        INDArray expected = output(straight.model().unet());
        Path file = straight.exportLora(tmp.resolve("lora.safetensors"));
        TextToVideoModel fresh = TextToVideoModel.randomTiny(MODEL_SEED);
        INDArray untrained = output(fresh.unet());
        assertTrue(expected.sub(untrained).amaxNumber().doubleValue() > 1e-4, "training changed the output (the test can tell)");
        LoraAdapters loaded = Lora.apply(fresh.unet(), file);
        assertEquals(lora.modulePaths(), loaded.modulePaths());
        assertEquals(expected, output(fresh.unet()), "the adapters file reproduces the trained model");
        Path weights = straight.exportWeights(tmp.resolve("unet.safetensors"), false);
        TextToVideoModel plain = TextToVideoModel.randomTiny(MODEL_SEED);
        try (TensorFile f = TensorFile.open(weights)) {
            assertTrue(plain.unet().load(StateDict.of(weights.toString(), f.asMap())).isClean());
        }
        double merged = expected.sub(output(plain.unet())).amaxNumber().doubleValue();
        assertTrue(merged <= 1e-5 * expected.amaxNumber().doubleValue(), "merged export differs by " + merged);
        assertTrue(straight.lora().merged() == false, "the export unmerges again");
    }

    private static INDArray output(org.lavie4j.nn.unet.UNet3DConditionModel unet) {
        org.nd4j.linalg.factory.Nd4j.getRandom().setSeed(3);
        INDArray x = org.nd4j.linalg.factory.Nd4j.randn(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, unet.config().inChannels(), 2, 8, 8);
        INDArray ctx = org.nd4j.linalg.factory.Nd4j.randn(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 5, unet.config().crossAttentionDim());
        try (org.lavie4j.core.Tape off = org.lavie4j.core.Grad.disabled()) {
            return unet.forward(org.lavie4j.core.Tensor.of(x), org.lavie4j.core.Tensor.of(org.nd4j.linalg.factory.Nd4j.createFromArray(500L)),
                    org.lavie4j.core.Tensor.of(ctx)).data().dup();
        }
    }
}
