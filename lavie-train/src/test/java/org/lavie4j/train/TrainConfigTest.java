package org.lavie4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.train.optim.LrSchedule;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Training configs from YAML and JSON: every field, defaults, round trips, and an error naming the key for each bad value. */
class TrainConfigTest {
    static final String FULL = """
            model: {source: lavie, path: pretrained_models}
            train: temporal
            steps: 20000
            batch_size: 2
            grad_accumulation: 4
            optimizer:
              lr: 2.0e-5
              schedule: cosine
              warmup_steps: 100
              betas: [0.8, 0.99]
              eps: 1.0e-6
              weight_decay: 0.01
              grad_clip: 0.5
            ema: {decay: 0.999, warmup: true}
            prediction: v_prediction
            image_loss_weight: 0.25
            checkpoint: {every: 250, keep_last: 5}
            validation:
              every: 1000
              prompts: ["a red circle moving left", "a panda playing guitar"]
              seeds: [3, 4]
              steps: 10
              guidance: 5
              frames: 8
              height: 64
              width: 96
              use_ema: false
            seed: 42
            output_dir: runs/x
            vae_slice: 2
            data: {manifest: data/videos.csv, frames: 16, stride: 3}
            gradient_checkpointing: true
            vae_latents: mean
            snr_gamma: 5
            timestep_bias: {strategy: range, multiplier: 3, begin: 700, end: 1000}
            train_text_encoder: true
            """;

    private static TrainConfig yaml(String text) { return TrainConfig.parse(text, true); }

    private static String error(String text) {
        return assertThrows(IllegalArgumentException.class, () -> yaml(text), text).getMessage();
    }

    @Test void everyFieldIsRead() {
        TrainConfig c = yaml(FULL);
        assertEquals(new ModelSource.Pretrained(ModelSource.Layout.LAVIE, Path.of("pretrained_models")), c.model());
        assertEquals(TrainConfig.TrainTarget.TEMPORAL, c.train());
        assertEquals(20000, c.steps());
        assertEquals(2, c.batchSize());
        assertEquals(4, c.gradAccumulation());
        assertEquals(new TrainConfig.Optimizer(2e-5, TrainConfig.Schedule.COSINE, 100, 0.8, 0.99, 1e-6, 0.01, 0.5), c.optimizer());
        assertEquals(new TrainConfig.EmaSettings(0.999, true), c.ema());
        assertEquals(PredictionType.V_PREDICTION, c.prediction());
        assertEquals(0.25, c.imageLossWeight());
        assertEquals(new TrainConfig.Checkpointing(250, 5), c.checkpoint());
        assertEquals(new TrainConfig.Validation(1000, List.of("a red circle moving left", "a panda playing guitar"), List.of(3L, 4L),
                10, 5.0, 8, 64, 96, false), c.validation());
        assertEquals(42, c.seed());
        assertEquals(Path.of("runs/x"), c.outputDir());
        assertEquals(2, c.vaeSlice());
        assertEquals("data/videos.csv", c.data().path("manifest").asText());
        assertEquals(new LrSchedule.WarmupCosine(2e-5, 100, 20000), c.optimizer().lrSchedule(c.steps()));
        assertEquals(3, c.validation().seed(0));
        assertTrue(c.gradientCheckpointing());
        assertEquals(TrainConfig.VaeLatents.MEAN, c.vaeLatents());
        assertEquals(5.0, c.snrGamma());
        assertTrue(c.snrWeighted());
        assertEquals(new TimestepBias(TimestepBias.Strategy.RANGE, 3, 0.25, 700, 1000), c.timestepBias());
        assertTrue(c.trainTextEncoder());
    }

