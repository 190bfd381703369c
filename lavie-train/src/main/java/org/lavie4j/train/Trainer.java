package org.lavie4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.Views;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.checkpoints.Inflation;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.lavie4j.train.checkpoint.CheckpointStore;
import org.lavie4j.train.checkpoint.Provenance;
import org.lavie4j.train.checkpoint.TrainCheckpoint;
import org.lavie4j.train.checkpoint.TrainerState;
import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.TrainingSample;
import org.lavie4j.train.loss.DiffusionLoss;
import org.lavie4j.train.loss.JointLoss;
import org.lavie4j.train.lora.Lora;
import org.lavie4j.train.lora.LoraAdapters;
import org.lavie4j.train.optim.AdamW;
import org.lavie4j.train.optim.Ema;
import org.lavie4j.train.optim.GradAccumulator;
import org.lavie4j.train.optim.GradClip;
import org.lavie4j.train.optim.LrSchedule;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Joint image-video fine-tuning of LaVie's UNet (LaVie base {@code train.py}), the loop written out in {@link #train}.
 * One optimizer step:
 * <pre>
 * for each of grad_accumulation micro-batches (batch_size samples each, generator g = StepRandom(seed, micro-batch index)):
 *   pixels (B, 3, F + I, H, W): each sample's clip frames, then its I still images       [frozen, no tape]
 *   latents = VAE posterior sample (ε ~ g), or its mean (vae_latents: mean), · scaling_factor   [frozen, no tape]
 *   text    = CLIP(clip caption, image captions) -> (B, 1 + I, L, D)  ((B, L, D) when I = 0) [frozen, no tape]
 *   t ~ U{0, .., T−1} (g; timestep_bias draws some more often), noise ~ N(0, 1) (g), x_t = addNoise(latents, noise, t)
 *   target  = noise (epsilon) or v = √ᾱ_t·noise − √(1−ᾱ_t)·latents (v_prediction)
 *   under Grad.record(): pred = UNet(x_t, t, text, FrameLayout(F, I)); L = L_video + α·L_image; backward
 *     (with snr_gamma each sample's error in both terms is weighted by its Min-SNR-γ weight)
 * grads /= grad_accumulation; clip to grad_clip; AdamW step at lr = schedule(step); EMA update; zero grads
 * </pre>
 * Every {@code checkpoint.every} steps (and at the end) a checkpoint is written ({@link TrainCheckpoint} in a
 * {@link CheckpointStore} under {@code output_dir/checkpoints}); every {@code validation.every} steps the validation
 * prompts are sampled with their fixed seeds (EMA weights by default) into {@code output_dir/validation/step-N.gif}.
 *
 * <p>Determinism: all randomness comes from generators derived from (seed, micro-batch index) ({@link StepRandom}), and
 * the data source is seekable, so a run resumed from a checkpoint ({@link #resume}) computes bit for bit what the
 * uninterrupted run would have (same machine, same thread count).
 *
 * <p>Memory: each micro-batch's tensors are freed as soon as they die, the tape frees activations during backward, and
 * the trainer takes ownership of the samples it is handed: their arrays are freed after use (a source must hand out
 * fresh arrays). Deviations from the reference: latents are not precomputed (the VAE runs every step), and the
 * randomness is Java's, not torch's.
 */
public final class Trainer {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
    /** The adapters' file in a checkpoint folder of a {@code train: lora} run. */
    public static final String LORA_FILE = "lora.safetensors";

    private final TrainConfig config;
    private final TextToVideoModel model;
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet3DConditionModel unet;
    private final AutoencoderKL vae;
    private final Scheduler noiseScheduler;
    private final SampleSource source;
    private final LinkedHashMap<String, Parameter> trainable;
    private final LoraAdapters lora;   // train: lora only
    private final boolean trainText;   // train_text_encoder: the text encoder trains with the UNet
    /**
     * What the optimizer and the EMA see as the model: the LoRA adapters for {@code train: lora}, the UNet and the text
     * encoder ({@link UNetAndTextEncoder}) for {@code train_text_encoder}, else the UNet.
     */
    private final Module trained;
    private final EncodingCache cache; // null without config.cache
    private final AdamW optimizer;
    private final Ema ema;
    private final LrSchedule schedule;
    private final GradAccumulator accumulator;
    private final JointLoss loss;
    private final CheckpointStore store;
    private long step, skippedSteps, lastCheckpointStep = -1;
    private String parent;

    /**
     * A trainer of {@code model}'s UNet on {@code source}. The model's scheduler config gets the config's prediction
     * type (so validation and export sample with it); the VAE is frozen, and so is the text encoder unless
     * {@code config.trainTextEncoder()}; the UNet's parameters are trainable as {@code config.train()} says.
     *
     * @throws IllegalArgumentException nothing to train (e.g. {@code train: temporal} on a model without temporal layers)
     */
    public Trainer(TrainConfig config, TextToVideoModel model, SampleSource source) {
        this.config = Objects.requireNonNull(config, "config");
        Objects.requireNonNull(model, "model");
        this.source = Objects.requireNonNull(source, "source");
        this.model = new TextToVideoModel(model.tokenizer(), model.textEncoder(), model.unet(), model.vae(),
                model.schedulerConfig().withPredictionType(config.prediction()), model.info());
        this.tokenizer = model.tokenizer();
        this.textEncoder = model.textEncoder();
        this.unet = model.unet();
        this.vae = model.vae();
        this.noiseScheduler = Scheduler.create(this.model.schedulerConfig().withKind(SchedulerKind.DDPM));
        config.timestepBias().weights(noiseScheduler.config().numTrainTimesteps());   // a range past the schedule fails here, named

        trainText = config.trainTextEncoder();
        textEncoder.train(trainText);
        textEncoder.setTrainable(trainText);
        vae.eval();
        vae.setTrainable(false);
        unet.train(true);
        unet.gradientCheckpointing(config.gradientCheckpointing());   // no effect outside the training tape
        trainable = new LinkedHashMap<>();
        // train: lora: only the adapters' A and B (the UNet is frozen; the adapted Linears add s·B(A x))
        lora = config.train() == TrainConfig.TrainTarget.LORA ? Lora.apply(unet, config.lora(), config.seed()) : null;
        trained = lora != null ? lora.module() : trainText ? new UNetAndTextEncoder(unet, textEncoder) : unet;
        if (lora != null) trainable.putAll(lora.namedParameters());
        else {
            unet.namedParameters().forEach((key, p) -> p.setTrainable(config.train() == TrainConfig.TrainTarget.ALL || Inflation.isTemporal(key)));
            trained.namedParameters().forEach((key, p) -> {                    // train_text_encoder: unet.* and text_encoder.*
                if (p.isTrainable()) trainable.put(key, p);
            });
        }
        if (trainable.isEmpty())
            throw new IllegalArgumentException("train: " + config.train().key() + " selects no parameter of this UNet"
                    + (config.train() == TrainConfig.TrainTarget.TEMPORAL ? " (no key contains '" + Inflation.TEMPORAL_MARKER + "')" : ""));
        optimizer = new AdamW(trainable, config.optimizer().adamW());
        ema = config.ema().enabled() ? new Ema(trained, config.ema().decay(), config.ema().warmup()) : null;   // LoRA: the adapters
        schedule = config.optimizer().lrSchedule(config.steps());
        accumulator = new GradAccumulator(config.gradAccumulation(), GradAccumulator.Reduction.MEAN);
        loss = new JointLoss(config.imageLossWeight());
        store = new CheckpointStore(config.outputDir().resolve("checkpoints"), config.checkpoint().keepLast());
        TrainConfig.Caching c = config.cache();
        cache = c.enabled() ? new EncodingCache(c.memoryMb() << 20, c.latentDir(), c.latents() ? vae : null, "vae_slice=" + config.vaeSlice()) : null;
    }

    /** A trainer of the model the config names ({@link ModelSource#load}). */
    public static Trainer create(TrainConfig config, SampleSource source) throws IOException {
        return new Trainer(config, config.model().load(config.seed()), source);
    }

    public TrainConfig config() { return config; }

    /** The model being trained (its scheduler config carries the training prediction type). */
    public TextToVideoModel model() { return model; }

    /** Optimizer steps completed. */
    public long step() { return step; }

    /** The trained parameters, by key. */
    public Map<String, Parameter> trainableParameters() { return java.util.Collections.unmodifiableMap(trainable); }

    /** The encoders' output cache ({@code cache}), or null. */
    EncodingCache cache() { return cache; }

    /** The LoRA adapters being trained ({@code train: lora}), or null. */
    public LoraAdapters lora() { return lora; }

    /** The weight average, or null when the run keeps none. */
    public Ema ema() { return ema; }

    public AdamW optimizer() { return optimizer; }

    public CheckpointStore checkpoints() { return store; }

    // ------------------------------------------------------------------------------------------------ the loop

    /** What a {@link #train} call did. */
    public record Result(long startStep, long endStep, Path lastCheckpoint, Duration elapsed) {}

    /**
     * Trains from the current step up to {@code config.steps()} (or until the listener stops it), checkpointing and
     * validating on the way, and writes a final checkpoint.
     */
    public Result train(TrainListener listener) throws IOException {
        if (listener == null) listener = TrainListener.NONE;
        long total = config.steps(), start = step, runStart = System.nanoTime();
        Memory.StepGuard guard = new Memory.StepGuard();
        int accumulation = config.gradAccumulation();
        listener.onStart(step, total, trainableCount());
        Path last = null;
        while (step < total) {
            long t0 = System.nanoTime();
            double lossSum = 0, videoSum = 0, imageSum = 0;
            boolean images = false;
            for (int micro = 0; micro < accumulation; micro++) {
                double[] l = microBatch(nextBatch(), step * accumulation + micro);
                lossSum += l[0];
                videoSum += l[1];
                if (!Double.isNaN(l[2])) {
                    imageSum += l[2];
                    images = true;
                }
                accumulator.microBatchDone(trainable.values());       // the last one divides the sums by k
            }
            double lossMean = lossSum / accumulation;
            double norm = GradClip.clipOrMeasure(trainable.values(), config.optimizer().gradClip());
            double lr = schedule.lr(step);
            boolean skip = !Double.isFinite(norm) || !Double.isFinite(lossMean);
            if (skip) {
                skippedSteps++;
                LOG.warn("step {}: non-finite loss {} or gradient norm {}: update skipped", step + 1, lossMean, norm);
            } else {
                optimizer.setLr(lr);
                optimizer.step();
                if (ema != null) ema.update();
            }
            optimizer.zeroGrad();
            step++;
            guard.afterStep();                                       // memory flat over the steps

            long now = System.nanoTime();
            double seconds = (now - t0) / 1e9;
            StepStats stats = new StepStats(step, total, lossMean, videoSum / accumulation, images ? imageSum / accumulation : Double.NaN,
                    lr, norm, skip, (double) config.batchSize() * accumulation / Math.max(seconds, 1e-9),
                    Duration.ofNanos(now - t0), Duration.ofNanos(now - runStart));
            boolean go = listener.onStep(stats);
            if (step % config.checkpoint().every() == 0 || step == total || !go) {
                last = saveCheckpoint();
                listener.onCheckpoint(step, last);
            }
            if (config.validation().enabled() && step % config.validation().every() == 0)
                listener.onValidation(step, validate());
            if (!go) break;
        }
        if (last == null && lastCheckpointStep != step) last = saveCheckpoint();
        if (cache != null) LOG.info("encoding cache: {}", cache.summary());
        return new Result(start, step, last, Duration.ofNanos(System.nanoTime() - runStart));
    }

    /** One micro-batch: forward, loss, backward (gradients accumulate). Returns {total, video, image (NaN: none)}. */
    private double[] microBatch(Batch batch, long index) {
        SplittableRandom g = StepRandom.forMicroBatch(config.seed(), index);
        FrameLayout layout = batch.layout();
        INDArray latents, text, ids, timesteps, noise, noisy, target, weights;
        try (Tape off = Grad.disabled()) {
            latents = encodeLatents(batch.pixels(), g);                                   // (b, 4, F+I, h, w)
            Memory.free(batch.pixels());
            ids = trainText ? tokenizer.encode(batch.captions()).inputIdsArray() : null;   // (b·(1+I), L): encoded on the tape
            text = trainText ? null : encodeText(batch.captions(), batch.size(), layout.imageCount());   // (b, 1+I, L, D) or (b, L, D)
            timesteps = config.timestepBias().draw(g, noiseScheduler.config().numTrainTimesteps(), batch.size());   // (b) INT64
            noise = StepRandom.randn(g, latents.shape());
            noisy = noiseScheduler.addNoise(latents, noise, timesteps);
            target = DiffusionLoss.target(config.prediction(), noiseScheduler, latents, noise, timesteps);
            weights = config.snrWeighted() ? DiffusionLoss.minSnrWeights(config.prediction(), noiseScheduler, timesteps, config.snrGamma()) : null;
        }
        double[] values = new double[3];
        try (Tape tape = Grad.record()) {
            Tensor states = trainText ? textStates(textEncoder.forward(Tensor.of(ids)), batch.size(), layout.imageCount()) : Tensor.of(text);
            Tensor pred = unet.forward(Tensor.of(noisy), Tensor.of(timesteps), states, layout);
            JointLoss.Result r = loss.compute(pred, target, layout, weights);
            values[0] = r.total().item();
            values[1] = r.video().item();
            values[2] = r.image() == null ? Double.NaN : r.image().item();
            tape.backward(r.total());
            Memory.free(r.total().data());                                                 // backward keeps its output
        }
        if (target != noise && target != latents) Memory.free(target);
        Memory.free(latents, noise, noisy, timesteps);
        Memory.free(trainText ? ids : text);
        if (weights != null) Memory.free(weights);
        return values;
    }

    /**
     * VAE posterior sample of the frames, times the scaling factor; ε drawn from {@code g}. With {@code cache.latents}
     * each sample's posterior comes from the cache (encoded alone on a miss).
     */
    private INDArray encodeLatents(INDArray pixels, SplittableRandom g) {
        if (cache == null || !config.cache().latents()) {
            DiagonalGaussian posterior = vae.encodeVideo(Tensor.of(pixels), config.vaeSlice());
            if (config.vaeLatents() == TrainConfig.VaeLatents.MEAN) {
                INDArray mean = posterior.mean().data().dup('c');
                posterior.release();
                return mean.muli(vae.config().scalingFactor());
            }
            INDArray eps = StepRandom.randn(g, posterior.mean().shape());
            Tensor sample = posterior.sample(Tensor.of(eps));
            posterior.release();
            Memory.free(eps);
            return sample.data().muli(vae.config().scalingFactor());
        }
        int b = (int) pixels.size(0);
        INDArray[] means = new INDArray[b], stds = new INDArray[b];
        for (int i = 0; i < b; i++) {
            INDArray row = Views.interval(pixels, 0, i, i + 1).dup('c');                   // (1, 3, F+I, H, W)
            INDArray[] p = cache.posterior(row, this::posterior);
            Memory.free(row);
            means[i] = p[0];
            stds[i] = p[1];
        }
        INDArray mean = b == 1 ? means[0] : Nd4j.concat(0, means), std = b == 1 ? stds[0] : Nd4j.concat(0, stds);
        if (b > 1) for (int i = 0; i < b; i++) Memory.free(means[i], stds[i]);
        if (config.vaeLatents() == TrainConfig.VaeLatents.MEAN) {
            Memory.free(std);
            return mean.muli(vae.config().scalingFactor());
        }
        INDArray eps = StepRandom.randn(g, mean.shape());
        INDArray scaled = std.mul(eps);                                                    // mean + std·ε, as DiagonalGaussian.sample
        INDArray sample = mean.add(scaled);
        Memory.free(mean, std, eps, scaled);
        return sample.muli(vae.config().scalingFactor());
    }

    /** {mean, std} of one sample's pixels (1, 3, F+I, H, W), fresh arrays. */
    private INDArray[] posterior(INDArray pixels) {
        DiagonalGaussian p = vae.encodeVideo(Tensor.of(pixels), config.vaeSlice());
        INDArray[] out = {p.mean().data().dup('c'), p.std().data().dup('c')};
        p.release();
        return out;
    }

    /**
     * Text states of each sample's captions [clip, image 1, ..., image I]. With {@code cache.text} each caption's states
     * come from the cache (encoded alone on a miss).
     */
    private INDArray encodeText(List<String> captions, int batch, int imageCount) {
        INDArray out;
        if (cache != null && config.cache().text()) {
            INDArray[] rows = new INDArray[captions.size()];
            for (int i = 0; i < rows.length; i++) rows[i] = cache.text(captions.get(i), c -> encodeCaptions(List.of(c)));   // (1, L, D)
            out = rows.length == 1 ? rows[0] : Nd4j.concat(0, rows);
            if (rows.length > 1) Memory.free(rows);
        } else {
            out = encodeCaptions(captions);
        }
        long l = out.size(1), d = out.size(2);
        return imageCount == 0 ? out.reshape('c', batch, l, d) : out.reshape('c', batch, 1 + imageCount, l, d);
    }

    /** The text encoder's states (b·(1+I), L, D) laid out as the UNet takes them, (b, L, D) or (b, 1+I, L, D); on the tape. */
    private static Tensor textStates(Tensor states, int batch, int imageCount) {
        long l = states.shape()[1], d = states.shape()[2];
        return imageCount == 0 ? states : Ops.reshape(states, batch, 1 + imageCount, l, d);
    }

    /** The text encoder's states of {@code captions}, (n, L, D) float32, a fresh array. */
    private INDArray encodeCaptions(List<String> captions) {
        INDArray ids = tokenizer.encode(captions).inputIdsArray();                        // (n, L)
        Tensor y = textEncoder.forward(Tensor.of(ids));                                    // (n, L, D)
        Memory.free(ids);
        INDArray out = y.data().castTo(DataType.FLOAT).dup('c');
        y.release();
        return out;
    }

    /** The pixels and captions of one micro-batch. */
    private record Batch(INDArray pixels, List<String> captions, FrameLayout layout, int size) {}

    /** Takes batch_size samples and lays them out as (B, 3, F + I, H, W); frees the samples' arrays. */
    private Batch nextBatch() {
        int b = config.batchSize();
        List<INDArray> rows = new ArrayList<>(b);
        List<String> captions = new ArrayList<>();
        FrameLayout layout = null;
        long[] clipShape = null;
        for (int i = 0; i < b; i++) {
            TrainingSample s = source.next();
            if (layout == null) {
                layout = s.layout();
                clipShape = s.clip().shape();
            } else if (!layout.equals(s.layout()) || !Arrays.equals(clipShape, s.clip().shape())) {
                throw new IllegalStateException("a batch needs samples of one shape: sample " + i + " (" + s.source() + ") has clip "
                        + Arrays.toString(s.clip().shape()) + " with " + s.images().size() + " images, sample 0 had "
                        + Arrays.toString(clipShape) + " with " + layout.imageCount());
            }
            List<INDArray> frames = new ArrayList<>();
            frames.add(s.clip());                                                          // (3, F, H, W)
            for (INDArray im : s.images()) frames.add(im.reshape(im.size(0), 1, im.size(1), im.size(2)));   // (3, 1, H, W)
            INDArray row = frames.size() == 1 ? s.clip().castTo(DataType.FLOAT).dup('c')
                    : Nd4j.concat(1, frames.toArray(INDArray[]::new)).castTo(DataType.FLOAT);       // (3, F+I, H, W)
            rows.add(row);
            captions.add(s.caption());
            captions.addAll(s.imageCaptions());
            Memory.free(s.clip());
            for (INDArray im : s.images()) Memory.free(im);
        }
        INDArray pixels = Nd4j.stack(0, rows.toArray(INDArray[]::new));                   // (b, 3, F+I, H, W)
        for (INDArray r : rows) Memory.free(r);
        return new Batch(pixels, captions, layout, b);
    }

    private long trainableCount() {
        long n = 0;
        for (Parameter p : trainable.values()) n += p.data().length();
        return n;
    }

    // ------------------------------------------------------------------------------------------------ checkpoints

    /** Writes a checkpoint of the current state and makes it the latest; returns its folder. */
    public Path saveCheckpoint() throws IOException {
        TrainerState state = new TrainerState(step, source.position(), ema == null ? 0 : ema.updates(), skippedSteps, config.seed(),
                TrainerState.RNG_SCHEME, Provenance.now(config.model().toString(), parent));
        StateDict opt = optimizer.stateDict();
        Path dir;
        try {
            dir = store.save(CheckpointStore.name(step),
                    tmp -> {
                        // a LoRA run's UNet is frozen (re-read from the model source on resume): only its adapters are written
                        TrainCheckpoint.write(tmp, lora != null ? null : unet.stateDict(), trainText ? textEncoder.stateDict() : null,
                                ema == null ? null : ema.stateDict(), opt,
                                config.toJson(), state);
                        if (lora != null) lora.save(tmp.resolve(LORA_FILE));
                    });
        } finally {
            for (String k : opt.keys()) Memory.free(opt.get(k).load());
        }
        parent = dir.getFileName().toString();
        lastCheckpointStep = step;
        LOG.debug("checkpoint {} written", dir);
        return dir;
    }

    /**
     * Continues from a checkpoint (a checkpoint folder, or the latest one under a store root / output folder): the
     * UNet, EMA and optimizer state, the step, and the data source's position. The checkpoint's run must match this
     * config in what decides the maths of the past steps (model source, train target, prediction, seed, batch size,
     * gradient accumulation, EMA on or off); the rest (steps, learning rate, checkpoint and validation settings, output
     * folder) may change.
     *
     * @throws IllegalArgumentException the checkpoint does not fit this run (every difference named)
     */
    public void resume(Path checkpoint) throws IOException {
        try (TrainCheckpoint c = TrainCheckpoint.open(checkpoint)) {
            TrainerState s = c.state();
            if (!TrainerState.RNG_SCHEME.equals(s.rng()))
                throw new IllegalArgumentException(c.dir() + ": written with randomness scheme '" + s.rng() + "', this trainer uses '"
                        + TrainerState.RNG_SCHEME + "'");
            checkCompatible(c.dir(), c.config());
            if (ema != null && !c.hasEma())
                throw new IllegalArgumentException(c.dir() + ": has no EMA weights but this run keeps an EMA");
            if (lora != null) lora.load(c.dir().resolve(LORA_FILE));
            else unet.load(c.unet());
            if (trainText) textEncoder.load(c.textEncoder());
            if (ema != null) ema.load(c.ema(), s.emaUpdates());
            optimizer.loadStateDict(c.optimizer());
            source.seek(s.dataPosition());
            step = s.step();
            skippedSteps = s.skippedSteps();
            lastCheckpointStep = step;
            parent = c.dir().toString();
            LOG.info("resumed from {} at step {} (data position {})", c.dir(), step, s.dataPosition());
        }
    }

    private void checkCompatible(Path dir, JsonNode saved) {
        TrainConfig was;
        try {
            was = TrainConfig.fromJson(saved);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir + ": unreadable config.json: " + e.getMessage(), e);
        }
        List<String> problems = new ArrayList<>();
        if (!was.model().equals(config.model())) {
            boolean sameKind = was.model().getClass() == config.model().getClass()
                    && (!(was.model() instanceof ModelSource.Pretrained a) || a.layout() == ((ModelSource.Pretrained) config.model()).layout());
            if (sameKind && was.model() instanceof ModelSource.Pretrained)
                LOG.warn("resuming a run that started from {} with the model at {}", was.model(), config.model());
            else problems.add("model: checkpoint " + was.model() + ", config " + config.model());
        }
        if (was.train() != config.train()) problems.add("train: checkpoint " + was.train().key() + ", config " + config.train().key());
        else if (!Objects.equals(was.lora(), config.lora())) problems.add("lora: checkpoint " + was.lora() + ", config " + config.lora());
        if (was.trainTextEncoder() != config.trainTextEncoder())
            problems.add("train_text_encoder: checkpoint " + was.trainTextEncoder() + ", config " + config.trainTextEncoder());
        if (was.prediction() != config.prediction()) problems.add("prediction: checkpoint " + was.prediction().json() + ", config " + config.prediction().json());
        if (was.snrGamma() != config.snrGamma())
            problems.add("snr_gamma: checkpoint " + was.snrGamma() + ", config " + config.snrGamma());
        if (!was.timestepBias().equals(config.timestepBias()))
            problems.add("timestep_bias: checkpoint " + was.timestepBias() + ", config " + config.timestepBias());
        if (was.vaeLatents() != config.vaeLatents())
            problems.add("vae_latents: checkpoint " + was.vaeLatents().key() + ", config " + config.vaeLatents().key());
        if (was.seed() != config.seed()) problems.add("seed: checkpoint " + was.seed() + ", config " + config.seed());
        if (was.batchSize() != config.batchSize()) problems.add("batch_size: checkpoint " + was.batchSize() + ", config " + config.batchSize());
        if (was.gradAccumulation() != config.gradAccumulation())
            problems.add("grad_accumulation: checkpoint " + was.gradAccumulation() + ", config " + config.gradAccumulation());
        if (was.ema().enabled() != config.ema().enabled())
            problems.add("ema: checkpoint " + (was.ema().enabled() ? "decay " + was.ema().decay() : "none") + ", config "
                    + (config.ema().enabled() ? "decay " + config.ema().decay() : "none"));
        if (!problems.isEmpty())
            throw new IllegalArgumentException("cannot resume from " + dir + ": the config differs from the checkpoint's run in\n  "
                    + String.join("\n  ", problems));
        if (!Objects.equals(was.data(), config.data()))
            LOG.warn("resuming with other data settings than the checkpoint's run: the data position {} may mean something else", dir);
    }

    // ------------------------------------------------------------------------------------------------ validation

    /**
     * Samples the validation prompts with their fixed seeds (EMA weights when the config says so and there are any)
     * and writes them side by side as one GIF, {@code output_dir/validation/step-N.gif}. Leaves the training state
     * untouched.
     */
    public Path validate() throws IOException {
        TrainConfig.Validation v = config.validation();
        if (v.prompts().isEmpty()) throw new IllegalStateException("validation: no prompts configured (validation.prompts)");
        ModelInfo info = model.info();
        int frames = v.frames() > 0 ? v.frames() : info.frames();
        int height = v.height() > 0 ? v.height() : info.height(), width = v.width() > 0 ? v.width() : info.width();
        List<INDArray> videos = new ArrayList<>();
        INDArray grid = null;
        unet.eval();
        textEncoder.eval();
        try {
            withWeights(v.useEma() && ema != null ? ema.stateDict() : null, () -> {           // LoRA: the adapters run as residuals
                TextToVideoPipeline pipeline = model.pipeline();
                for (int i = 0; i < v.prompts().size(); i++) {
                    GenerateOptions o = GenerateOptions.builder().prompt(v.prompts().get(i)).frames(frames).size(height, width)
                            .steps(v.steps()).guidanceScale(v.guidance()).seed(v.seed(i)).build();
                    GenerateResult r = pipeline.generate(o);
                    Memory.free(r.latents());
                    videos.add(r.video());                                                 // (1, 3, F, H, W)
                }
            });
            grid = videos.size() == 1 ? videos.get(0) : Nd4j.concat(4, videos.toArray(INDArray[]::new));   // (1, 3, F, H, n·W)
            Path gif = config.outputDir().resolve("validation").resolve(CheckpointStore.name(step) + ".gif");
            VideoIO.write(Video.fromTensor(grid, info.fps()), gif);
            return gif;
        } finally {
            unet.train(true);
            textEncoder.train(trainText);
            for (INDArray x : videos) Memory.free(x);
            if (grid != null && videos.size() > 1) Memory.free(grid);
        }
    }

    // ------------------------------------------------------------------------------------------------ export

    /**
     * Writes the trained model as a lavie4j model folder at {@code dir} (which must not exist): the EMA weights when
     * {@code useEma} and there are any, the live weights otherwise; {@code lavie sample --model DIR} runs it.
     */
    public Path exportModel(Path dir, boolean useEma) throws IOException {
        ModelInfo info = model.info();
        String weights = useEma && ema != null ? "EMA" : "live";
        ModelInfo exported = info.describedAs(info.name() + "-step" + step, "fine-tuned by lavie4j for " + step + " steps ("
                + config.train().key() + " parameters" + (trainText ? " and the text encoder" : "") + ", " + weights + " weights, " + config.prediction().json() + ") from "
                + config.model() + "; base: " + info.description(), info.trained());
        TextToVideoModel out = new TextToVideoModel(tokenizer, textEncoder, unet, vae, model.schedulerConfig(), exported);
        withWeights(useEma && ema != null ? ema.stateDict() : null, () -> withMergedLora(() -> out.save(dir, DType.F32)));
        return dir;
    }

    /**
     * Writes the UNet weights (EMA when {@code useEma} and there are any) to one safetensors file under the original
     * checkpoint's key names (LaVie's {@code lavie_base.pt} state dict), float32; a run that trains the text encoder
     * writes it beside ({@link #textEncoderWeightsFile}). A UNet with frame position tables (this
     * port's extension) also writes its {@code attn_temp.frame_position_embedding} keys, which LaVie's code has no module
     * for: it loads such a file only with {@code strict=False}, and then computes without the tables (logged).
     */
    public Path exportWeights(Path file, boolean useEma) throws IOException {
        if (unet.config().framePositionEmbeddings() > 0)
            LOG.warn("{}: the UNet has frame position tables (frame_position_embeddings = {}), which LaVie's code does not have; "
                    + "it will load this file only with strict=False and then compute without them", file, unet.config().framePositionEmbeddings());
        Map<String, String> meta = Map.of("format", "pt", "lavie4j_step", Long.toString(step), "lavie4j_weights", useEma && ema != null ? "ema" : "live");
        Path text = textEncoderWeightsFile(file);
        withWeights(useEma && ema != null ? ema.stateDict() : null, () -> withMergedLora(() -> {     // LoRA: W + s·B·A
            SafeTensors.write(file, unet.stateDict().asMap(), meta, DType.F32);
            if (trainText) SafeTensors.write(text, textEncoder.stateDict().asMap(), meta, DType.F32);
        }));
        if (trainText) LOG.info("{}: the trained text encoder (transformers' CLIPTextModel key names; LaVie reads it as "
                + "stable-diffusion-v1-4/text_encoder/model.safetensors)", text);
        return file;
    }

    /** Where {@link #exportWeights} puts a trained text encoder: {@code NAME-text_encoder.safetensors} beside {@code file}. */
    public static Path textEncoderWeightsFile(Path file) {
        String name = file.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return file.resolveSibling(stem + "-text_encoder.safetensors");
    }

    /** Writes the trained LoRA adapters alone ({@link LoraAdapters#save}), live weights; only for {@code train: lora}. */
    public Path exportLora(Path file) throws IOException {
        return exportLora(file, false);
    }

    /** Writes the LoRA adapters alone, their EMA when {@code useEma} and the run keeps one; only for {@code train: lora}. */
    public Path exportLora(Path file, boolean useEma) throws IOException {
        if (lora == null) throw new IllegalStateException("train: " + config.train().key() + " trains no LoRA adapters");
        Path[] out = new Path[1];
        withWeights(useEma && ema != null ? ema.stateDict() : null, () -> out[0] = lora.save(file));
        return out[0];
    }

    /** The two trained models under one root: keys {@code unet.*} and {@code text_encoder.*}. */
    static final class UNetAndTextEncoder extends Module {
        UNetAndTextEncoder(UNet3DConditionModel unet, CLIPTextModel textEncoder) {
            child("unet", unet);
            child("text_encoder", textEncoder);
        }
    }

    /** Runs {@code action} with the LoRA adapters merged into the UNet's weights (a plain model), then unmerges. */
    private void withMergedLora(IoAction action) throws IOException {
        if (lora == null) {
            action.run();
            return;
        }
        lora.merge();
        try {
            action.run();
        } finally {
            lora.unmerge();
        }
    }

    private interface IoAction {
        void run() throws IOException;
    }

    /**
     * Runs {@code action} with the trained model's parameters ({@link #trained}) pointing at {@code weights}' arrays
     * (no copy), then puts the live arrays back; {@code weights == null} runs it on the live weights.
     */
    private void withWeights(StateDict weights, IoAction action) throws IOException {
        if (weights == null) {
            action.run();
            return;
        }
        IdentityHashMap<Parameter, INDArray> live = new IdentityHashMap<>();
        try {
            for (Map.Entry<String, Parameter> e : trained.namedEntries().entrySet()) {
                Parameter p = e.getValue();
                if (live.containsKey(p)) continue;
                live.put(p, p.data());
                p.set(weights.get(e.getKey()).load());
            }
            action.run();
        } finally {
            live.forEach(Parameter::set);
        }
    }
}
