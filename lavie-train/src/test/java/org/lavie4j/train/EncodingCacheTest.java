package org.lavie4j.train;

import org.junit.jupiter.api.Test;
import org.lavie4j.nn.schedulers.PredictionType;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code cache:}: the text and latent caches of the trainer ({@link EncodingCache}). */
class EncodingCacheTest {
    private static final long MODEL_SEED = 3;

    private static TrainConfig config(Path out, long steps, TrainConfig.Caching cache) {
        TrainConfig d = TrainConfig.defaults(new ModelSource.Tiny(MODEL_SEED), out);
        return d.withSteps(steps).withBatch(2, 1)
                .withOptimizer(d.optimizer().withLr(1e-3).withSchedule(TrainConfig.Schedule.CONSTANT, 0))
                .withEma(new TrainConfig.EmaSettings(0, false))
                .withCheckpoint(new TrainConfig.Checkpointing(2, 2))
                .withSeed(5)
                .withCache(cache);
    }

    private static Trainer trainer(TrainConfig config) {
        return new Trainer(config, TextToVideoModel.randomTiny(MODEL_SEED),
                new RandomSampleSource(9, 2, 16, 16, 1, List.of("a red circle moving left", "a blue square moving up", "")));
    }

    private static void assertSameWeights(Trainer a, Trainer b, String what) {
        for (Map.Entry<String, Parameter> e : a.trainableParameters().entrySet())
            assertEquals(e.getValue().data(), b.trainableParameters().get(e.getKey()).data(), what + ": " + e.getKey());
    }