    @Test void leftOutKeysTakeLaViesDefaults() {
        TrainConfig c = yaml("model: {source: tiny}\noutput_dir: out\n");
        assertEquals(TrainConfig.defaults(new ModelSource.Tiny(0), Path.of("out")), c);
        assertEquals(1e-4, c.optimizer().lr());
        assertEquals(LrSchedule.warmupConstant(1e-4, 5000), c.optimizer().lrSchedule(c.steps()), "LaVie: 5,000 warm-up steps");
        assertEquals(1.0, c.optimizer().gradClip());
        assertEquals(0.0, c.optimizer().weightDecay());
        assertEquals(0.9999, c.ema().decay());
        assertFalse(c.validation().enabled());
        assertFalse(c.gradientCheckpointing());
        assertEquals(TrainConfig.VaeLatents.SAMPLE, c.vaeLatents(), "LaVie trains on posterior draws");
        assertFalse(c.snrWeighted(), "LaVie's loss is the plain mean squared error");
        assertFalse(yaml("model: {source: tiny}\noutput_dir: o\nsnr_gamma: null\n").snrWeighted());
        assertEquals(TimestepBias.none(), c.timestepBias(), "LaVie draws timesteps uniformly");
        assertFalse(c.trainTextEncoder(), "LaVie keeps the text encoder frozen");
        assertEquals(new TimestepBias(TimestepBias.Strategy.LATER, 2, 0.25, 0, 1000),
                yaml("model: {source: tiny}\noutput_dir: o\ntimestep_bias: {strategy: later, multiplier: 2}\n").timestepBias());
        assertEquals(0, yaml("model: {source: tiny}\noutput_dir: out\noptimizer: {schedule: constant}\n").optimizer().warmupSteps());
        assertEquals(1, yaml("model: {source: tiny}\noutput_dir: o\nvalidation: {every: 5, prompts: [a, b]}\n").validation().seed(1),
                "without seeds prompt i uses seed i");
        assertEquals(PredictionType.V_PREDICTION, yaml("model: {source: tiny}\noutput_dir: o\nprediction: v\n").prediction());
        assertFalse(yaml("model: {source: tiny}\noutput_dir: o\nema: {decay: 0}\n").ema().enabled());
    }

    @Test void roundTripsThroughJsonAndYaml() {
        TrainConfig c = yaml(FULL);
        assertEquals(c, TrainConfig.fromJson(c.toJson()));
        assertEquals(c, TrainConfig.parse(c.toJson().toString(), false));
        assertEquals(c, yaml(c.toYaml()));
        TrainConfig tiny = TrainConfig.defaults(new ModelSource.Tiny(-5), Path.of("o")).withData(null);
        assertEquals(tiny, TrainConfig.fromJson(tiny.toJson()));
    }

