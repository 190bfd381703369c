package org.lavie4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.train.lora.LoraConfig;
import org.lavie4j.train.optim.AdamW;
import org.lavie4j.train.optim.LrSchedule;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Everything a training run is: the starting model, what is trained, the optimisation, the objective, checkpoints,
 * validation, the seed and where outputs go. Read from YAML or JSON ({@link #load}); every key is checked and an error
 * names the dotted key, what it must be and what it was. Defaults are LaVie base's training setup (AdamW lr 1e-4 with
 * no weight decay, 5,000 warm-up steps, clip norm 1.0, EMA 0.9999, epsilon prediction). Relative paths are taken
 * relative to the working directory, as LaVie's own configs.
 * <pre>{@code
 * model: {source: tiny, seed: 0}        # tiny | lavie4j | lavie | sd14 (+ path)
 * train: temporal                       # all | temporal ("_temp" keys only) | lora (adapters only)
 * lora: {rank: 8, alpha: 8, targets: [attn1.to_q, ...]}   # with train: lora; default the attention projections
 * steps: 1000
 * batch_size: 1
 * grad_accumulation: 1
 * optimizer: {lr: 1.0e-4, schedule: warmup, warmup_steps: 5000, betas: [0.9, 0.999], eps: 1.0e-8, weight_decay: 0.0, grad_clip: 1.0}
 * ema: {decay: 0.9999, warmup: false}   # decay 0: no EMA
 * prediction: epsilon                   # epsilon | v_prediction
 * image_loss_weight: 1.0                # alpha of L_video + alpha L_image
 * checkpoint: {every: 500, keep_last: 3}
 * validation: {every: 500, prompts: ["a red circle moving left"], seeds: [0], steps: 25, guidance: 7.5}
 * seed: 0
 * output_dir: runs/my-run
 * data: {...}                           # the data source's own settings (read by whoever builds the SampleSource)
 * gradient_checkpointing: false         # true: re-run each UNet block in backward instead of keeping its activations
 * cache: {text: false, latents: false, latent_dir: cache/latents, memory_mb: 1024}   # frozen encoders' outputs
 * vae_latents: sample                   # sample | mean: posterior draws (LaVie's) or the posterior means
 * snr_gamma: 0                          # > 0: Min-SNR-γ weighting of each sample's error (5 is the paper's); 0: off
 * timestep_bias: {strategy: none, multiplier: 1.0, portion: 0.25, begin: 0, end: 1000}   # none | earlier | later | range
 * train_text_encoder: false             # true: the text encoder trains with the UNet (not with train: lora or cache.text)
 * }</pre>
 *
 * @param model            the starting model
 * @param train            which parameters are trained
 * @param steps            optimizer steps of the whole run (a resumed run continues up to this)
 * @param batchSize        samples per micro-batch
 * @param gradAccumulation micro-batches per optimizer step
 * @param optimizer        AdamW, schedule and clipping
 * @param ema              the weight average
 * @param prediction       the training target (epsilon or v-prediction)
 * @param imageLossWeight  alpha of the joint loss (weight of the image frames' term)
 * @param checkpoint       when to checkpoint and how many to keep
 * @param validation       fixed prompts sampled every N steps
 * @param seed             seeds the trainer's noise and timestep draws (and the temporal init of an inflated SD model)
 * @param outputDir        checkpoints, validation GIFs and exports go here
 * @param vaeSlice         frames the VAE encodes at a time
 * @param data             the {@code data} mapping as written (null when absent); not interpreted here
 * @param lora             the adapters trained with {@code train: lora} (null otherwise)
 * @param gradientCheckpointing checkpoint every resnet and transformer of the UNet
 *                         ({@link org.lavie4j.nn.unet.UNet3DConditionModel#gradientCheckpointing}): the tape keeps block
 *                         inputs and outputs only, backward re-runs one block at a time (same gradients, one more forward)
 * @param cache            caches of the text encoder's and the VAE's outputs ({@link Caching})
 * @param vaeLatents       what the UNet learns from: posterior draws or means ({@link VaeLatents})
 * @param snrGamma         Min-SNR-γ loss weighting (Hang et al. 2023; diffusers {@code --snr_gamma}): each sample's error is
 *                         weighted by {@code min(SNR_t, γ)/SNR_t} (epsilon) or {@code min(SNR_t, γ)/(SNR_t + 1)}
 *                         (v_prediction), {@code SNR_t = ᾱ_t/(1−ᾱ_t)}; 0 = off (the plain mean squared error, LaVie's)
 * @param timestepBias     which training timesteps are drawn more often ({@link TimestepBias}); none = uniform (LaVie's)
 * @param trainTextEncoder train every parameter of the text encoder too (diffusers' {@code --train_text_encoder}; LaVie
 *                         keeps it frozen): same optimizer, learning rate, clipping and EMA as the UNet's parameters
 */
public record TrainConfig(ModelSource model, TrainTarget train, long steps, int batchSize, int gradAccumulation,
                          Optimizer optimizer, EmaSettings ema, PredictionType prediction, double imageLossWeight,
                          Checkpointing checkpoint, Validation validation, long seed, Path outputDir, int vaeSlice,
                          JsonNode data, LoraConfig lora, boolean gradientCheckpointing, Caching cache,
                          VaeLatents vaeLatents, double snrGamma, TimestepBias timestepBias, boolean trainTextEncoder) {

    /** Which parameters of the UNet are trained; everything else is frozen. */
    public enum TrainTarget {
        /** Every UNet parameter. */
        ALL("all"),
        /** Only the temporal layers: keys containing {@code _temp} ({@link org.lavie4j.nn.checkpoints.Inflation#isTemporal}). */
        TEMPORAL("temporal"),
        /** LoRA adapters on the UNet's Linear layers ({@link #lora()}); the UNet itself is frozen. */
        LORA("lora");

        private final String key;

        TrainTarget(String key) { this.key = key; }

        public String key() { return key; }
    }

    /**
     * What the UNet is trained on ({@code vae_latents}): a draw {@code mean + std·ε} from the VAE posterior (LaVie's and
     * diffusers' training scripts: {@code latent_dist.sample()}), or the posterior's mean ({@code latent_dist.mode()}),
     * for VAEs whose posterior noise is not small against the spread of the means (a small VAE trained briefly, whose
     * decoder learned to ignore that noise: the UNet would otherwise learn to generate it).
     */
    public enum VaeLatents {
        SAMPLE("sample"), MEAN("mean");

        private final String key;

        VaeLatents(String key) { this.key = key; }

        public String key() { return key; }
    }

    /** The learning-rate schedules ({@link LrSchedule}). */
    public enum Schedule { CONSTANT, WARMUP, COSINE }

    /**
     * AdamW and what surrounds it.
     *
     * @param gradClip max global gradient norm; 0 turns clipping off (the norm is still measured and logged)
     */
    public record Optimizer(double lr, Schedule schedule, long warmupSteps, double beta1, double beta2, double eps,
                            double weightDecay, double gradClip) {
        public Optimizer {
            if (schedule == null) throw new IllegalArgumentException("train config: 'optimizer.schedule' is required");
            if (warmupSteps < 0) throw ConfigNode.error("optimizer.warmup_steps", "must be >= 0, got " + warmupSteps);
            if (!(gradClip >= 0) || Double.isInfinite(gradClip)) throw ConfigNode.error("optimizer.grad_clip", "must be a number >= 0, got " + gradClip);
            try {
                adamW();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("train config: optimizer: " + e.getMessage(), e);
            }
        }

        /** LaVie base's: lr 1e-4, 5,000 linear warm-up steps, betas (0.9, 0.999), eps 1e-8, no weight decay, clip 1.0. */
        public static Optimizer lavie() { return new Optimizer(1e-4, Schedule.WARMUP, 5000, 0.9, 0.999, 1e-8, 0.0, 1.0); }

        public AdamW.Config adamW() { return new AdamW.Config(lr, beta1, beta2, eps, weightDecay); }

        /** The schedule over a run of {@code totalSteps}. */
        public LrSchedule lrSchedule(long totalSteps) {
            return switch (schedule) {
                case CONSTANT -> LrSchedule.constant(lr);
                case WARMUP -> LrSchedule.warmupConstant(lr, warmupSteps);
                case COSINE -> LrSchedule.warmupCosine(lr, warmupSteps, Math.max(totalSteps, warmupSteps + 1));
            };
        }

        public Optimizer withLr(double v) { return new Optimizer(v, schedule, warmupSteps, beta1, beta2, eps, weightDecay, gradClip); }

        public Optimizer withSchedule(Schedule s, long warmup) { return new Optimizer(lr, s, warmup, beta1, beta2, eps, weightDecay, gradClip); }

        public Optimizer withGradClip(double v) { return new Optimizer(lr, schedule, warmupSteps, beta1, beta2, eps, weightDecay, v); }
    }

    /** The exponential moving average of the weights; {@code decay = 0} keeps none. */
    public record EmaSettings(double decay, boolean warmup) {
        public EmaSettings {
            if (!(decay >= 0 && decay < 1)) throw ConfigNode.error("ema.decay", "must be in [0, 1), got " + decay);
        }

        public boolean enabled() { return decay > 0; }
    }

    /**
     * @param every    checkpoint every N optimizer steps (and always at the end of the run)
     * @param keepLast how many of the newest checkpoints are kept
     */
    public record Checkpointing(long every, int keepLast) {
        public Checkpointing {
            if (every < 1) throw ConfigNode.error("checkpoint.every", "must be an integer >= 1, got " + every);
            if (keepLast < 1) throw ConfigNode.error("checkpoint.keep_last", "must be an integer >= 1, got " + keepLast);
        }
    }

    /**
     * Sampling fixed prompts with fixed seeds during training (one GIF grid per validation).
     *
     * @param every    every N optimizer steps; 0 never
     * @param prompts  the prompts (at least one when {@code every > 0})
     * @param seeds    one per prompt (empty: prompt i uses seed i)
     * @param steps    denoising steps
     * @param guidance classifier-free guidance scale
     * @param frames   video length; 0 for the model's default
     * @param height   pixels; 0 for the model's default
     * @param width    pixels; 0 for the model's default
     * @param useEma   sample with the EMA weights (when there are any) rather than the live ones
     */
    public record Validation(long every, List<String> prompts, List<Long> seeds, int steps, double guidance, int frames,
                             int height, int width, boolean useEma) {
        public Validation {
            prompts = List.copyOf(prompts);
            seeds = List.copyOf(seeds);
            if (every < 0) throw ConfigNode.error("validation.every", "must be an integer >= 0, got " + every);
            if (every > 0 && prompts.isEmpty()) throw ConfigNode.error("validation.prompts", "must list at least one prompt when validation.every > 0");
            if (!seeds.isEmpty() && seeds.size() != prompts.size())
                throw ConfigNode.error("validation.seeds", "must have one seed per prompt (" + prompts.size() + "), got " + seeds.size());
            if (steps < 1) throw ConfigNode.error("validation.steps", "must be an integer >= 1, got " + steps);
            if (!(guidance >= 0) || Double.isInfinite(guidance)) throw ConfigNode.error("validation.guidance", "must be a number >= 0, got " + guidance);
            if (frames < 0) throw ConfigNode.error("validation.frames", "must be >= 0 (0: the model's), got " + frames);
            if (height < 0 || height % 8 != 0) throw ConfigNode.error("validation.height", "must be a multiple of 8 (0: the model's), got " + height);
            if (width < 0 || width % 8 != 0) throw ConfigNode.error("validation.width", "must be a multiple of 8 (0: the model's), got " + width);
        }

        /** No validation. */
        public static Validation off() { return new Validation(0, List.of(), List.of(), 25, 7.5, 0, 0, 0, true); }

        public boolean enabled() { return every > 0; }

        /** The seed of prompt {@code i}. */
        public long seed(int i) { return seeds.isEmpty() ? i : seeds.get(i); }
    }

    /**
     * Caches of the frozen encoders' outputs ({@code cache}; {@link EncodingCache}): the text states of each caption
     * ({@code text}) and the VAE posterior of each sample's frames, keyed by their content ({@code latents}), held in
     * memory up to {@code memory_mb} and, with {@code latent_dir}, also on disk for later runs. A cached run encodes
     * captions and samples one at a time, so its numbers do not depend on what the cache held (resume stays bit-exact);
     * they can differ from an uncached run's batched encoding by float rounding.
     */
    public record Caching(boolean text, boolean latents, Path latentDir, long memoryMb) {
        public static final long DEFAULT_MEMORY_MB = 1024;

        public Caching {
            if (memoryMb < 1) throw ConfigNode.error("cache.memory_mb", "must be an integer >= 1, got " + memoryMb);
            if (latentDir != null && !latents) throw ConfigNode.error("cache.latent_dir", "is only read with cache.latents: true");
        }

        /** No caching. */
        public static Caching off() { return new Caching(false, false, null, DEFAULT_MEMORY_MB); }

        public boolean enabled() { return text || latents; }
    }

    public TrainConfig {
        if (model == null) throw ConfigNode.error("model", "is required");
        if (train == null) throw ConfigNode.error("train", "is required");
        if (steps < 1) throw ConfigNode.error("steps", "must be an integer >= 1, got " + steps);
        if (batchSize < 1) throw ConfigNode.error("batch_size", "must be an integer >= 1, got " + batchSize);
        if (gradAccumulation < 1) throw ConfigNode.error("grad_accumulation", "must be an integer >= 1, got " + gradAccumulation);
        if (optimizer == null || ema == null || checkpoint == null || validation == null)
            throw new IllegalArgumentException("train config: optimizer, ema, checkpoint and validation are required");
        if (prediction != PredictionType.EPSILON && prediction != PredictionType.V_PREDICTION)
            throw ConfigNode.error("prediction", "must be epsilon or v_prediction, got " + prediction);
        if (!(imageLossWeight >= 0) || Double.isInfinite(imageLossWeight))
            throw ConfigNode.error("image_loss_weight", "must be a number >= 0, got " + imageLossWeight);
        if (outputDir == null) throw ConfigNode.error("output_dir", "is required");
        if (vaeSlice < 1) throw ConfigNode.error("vae_slice", "must be an integer >= 1, got " + vaeSlice);
        if (data != null && !data.isObject()) throw ConfigNode.error("data", "must be a mapping of keys to values, got " + data);
        if (cache == null) cache = Caching.off();
        if (vaeLatents == null) vaeLatents = VaeLatents.SAMPLE;
        if (timestepBias == null) timestepBias = TimestepBias.none();
        if (!(snrGamma >= 0) || Double.isInfinite(snrGamma))
            throw ConfigNode.error("snr_gamma", "must be a number > 0, or 0 for off, got " + snrGamma);
        if (train == TrainTarget.LORA && lora == null) lora = LoraConfig.attention(8, 8);
        if (train != TrainTarget.LORA && lora != null) throw ConfigNode.error("lora", "is only read with train: lora, not " + train.key());
        if (trainTextEncoder && train == TrainTarget.LORA)
            throw ConfigNode.error("train_text_encoder", "is only read with train: all or temporal (LoRA adapters go on the UNet only), not lora");
        if (trainTextEncoder && cache.text())
            throw ConfigNode.error("cache.text", "cannot be true with train_text_encoder: true (the text states change with every step)");
    }

    /** A config without LoRA adapters ({@code train: lora} gets rank 8, alpha 8 on the attention projections). */
    public TrainConfig(ModelSource model, TrainTarget train, long steps, int batchSize, int gradAccumulation, Optimizer optimizer,
                       EmaSettings ema, PredictionType prediction, double imageLossWeight, Checkpointing checkpoint,
                       Validation validation, long seed, Path outputDir, int vaeSlice, JsonNode data) {
        this(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation,
                seed, outputDir, vaeSlice, data, null, false, Caching.off(), VaeLatents.SAMPLE, 0, TimestepBias.none(), false);
    }

    /** A config without gradient checkpointing. */
    public TrainConfig(ModelSource model, TrainTarget train, long steps, int batchSize, int gradAccumulation, Optimizer optimizer,
                       EmaSettings ema, PredictionType prediction, double imageLossWeight, Checkpointing checkpoint,
                       Validation validation, long seed, Path outputDir, int vaeSlice, JsonNode data, LoraConfig lora) {
        this(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation,
                seed, outputDir, vaeSlice, data, lora, false, Caching.off(), VaeLatents.SAMPLE, 0, TimestepBias.none(), false);
    }

    /** A config with LaVie's defaults for {@code model} writing to {@code outputDir}: all parameters, 1,000 steps, batch 1. */
    public static TrainConfig defaults(ModelSource model, Path outputDir) {
        return new TrainConfig(model, TrainTarget.ALL, 1000, 1, 1, Optimizer.lavie(), new EmaSettings(0.9999, false),
                PredictionType.EPSILON, 1.0, new Checkpointing(500, 3), Validation.off(), 0, outputDir, 4, null);
    }

    // ------------------------------------------------------------------------------------------------ withers

    public TrainConfig withModel(ModelSource v) { return new TrainConfig(v, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withTrain(TrainTarget v) { return new TrainConfig(model, v, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, v == TrainTarget.LORA ? lora : null, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    /** {@code train: lora} with these adapters. */
    public TrainConfig withLora(LoraConfig v) { return new TrainConfig(model, TrainTarget.LORA, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, v, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withSteps(long v) { return new TrainConfig(model, train, v, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withBatch(int size, int accumulation) { return new TrainConfig(model, train, steps, size, accumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withOptimizer(Optimizer v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, v, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withEma(EmaSettings v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, v, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withPrediction(PredictionType v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, v, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withImageLossWeight(double v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, v, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withCheckpoint(Checkpointing v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, v, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withValidation(Validation v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, v, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withSeed(long v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, v, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    public TrainConfig withOutputDir(Path v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, v, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    /** {@code gradient_checkpointing}: checkpoint every UNet block (same gradients, one more forward per step). */
    public TrainConfig withGradientCheckpointing(boolean v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, v, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    /** {@code cache}: caches of the frozen encoders' outputs. */
    public TrainConfig withCache(Caching v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, v, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }
    /** {@code vae_latents}: what the UNet learns from, a draw from the VAE posterior (LaVie's) or its mean. */
    public TrainConfig withVaeLatents(VaeLatents v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, v, snrGamma, timestepBias, trainTextEncoder); }
    /** {@code snr_gamma}: Min-SNR-γ weighting of each sample's error; 0 = off. */
    public TrainConfig withSnrGamma(double v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, v, timestepBias, trainTextEncoder); }

    /** {@code timestep_bias}: which training timesteps are drawn more often. */
    public TrainConfig withTimestepBias(TimestepBias v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, v, trainTextEncoder); }

    /** {@code train_text_encoder}: train the text encoder with the UNet (diffusers' {@code --train_text_encoder}). */
    public TrainConfig withTrainTextEncoder(boolean v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, data, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, v); }

    /** Whether {@code snr_gamma} weights the loss. */
    public boolean snrWeighted() { return snrGamma > 0; }
    public TrainConfig withData(JsonNode v) { return new TrainConfig(model, train, steps, batchSize, gradAccumulation, optimizer, ema, prediction, imageLossWeight, checkpoint, validation, seed, outputDir, vaeSlice, v, lora, gradientCheckpointing, cache, vaeLatents, snrGamma, timestepBias, trainTextEncoder); }

    // ------------------------------------------------------------------------------------------------ reading

    private static final Set<String> KEYS = Set.of("model", "train", "steps", "batch_size", "grad_accumulation", "optimizer", "ema",
            "prediction", "image_loss_weight", "checkpoint", "validation", "seed", "output_dir", "vae_slice", "data", "lora",
            "gradient_checkpointing", "cache", "vae_latents", "snr_gamma", "timestep_bias", "train_text_encoder");

    /**
     * Reads a config file: {@code .yaml}/{@code .yml} as YAML, {@code .json} as JSON. Errors name the file and the key.
     *
     * @throws IOException              the file cannot be read
     * @throws IllegalArgumentException the file is not valid YAML/JSON or a key is wrong (named)
     */
    public static TrainConfig load(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean yaml = name.endsWith(".yaml") || name.endsWith(".yml");
        if (!yaml && !name.endsWith(".json"))
            throw new IllegalArgumentException(file + ": a training config must be a .yaml, .yml or .json file");
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            return parse(text, yaml);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** Parses YAML ({@code yaml = true}) or JSON text. */
    public static TrainConfig parse(String text, boolean yaml) {
        ObjectMapper mapper = yaml ? new ObjectMapper(new YAMLFactory()) : new ObjectMapper();
        mapper.enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
        JsonNode root;
        try {
            root = mapper.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("train config: not valid " + (yaml ? "YAML" : "JSON") + ": " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")" : ""), e);
        }
        return fromJson(root);
    }

    /** Reads the config tree (as {@link #toJson()} writes it, or as a user writes it with defaults left out). */
    public static TrainConfig fromJson(JsonNode json) {
        ConfigNode n = ConfigNode.root(json);
        n.checkKnown(KEYS);
        if (!n.has("model")) throw ConfigNode.error("model", "is required (e.g. {source: tiny} or {source: lavie, path: pretrained_models})");
        ModelSource model = ModelSource.fromConfig(n.object("model"));
        String trainKey = n.choice("train", "all", "all", "temporal", "lora");
        TrainTarget train = trainKey.equals("all") ? TrainTarget.ALL : trainKey.equals("lora") ? TrainTarget.LORA : TrainTarget.TEMPORAL;
        LoraConfig lora = lora(n, train);
        long steps = n.integer("steps", 1000, 1);
        int batch = n.integer32("batch_size", 1, 1);
        int accumulation = n.integer32("grad_accumulation", 1, 1);
        Optimizer optimizer = optimizer(n.object("optimizer"));
        EmaSettings ema = ema(n.object("ema"));
        String p = n.choice("prediction", "epsilon", "epsilon", "v_prediction", "v");
        PredictionType prediction = p.equals("epsilon") ? PredictionType.EPSILON : PredictionType.V_PREDICTION;
        double alpha = n.number("image_loss_weight", 1.0, 0, Double.MAX_VALUE);
        ConfigNode c = n.object("checkpoint");
        c.checkKnown(Set.of("every", "keep_last"));
        Checkpointing checkpoint = new Checkpointing(c.integer("every", 500, 1), c.integer32("keep_last", 3, 1));
        Validation validation = validation(n.object("validation"));
        long seed = n.integer("seed", 0, Long.MIN_VALUE);
        String out = n.string("output_dir", null);
        if (out.isBlank()) throw ConfigNode.error("output_dir", "must not be empty");
        int vaeSlice = n.integer32("vae_slice", 4, 1);
        JsonNode data = n.raw("data");
        if (data != null && data.isNull()) data = null;
        if (data != null && !data.isObject()) throw ConfigNode.error("data", "must be a mapping of keys to values, got " + data);
        boolean gradientCheckpointing = n.bool("gradient_checkpointing", false);
        ConfigNode k = n.object("cache");
        k.checkKnown(Set.of("text", "latents", "latent_dir", "memory_mb"));
        String latentDir = k.string("latent_dir", "");
        Caching cache = new Caching(k.bool("text", false), k.bool("latents", false), latentDir.isBlank() ? null : Path.of(latentDir),
                k.integer("memory_mb", Caching.DEFAULT_MEMORY_MB, 1));
        if (cache.latentDir() != null && !cache.latents()) throw ConfigNode.error("cache.latent_dir", "is only read with cache.latents: true");
        VaeLatents vaeLatents = n.choice("vae_latents", "sample", "sample", "mean").equals("mean") ? VaeLatents.MEAN : VaeLatents.SAMPLE;
        double snrGamma = n.number("snr_gamma", 0, 0, Double.MAX_VALUE);                   // absent or null: off
        TimestepBias bias = timestepBias(n.object("timestep_bias"));
        boolean trainTextEncoder = n.bool("train_text_encoder", false);
        return new TrainConfig(model, train, steps, batch, accumulation, optimizer, ema, prediction, alpha, checkpoint, validation,
                seed, Path.of(out), vaeSlice, data == null ? null : data.deepCopy(), lora, gradientCheckpointing, cache, vaeLatents, snrGamma,
                bias, trainTextEncoder);
    }

    private static TimestepBias timestepBias(ConfigNode b) {
        b.checkKnown(Set.of("strategy", "multiplier", "portion", "begin", "end"));
        TimestepBias d = TimestepBias.none();
        String strategy = b.choice("strategy", "none", "none", "earlier", "later", "range");
        return new TimestepBias(TimestepBias.Strategy.valueOf(strategy.toUpperCase(Locale.ROOT)), b.number("multiplier", d.multiplier(), 0, Double.MAX_VALUE),
                b.number("portion", d.portion(), 0, 1), b.integer32("begin", d.begin(), 0), b.integer32("end", d.end(), 1));
    }

    private static LoraConfig lora(ConfigNode n, TrainTarget train) {
        if (!n.has("lora")) return null;
        if (train != TrainTarget.LORA) throw ConfigNode.error("lora", "is only read with train: lora, not " + train.key());
        ConfigNode l = n.object("lora");
        l.checkKnown(Set.of("rank", "alpha", "targets"));
        int rank = l.integer32("rank", 8, 1);
        List<String> targets = l.strings("targets");
        try {
            return new LoraConfig(rank, l.number("alpha", rank, Double.MIN_VALUE, Double.MAX_VALUE),
                    targets.isEmpty() ? LoraConfig.ATTENTION_PROJECTIONS : targets);
        } catch (IllegalArgumentException e) {
            throw ConfigNode.error("lora", e.getMessage());
        }
    }

    private static Optimizer optimizer(ConfigNode o) {
        o.checkKnown(Set.of("lr", "schedule", "warmup_steps", "betas", "eps", "weight_decay", "grad_clip"));
        Optimizer d = Optimizer.lavie();
        String s = o.choice("schedule", "warmup", "constant", "warmup", "cosine");
        Schedule schedule = Schedule.valueOf(s.toUpperCase(Locale.ROOT));
        double beta1 = d.beta1(), beta2 = d.beta2();
        JsonNode betas = o.raw("betas");
        if (betas != null && !betas.isNull()) {
            if (!betas.isArray() || betas.size() != 2 || !betas.get(0).isNumber() || !betas.get(1).isNumber())
                throw ConfigNode.error(o.key("betas"), "must be a pair of numbers [beta1, beta2], got " + betas);
            beta1 = betas.get(0).asDouble();
            beta2 = betas.get(1).asDouble();
            if (!(beta1 >= 0 && beta1 < 1)) throw ConfigNode.error(o.key("betas") + "[0]", "must be in [0, 1), got " + betas.get(0));
            if (!(beta2 >= 0 && beta2 < 1)) throw ConfigNode.error(o.key("betas") + "[1]", "must be in [0, 1), got " + betas.get(1));
        }
        return new Optimizer(o.number("lr", d.lr(), 0, Double.MAX_VALUE), schedule,
                o.integer("warmup_steps", schedule == Schedule.CONSTANT ? 0 : d.warmupSteps(), 0), beta1, beta2,
                o.number("eps", d.eps(), 0, Double.MAX_VALUE), o.number("weight_decay", d.weightDecay(), 0, Double.MAX_VALUE),
                o.number("grad_clip", d.gradClip(), 0, Double.MAX_VALUE));
    }

    private static EmaSettings ema(ConfigNode e) {
        e.checkKnown(Set.of("decay", "warmup"));
        double decay = e.number("decay", 0.9999, 0, 1);
        if (decay >= 1) throw ConfigNode.error(e.key("decay"), "must be below 1 (1 would never move), got " + decay);
        return new EmaSettings(decay, e.bool("warmup", false));
    }

    private static Validation validation(ConfigNode v) {
        v.checkKnown(Set.of("every", "prompts", "seeds", "steps", "guidance", "frames", "height", "width", "use_ema"));
        List<String> prompts = v.strings("prompts");
        for (int i = 0; i < prompts.size(); i++)
            if (prompts.get(i).isBlank()) throw ConfigNode.error(v.key("prompts") + "[" + i + "]", "must not be empty");
        return new Validation(v.integer("every", 0, 0), prompts, v.longs("seeds"), v.integer32("steps", 25, 1),
                v.number("guidance", 7.5, 0, Double.MAX_VALUE), v.integer32("frames", 0, 0), v.integer32("height", 0, 0),
                v.integer32("width", 0, 0), v.bool("use_ema", true));
    }

    // ------------------------------------------------------------------------------------------------ writing

    /** The complete config (every default written out), readable by {@link #fromJson}. */
    public ObjectNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode n = f.objectNode();
        n.set("model", model.toJson());
        n.put("train", train.key());
        n.put("steps", steps);
        n.put("batch_size", batchSize);
        n.put("grad_accumulation", gradAccumulation);
        ObjectNode o = n.putObject("optimizer");
        o.put("lr", optimizer.lr());
        o.put("schedule", optimizer.schedule().name().toLowerCase(Locale.ROOT));
        o.put("warmup_steps", optimizer.warmupSteps());
        ArrayNode betas = o.putArray("betas");
        betas.add(optimizer.beta1());
        betas.add(optimizer.beta2());
        o.put("eps", optimizer.eps());
        o.put("weight_decay", optimizer.weightDecay());
        o.put("grad_clip", optimizer.gradClip());
        ObjectNode e = n.putObject("ema");
        e.put("decay", ema.decay());
        e.put("warmup", ema.warmup());
        n.put("prediction", prediction.json());
        n.put("image_loss_weight", imageLossWeight);
        ObjectNode c = n.putObject("checkpoint");
        c.put("every", checkpoint.every());
        c.put("keep_last", checkpoint.keepLast());
        ObjectNode v = n.putObject("validation");
        v.put("every", validation.every());
        ArrayNode prompts = v.putArray("prompts");
        validation.prompts().forEach(prompts::add);
        ArrayNode seeds = v.putArray("seeds");
        validation.seeds().forEach(seeds::add);
        v.put("steps", validation.steps());
        v.put("guidance", validation.guidance());
        v.put("frames", validation.frames());
        v.put("height", validation.height());
        v.put("width", validation.width());
        v.put("use_ema", validation.useEma());
        n.put("seed", seed);
        n.put("output_dir", outputDir.toString());
        n.put("vae_slice", vaeSlice);
        n.put("gradient_checkpointing", gradientCheckpointing);
        n.put("vae_latents", vaeLatents.key());
        n.put("snr_gamma", snrGamma);
        n.put("train_text_encoder", trainTextEncoder);
        ObjectNode tb = n.putObject("timestep_bias");
        tb.put("strategy", timestepBias.strategy().key());
        tb.put("multiplier", timestepBias.multiplier());
        tb.put("portion", timestepBias.portion());
        tb.put("begin", timestepBias.begin());
        tb.put("end", timestepBias.end());
        ObjectNode k = n.putObject("cache");
        k.put("text", cache.text());
        k.put("latents", cache.latents());
        if (cache.latentDir() != null) k.put("latent_dir", cache.latentDir().toString());
        k.put("memory_mb", cache.memoryMb());
        if (data != null) n.set("data", data.deepCopy());
        if (lora != null) {
            ObjectNode l = n.putObject("lora");
            l.put("rank", lora.rank());
            l.put("alpha", lora.alpha());
            ArrayNode targets = l.putArray("targets");
            lora.targets().forEach(targets::add);
        }
        return n;
    }

    /** {@link #toJson()} as YAML text. */
    public String toYaml() {
        try {
            return new ObjectMapper(new YAMLFactory()).writeValueAsString(toJson());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the config as YAML", e);
        }
    }
}