    @Test void configReadsAndWritesTheCacheKeys() {
        TrainConfig c = TrainConfig.parse("model: {source: tiny}\noutput_dir: o\ncache: {text: true, latents: true, latent_dir: c/l, memory_mb: 64}\n", true);
        assertEquals(new TrainConfig.Caching(true, true, Path.of("c/l"), 64), c.cache());
        assertEquals(c, TrainConfig.fromJson(c.toJson()));
        assertEquals(TrainConfig.Caching.off(), TrainConfig.parse("model: {source: tiny}\noutput_dir: o\n", true).cache());
        for (String[] bad : new String[][]{
                {"cache: {latent_dir: x}", "cache.latent_dir"},
                {"cache: {text: true, memory_mb: 0}", "cache.memory_mb"},
                {"cache: {text: yes please}", "cache.text"},
                {"cache: {latent: true}", "cache.latent"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> TrainConfig.parse("model: {source: tiny}\noutput_dir: o\n" + bad[0] + "\n", true), bad[0]);
            assertTrue(e.getMessage().contains(bad[1]), bad[0] + " -> " + e.getMessage());
        }
    }

    @Test void cachedRunsResumeBitExactlyAndReuseTheLatentFolder(@TempDir Path tmp) throws Exception {
        TrainConfig.Caching cache = new TrainConfig.Caching(true, true, tmp.resolve("latents"), 64);
        Trainer straight = trainer(config(tmp.resolve("straight"), 4, cache));
        straight.train(TrainListener.NONE);
        EncodingCache c = straight.cache();
        System.out.println("straight run: " + c.summary());
        assertTrue(c.textHits() > 0, "captions repeat: " + c.summary());
        assertEquals(0, c.diskHits(), "a fresh folder has nothing");
        long files;
        try (Stream<Path> s = Files.list(tmp.resolve("latents"))) {
            files = s.filter(f -> f.toString().endsWith(".safetensors")).count();
        }
        assertEquals(8, files, "4 steps x 2 samples, each its own posterior");

        // stop after 2 steps and resume: the same weights as 4 straight steps (the second half reads the folder)
        trainer(config(tmp.resolve("resumed"), 2, cache)).train(TrainListener.NONE);
        Trainer resumed = trainer(config(tmp.resolve("resumed"), 4, cache));
        resumed.resume(tmp.resolve("resumed"));
        resumed.train(TrainListener.NONE);
        assertEquals(4, resumed.cache().diskHits(), "steps 3 and 4 found their posteriors on disk");
        assertSameWeights(straight, resumed, "resumed");

        // a corrupt cache file is encoded again with a warning, and the run is unchanged
        Path victim;
        try (Stream<Path> s = Files.list(tmp.resolve("latents"))) {
            victim = s.filter(f -> f.toString().endsWith(".safetensors")).findFirst().orElseThrow();
        }
        Files.writeString(victim, "not a tensor file");
        Trainer again = trainer(config(tmp.resolve("again"), 4, cache));
        again.train(TrainListener.NONE);
        assertEquals(7, again.cache().diskHits(), again.cache().summary());
        assertSameWeights(straight, again, "with one corrupt cache file");
        assertTrue(Files.size(victim) > 100, "the corrupt file was rewritten");
    }

    @Test void cachedAndUncachedRunsComputeTheSameLoss(@TempDir Path tmp) throws Exception {
        Trainer plain = trainer(config(tmp.resolve("plain"), 1, TrainConfig.Caching.off()));
        Trainer cached = trainer(config(tmp.resolve("cached"), 1, new TrainConfig.Caching(true, true, null, 64)));
        assertNull(plain.cache());
        double[] losses = new double[2];
        plain.train(new TrainListener() {
            @Override public boolean onStep(StepStats s) { losses[0] = s.loss(); return true; }
        });
        cached.train(new TrainListener() {
            @Override public boolean onStep(StepStats s) { losses[1] = s.loss(); return true; }
        });
        System.out.printf("first step loss: uncached %.9f, cached %.9f%n", losses[0], losses[1]);
        assertTrue(losses[0] > 0);
        assertEquals(losses[0], losses[1], 1e-6 * losses[0], "one-at-a-time encoding differs from batched encoding by more than rounding");
    }

    private static double firstLoss(TrainConfig config) throws Exception {
        double[] loss = new double[1];
        trainer(config).train(new TrainListener() {
            @Override public boolean onStep(StepStats s) { loss[0] = s.loss(); return true; }
        });
        return loss[0];
    }

    @Test void posteriorMeansInsteadOfDrawsCachedOrNot(@TempDir Path tmp) throws Exception {
        TrainConfig plain = config(tmp.resolve("plain"), 1, TrainConfig.Caching.off());
        double sample = firstLoss(plain);
        double mean = firstLoss(plain.withVaeLatents(TrainConfig.VaeLatents.MEAN).withOutputDir(tmp.resolve("mean")));
        double meanCached = firstLoss(config(tmp.resolve("mean-cached"), 1, new TrainConfig.Caching(false, true, null, 64))
                .withVaeLatents(TrainConfig.VaeLatents.MEAN));
        System.out.printf("first step loss: posterior draws %.9f, means %.9f, means cached %.9f%n", sample, mean, meanCached);
        assertNotEquals(sample, mean, "vae_latents: mean must change what the UNet sees");
        assertEquals(mean, meanCached, 1e-6 * mean, "cached means differ from the uncached ones by more than rounding");
    }

    @Test void minSnrWeightingChangesTheLossAndResumeChecksIt(@TempDir Path tmp) throws Exception {
        TrainConfig plain = config(tmp.resolve("plain"), 1, TrainConfig.Caching.off()).withPrediction(PredictionType.V_PREDICTION);
        double unweighted = firstLoss(plain);
        TrainConfig weighted = plain.withSnrGamma(5).withOutputDir(tmp.resolve("snr"));
        double snr = firstLoss(weighted);
        System.out.printf("first step loss (v_prediction): plain %.9f, min-SNR-5 %.9f%n", unweighted, snr);
        assertTrue(Double.isFinite(snr) && snr > 0);
        // v_prediction weights min(SNR, 5)/(SNR + 1) are all < 1: the weighted loss of the same draws is smaller
        assertTrue(snr < unweighted, snr + " vs " + unweighted);
        Trainer other = trainer(plain.withOutputDir(tmp.resolve("snr")));
        var e = assertThrows(IllegalArgumentException.class, () -> other.resume(tmp.resolve("snr")));
        assertTrue(e.getMessage().contains("snr_gamma: checkpoint 5.0, config 0.0"), e.getMessage());
    }

    @Test void timestepBiasChangesTheDrawsAndResumeChecksIt(@TempDir Path tmp) throws Exception {
        TrainConfig plain = config(tmp.resolve("plain"), 1, TrainConfig.Caching.off());
        double uniform = firstLoss(plain);
        TrainConfig biased = plain.withTimestepBias(new TimestepBias(TimestepBias.Strategy.LATER, 50, 0.1, 0, 1000))
                .withOutputDir(tmp.resolve("bias"));
        double later = firstLoss(biased);
        System.out.printf("first step loss: uniform timesteps %.9f, biased to the last 10%% %.9f%n", uniform, later);
        assertTrue(Double.isFinite(later) && later > 0);
        assertNotEquals(uniform, later, "other timesteps, another loss");
        Trainer other = trainer(plain.withOutputDir(tmp.resolve("bias")));
        var e = assertThrows(IllegalArgumentException.class, () -> other.resume(tmp.resolve("bias")));
        assertTrue(e.getMessage().contains("timestep_bias: checkpoint TimestepBias[strategy=LATER"), e.getMessage());
    }

    @Test void memoryIsBoundedAndEntriesAreCopies() {
        TextToVideoModel m = TextToVideoModel.randomTiny(MODEL_SEED);
        EncodingCache c = new EncodingCache(3 * 4 * 100, null, m.vae(), "");
        int[] encoded = {0};
        java.util.function.Function<String, INDArray> encode = s -> {
            encoded[0]++;
            return Nd4j.ones(DataType.FLOAT, 100).muli(s.length());
        };
        INDArray a = c.text("a", encode);
        a.addi(7);                                                     // the caller's copy
        assertEquals(1.0, c.text("a", encode).getDouble(0), "the cached value is unchanged");
        c.text("bb", encode);
        c.text("ccc", encode);
        c.text("dddd", encode);                                        // 4 x 400 bytes > 1,200: "a" (least recently used) goes
        assertEquals(4, encoded[0]);
        c.text("dddd", encode);
        c.text("bb", encode);
        assertEquals(4, encoded[0], "recent entries stay");
        c.text("a", encode);
        assertEquals(5, encoded[0], "the evicted entry is encoded again");
        INDArray px = Nd4j.rand(DataType.FLOAT, 1, 3, 2, 16, 16), other = px.dup();
        other.putScalar(new long[]{0, 0, 1, 3, 3}, other.getDouble(0, 0, 1, 3, 3) + 1e-3);
        int[] posteriors = {0};
        java.util.function.Function<INDArray, INDArray[]> enc = x -> {
            posteriors[0]++;
            return new INDArray[]{x.dup(), x.mul(2)};
        };
        c.posterior(px, enc);
        c.posterior(px.dup(), enc);
        c.posterior(other, enc);
        assertEquals(2, posteriors[0], "equal pixels hit, one changed value misses");
    }
}