    @Test void everyBadValueNamesItsKey() {
        String base = "model: {source: tiny}\noutput_dir: out\n";
        String[][] cases = {
                {"steps: 0", "'steps' must be an integer >= 1, got 0"},
                {"steps: ten", "'steps' must be an integer >= 1, got \"ten\""},
                {"batch_size: 1.5", "'batch_size'"},
                {"grad_accumulation: 0", "'grad_accumulation'"},
                {"optimizer: {lr: -1}", "'optimizer.lr' must be a number in [0, inf], got -1"},
                {"optimizer: {betas: [0.9]}", "'optimizer.betas' must be a pair"},
                {"optimizer: {betas: [0.9, 1.5]}", "'optimizer.betas[1]' must be in [0, 1)"},
                {"optimizer: {schedule: linear}", "'optimizer.schedule' must be one of [constant, warmup, cosine], got 'linear'"},
                {"optimizer: {lrr: 1}", "unknown key 'optimizer.lrr'"},
                {"optimizer: {warmup_steps: -2}", "'optimizer.warmup_steps'"},
                {"optimizer: {grad_clip: x}", "'optimizer.grad_clip'"},
                {"optimizer: 3", "'optimizer' must be a mapping"},
                {"ema: {decay: 1.0}", "'ema.decay' must be below 1"},
                {"ema: {warmup: yes please}", "'ema.warmup' must be true or false"},
                {"prediction: sample", "'prediction' must be one of [epsilon, v_prediction, v], got 'sample'"},
                {"lora: {rank: 4}", "'lora' is only read with train: lora, not all"},
                {"train: lora\nlora: {rank: 0}", "'lora.rank' must be an integer >= 1"},
                {"train: lora\nlora: {targets: [.to_q]}", "'lora' invalid LoRA target module pattern '.to_q'"},
                {"train: everything", "'train' must be one of [all, temporal, lora]"},
                {"checkpoint: {every: 0}", "'checkpoint.every' must be an integer >= 1"},
                {"checkpoint: {keep_last: 0}", "'checkpoint.keep_last' must be an integer >= 1"},
                {"validation: {every: 10}", "'validation.prompts' must list at least one prompt"},
                {"validation: {every: 10, prompts: [a, b], seeds: [1]}", "'validation.seeds' must have one seed per prompt (2), got 1"},
                {"validation: {prompts: [a, 3]}", "'validation.prompts[1]' must be a string"},
                {"validation: {prompts: ['']}", "'validation.prompts[0]' must not be empty"},
                {"validation: {height: 12}", "'validation.height' must be a multiple of 8"},
                {"validation: {guidance: -1}", "'validation.guidance'"},
                {"validation: {step: 3}", "unknown key 'validation.step'"},
                {"image_loss_weight: -1", "'image_loss_weight'"},
                {"vae_slice: 0", "'vae_slice'"},
                {"vae_latents: mode", "'vae_latents' must be one of [sample, mean], got 'mode'"},
                {"snr_gamma: -1", "'snr_gamma' must be a number in [0, "},
                {"snr_gamma: min", "'snr_gamma' must be a number"},
                {"timestep_bias: {strategy: late}", "'timestep_bias.strategy' must be one of [none, earlier, later, range], got 'late'"},
                {"timestep_bias: {strategy: later, multiplier: 0}", "'timestep_bias.multiplier' must be a number > 0, got 0.0"},
                {"timestep_bias: {strategy: later, portion: 1.5}", "'timestep_bias.portion' must be a number in [0, 1]"},
                {"timestep_bias: {strategy: later, portion: 0}", "'timestep_bias.portion' must be in (0, 1], got 0.0"},
                {"timestep_bias: {strategy: range, begin: 800, end: 700}", "'timestep_bias.end' must be above begin (800), got 700"},
                {"timestep_bias: {strategy: range, start: 800}", "unknown key 'timestep_bias.start'"},
                {"data: 3", "'data' must be a mapping"},
                {"train_text_encoder: 1", "'train_text_encoder' must be true or false"},
                {"train_text_encoder: true\ntrain: lora", "'train_text_encoder' is only read with train: all or temporal"},
                {"train_text_encoder: true\ncache: {text: true}", "'cache.text' cannot be true with train_text_encoder: true"},
                {"seed: 1.5", "'seed'"},
                {"learning_rate: 1", "unknown key 'learning_rate'"},
        };
        for (String[] c : cases) {
            String m = error(base + c[0] + "\n");
            assertTrue(m.contains(c[1]), c[0] + " -> " + m);
            assertTrue(m.startsWith("train config: "), m);
        }
        assertTrue(error("output_dir: out\n").contains("'model' is required"));
        assertTrue(error("model: {source: tiny}\n").contains("'output_dir' is required"));
        assertTrue(error("model: {source: sd15, path: x}\noutput_dir: o\n").contains("'model.source' must be one of [tiny, lavie4j, lavie, sd14]"));
        assertTrue(error("model: {source: lavie}\noutput_dir: o\n").contains("'model.path' is required"));
        assertTrue(error("model: {source: tiny, path: x}\noutput_dir: o\n").contains("unknown key 'model.path'"));
        assertTrue(error("model: {source: sd14, path: ''}\noutput_dir: o\n").contains("'model.path' must not be empty"));
        assertTrue(error("model: tiny\noutput_dir: o\n").contains("'model' must be a mapping"));
        assertTrue(error("steps: [\n").contains("not valid YAML"));
        assertTrue(error("model: {source: tiny}\noutput_dir: o\nsteps: 1\nsteps: 2\n").contains("not valid YAML"), "duplicate keys");
        assertTrue(error("- a\n- b\n").contains("must be a mapping"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.parse("{\"model\": ", false)).getMessage().contains("not valid JSON"));
    }

