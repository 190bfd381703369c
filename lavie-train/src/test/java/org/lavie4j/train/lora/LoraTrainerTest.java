package org.lavie4j.train.lora;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
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
        for (Map.Entry<String, Parameter> e : straight.model().unet().namedEntries().entrySet()) {
            String module = e.getKey().substring(0, e.getKey().lastIndexOf('.'));
            boolean adapted = lora.modulePaths().contains(module) && e.getKey().endsWith(".weight");
            assertEquals(before.get(e.getKey()), adapted ? lora.baseWeight(module) : e.getValue().data(), e.getKey() + " moved");
        }
        assertTrue(Files.isRegularFile(tmp.resolve("straight/checkpoints/step-4").resolve(Trainer.LORA_FILE))
                || Files.list(tmp.resolve("straight/checkpoints")).anyMatch(d -> Files.isRegularFile(d.resolve(Trainer.LORA_FILE))));

        Trainer first = trainer(config(tmp.resolve("resumed"), 2));
        first.train(TrainListener.NONE);
        Trainer resumed = trainer(config(tmp.resolve("resumed"), 4));
        resumed.resume(tmp.resolve("resumed"));
        resumed.train(TrainListener.NONE);
        lora.namedParameters().forEach((k, p) -> assertEquals(p.data(), resumed.lora().namedParameters().get(k).data(), k + " after resume"));

        // the exported adapters on a fresh copy of the base model give the trained model
        Path file = straight.exportLora(tmp.resolve("lora.safetensors"));
        TextToVideoModel fresh = TextToVideoModel.randomTiny(MODEL_SEED);
        LoraAdapters loaded = Lora.apply(fresh.unet(), file);
        for (Map.Entry<String, Parameter> e : straight.model().unet().namedEntries().entrySet())
            assertTrue(e.getValue().data().equalsWithEps(fresh.unet().namedEntries().get(e.getKey()).data(), 1e-6), e.getKey());
        assertEquals(lora.modulePaths(), loaded.modulePaths());
    }
}