    @Test void filesByExtension(@TempDir Path tmp) throws Exception {
        Path y = tmp.resolve("run.yaml"), j = tmp.resolve("run.json"), t = tmp.resolve("run.txt");
        Files.writeString(y, FULL);
        Files.writeString(j, yaml(FULL).toJson().toString());
        Files.writeString(t, FULL);
        assertEquals(TrainConfig.load(y), TrainConfig.load(j));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.load(t)).getMessage().contains(".yaml, .yml or .json"));
        Files.writeString(y, "model: {source: tiny}\noutput_dir: o\nsteps: -1\n");
        String m = assertThrows(IllegalArgumentException.class, () -> TrainConfig.load(y)).getMessage();
        assertTrue(m.startsWith(y + ": train config: 'steps'"), m);
        assertThrows(NoSuchFileException.class, () -> TrainConfig.load(tmp.resolve("absent.yaml")));
    }

    @Test void modelSourcesCheckTheirFolders(@TempDir Path tmp) throws Exception {
        assertEquals("lavie-tiny-random", new ModelSource.Tiny(1).load(0).info().name());
        NoSuchFileException e = assertThrows(NoSuchFileException.class,
                () -> new ModelSource.Pretrained(ModelSource.Layout.LAVIE4J, tmp.resolve("absent")).load(0));
        assertTrue(e.getMessage().contains("absent"), e.getMessage());
        e = assertThrows(NoSuchFileException.class, () -> new ModelSource.Pretrained(ModelSource.Layout.LAVIE, tmp).load(0));
        assertTrue(e.getMessage().contains("lavie_base.pt"), e.getMessage());
        e = assertThrows(NoSuchFileException.class, () -> new ModelSource.Pretrained(ModelSource.Layout.LAVIE4J, tmp).load(0));
        assertTrue(e.getMessage().contains("lavie4j.json"), e.getMessage());
        assertThrows(NoSuchFileException.class, () -> new ModelSource.Pretrained(ModelSource.Layout.SD14, tmp).load(0));
    }

    @Test void theCommittedEmbeddedModelRecipeParses() throws java.io.IOException {
        Path file = Path.of("..", "training", "shapes32.yaml");
        assertTrue(java.nio.file.Files.exists(file), file.toAbsolutePath().toString());
        TrainConfig c = TrainConfig.load(file);
        assertEquals(TrainConfig.VaeLatents.MEAN, c.vaeLatents());
        assertTrue(c.cache().text() && c.cache().latents());
        assertEquals(8, c.batchSize());
        assertEquals(TrainConfig.Schedule.COSINE, c.optimizer().schedule());
        assertEquals(PredictionType.V_PREDICTION, c.prediction(), "the epsilon runs ignored the prompt at high noise");
        // the UNet it starts from: training/unet-x2.json, cross-attention (and temporal attention) at both levels
        var unet = org.lavie4j.nn.unet.UNetConfig.fromJson(new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(java.nio.file.Files.readString(Path.of("..", "training", "unet-x2.json")))).config();
        assertEquals(List.of(org.lavie4j.nn.unet.UNetConfig.DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D,
                org.lavie4j.nn.unet.UNetConfig.DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D), unet.downBlockTypes());
        assertEquals(org.lavie4j.nn.unet.UNetConfig.tiny().blockOutChannels(), unet.blockOutChannels());
    }

    /**
     * Every committed training config of the embedded model's stages parses; the direction and mixed stages keep the
     * recipe's settings (training/README.md, runs 34 and 36).
     */
    @Test void everyCommittedStageConfigParses() throws java.io.IOException {
        List<Path> files;
        try (var listing = java.nio.file.Files.list(Path.of("..", "training"))) {
            files = listing.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        }
        assertTrue(files.size() >= 4, files.toString());
        for (Path f : files) assertNotNull(TrainConfig.load(f), f.toString());
        TrainConfig direction = TrainConfig.load(Path.of("..", "training", "shapes32-direction.yaml"));
        TrainConfig mixed = TrainConfig.load(Path.of("..", "training", "shapes32-mixed.yaml"));
        for (TrainConfig c : List.of(direction, mixed)) {
            assertEquals(PredictionType.V_PREDICTION, c.prediction());
            assertTrue(c.cache().text(), "the trained tower is frozen in these stages, so its states can be cached");
            assertFalse(c.trainTextEncoder());
        }
        assertEquals(new TimestepBias(TimestepBias.Strategy.RANGE, 1000, 0.25, 990, 1000), direction.timestepBias());
        assertEquals(new TimestepBias(TimestepBias.Strategy.RANGE, 5, 0.25, 900, 1000), mixed.timestepBias());
        assertEquals(Path.of("runs/shapes32/unet-direction/model-step-900"), ((ModelSource.Pretrained) mixed.model()).path());
    }
}
