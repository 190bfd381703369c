package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.schedulers.DPMSolverMultistepScheduler;
import org.lavie4j.nn.schedulers.PNDMScheduler;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.schedulers.StepOutput;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.random.RandomGenerator;

/**
 * Text to video with LaVie's base model: LaVie {@code base/pipelines/pipeline_videogen.py VideoGenPipeline.__call__}.
 * The pipeline holds the parts (tokenizer, text encoder, UNet, VAE, scheduler); the denoising loop is written out in
 * {@link #generate}. Deviations from the reference: the initial noise is drawn by a seeded Java
 * {@link SplittableRandom} (no attempt to reproduce torch's CPU or CUDA generators; pass {@code latents} to use noise
 * drawn elsewhere), the VAE decodes {@code framesPerSlice} frames at a time (identical per frame), and everything runs
 * in float32. Not thread-safe: the scheduler holds per-run state.
 */
public final class TextToVideoPipeline {
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet3DConditionModel unet;
    private final AutoencoderKL vae;
    private final Scheduler scheduler;

    /**
     * @param tokenizer   may be null when every call passes precomputed prompt and negative embeddings
     * @param textEncoder may be null under the same condition
     */
    public TextToVideoPipeline(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DConditionModel unet,
                               AutoencoderKL vae, Scheduler scheduler) {
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = Objects.requireNonNull(unet, "unet");
        this.vae = Objects.requireNonNull(vae, "vae");
        this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    }

    /**
     * A pipeline whose default sampler is built from {@code schedulerConfig}; a call may choose another sampler
     * ({@link GenerateOptions#scheduler()}) over the same noise schedule.
     */
    public TextToVideoPipeline(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DConditionModel unet,
                               AutoencoderKL vae, SchedulerConfig schedulerConfig) {
        this(tokenizer, textEncoder, unet, vae, Scheduler.create(Objects.requireNonNull(schedulerConfig, "schedulerConfig")));
    }

    /** The default sampler (used when a call does not choose one). */
    public Scheduler scheduler() { return scheduler; }

    /** The sampler a call with these options uses: the pipeline's own, or a fresh one of the chosen kind. */
    Scheduler schedulerFor(GenerateOptions o) {
        SchedulerKind k = o.scheduler();
        if (k == null || k == scheduler.config().kind()) return scheduler;
        return Scheduler.create(scheduler.config().withKind(k));
    }
    public UNet3DConditionModel unet() { return unet; }
    public AutoencoderKL vae() { return vae; }

    /** The text encoder's last hidden state for one prompt: (1, L, D) float32. */
    public INDArray encodePrompt(String text) {
        return PipelineSupport.encodePrompt(tokenizer, textEncoder, text, "TextToVideoPipeline");
    }

    /**
     * The initial latents {@link #generate} draws for {@code seed} when none are given: (1, C, frames, height/f,
     * width/f) standard normal, before the scheduler's {@code init_noise_sigma}. Passing copies of it as
     * {@link GenerateOptions.Builder#latents} with a batch of text states generates several prompts at once from the
     * same start as one call per prompt.
     */
    public INDArray initialNoise(long seed, int frames, int height, int width) {
        int f = vae.config().spatialFactor();
        if (frames < 1 || height < f || width < f || height % f != 0 || width % f != 0)
            throw new IllegalArgumentException("initialNoise: " + frames + " frames of " + height + "x" + width
                    + " (height and width must be positive multiples of " + f + ")");
        long[] shape = {1, unet.config().inChannels(), frames, height / f, width / f};
        return randn(new SplittableRandom(seed), shape);
    }

    /**
     * Checks that options fit these models (what {@link GenerateOptions} cannot know alone): the size must be a
     * multiple of the VAE factor times the UNet's down-sampling factor (LaVie base: 8 · 8 = 64, so 320×512 works),
     * precomputed text states must have the text width the UNet attends to, and a UNet with frame position tables
     * takes at most their frames.
     *
     * @throws IllegalArgumentException naming the option, its value and what would fit
     * @throws IllegalStateException   a text prompt for a pipeline built without tokenizer or text encoder
     */
    public void check(GenerateOptions o) {
        int f = vae.config().spatialFactor();
        int down = 1 << (unet.config().blockOutChannels().size() - 1);
        int m = f * down;
        if (o.height() % m != 0 || o.width() % m != 0)
            throw new IllegalArgumentException("height and width must be multiples of " + m + " for this model (VAE factor " + f
                    + " × UNet down-sampling " + down + "), got " + o.height() + "x" + o.width());
        if (o.promptEmbeds() != null && o.promptEmbeds().size(2) != unet.config().crossAttentionDim())
            throw new IllegalArgumentException("prompt embeddings are " + o.promptEmbeds().size(2) + " wide; the UNet attends to "
                    + unet.config().crossAttentionDim());
        int positions = unet.config().framePositionEmbeddings();
        if (positions > 0 && o.frames() > positions)
            throw new IllegalArgumentException("frames " + o.frames() + " is more than this model's UNet can place: its frame position tables"
                    + " (frame_position_embeddings) hold " + positions + " frames");
        int trainSteps = schedulerFor(o).config().numTrainTimesteps();
        if (o.steps() > trainSteps)
            throw new IllegalArgumentException("steps " + o.steps() + " cannot be more than the " + trainSteps
                    + " num_train_timesteps the model was trained with");
        if (o.prompt() != null && (tokenizer == null || textEncoder == null))
            throw new IllegalStateException("TextToVideoPipeline: a text prompt needs a tokenizer and text encoder; this pipeline has none (pass embeddings)");
    }

    /**
     * Runs the pipeline. Throws {@link CancellationException} when the progress listener cancels (after freeing the
     * run's tensors); {@link IllegalArgumentException} when the options do not fit the models.
     */
    public GenerateResult generate(GenerateOptions o) {
        long start = System.nanoTime();
        Scheduler scheduler = schedulerFor(o);
        check(o);
        try (Tape off = Grad.disabled()) {
            boolean cfg = o.doClassifierFreeGuidance();
            int f = vae.config().spatialFactor();

            // 1. text states; CFG batch order [uncond, cond] as the reference
            INDArray cond = o.promptEmbeds() != null ? o.promptEmbeds().castTo(DataType.FLOAT) : encodePrompt(o.prompt());   // (b, L, D)
            long b = cond.size(0);
            INDArray ctx = cond;
            if (cfg) {
                INDArray uncond = o.negativePromptEmbeds() != null ? o.negativePromptEmbeds().castTo(DataType.FLOAT)
                        : repeatBatch(encodePrompt(o.negativePrompt()), b);
                if (!Arrays.equals(uncond.shape(), cond.shape()))
                    throw new IllegalArgumentException("TextToVideoPipeline: negative text states " + Arrays.toString(uncond.shape())
                            + " do not match the prompt's " + Arrays.toString(cond.shape()));
                ctx = Nd4j.concat(0, uncond, cond);                                           // (2b, L, D)
                if (o.negativePromptEmbeds() == null) Memory.free(uncond);                    // encoded here: ours to free
            }
            Tensor context = Tensor.of(ctx);

            // 2. timesteps and initial latents (b, c, F, H/f, W/f) · init_noise_sigma
            scheduler.setTimesteps(o.steps());
            INDArray timesteps = scheduler.timesteps();
            long c = unet.config().inChannels();
            long[] shape = {b, c, o.frames(), o.height() / f, o.width() / f};
            RandomGenerator generator = new SplittableRandom(o.seed());
            INDArray latents;
            if (o.latents() != null) {
                if (!Arrays.equals(o.latents().shape(), shape))
                    throw new IllegalArgumentException("TextToVideoPipeline: latents must be " + Arrays.toString(shape)
                            + ", got " + Arrays.toString(o.latents().shape()));
                latents = o.latents().castTo(DataType.FLOAT).mul(scheduler.initNoiseSigma());
            } else {
                latents = randn(generator, shape).muli(scheduler.initNoiseSigma());
            }

            // 3. denoising loop
            boolean retains = scheduler instanceof PNDMScheduler;     // keeps model outputs and samples in its history
            // DPM-Solver++ keeps its last two x0 predictions (the multistep history): free each once it has left it
            boolean keepsX0 = scheduler instanceof DPMSolverMultistepScheduler;
            ArrayDeque<INDArray> x0History = new ArrayDeque<>();
            int n = Math.toIntExact(timesteps.length());
            try {
                Memory.StepGuard guard = new Memory.StepGuard();                            // memory flat over the steps
                for (int i = 0; i < n; i++) {
                    double t = timesteps.getDouble(i);
                    INDArray modelIn = cfg ? Nd4j.concat(0, latents, latents) : latents;         // (2b, c, F, h, w)
                    INDArray scaled = scheduler.scaleModelInput(modelIn, t);
                    Tensor noise = unet.forward(Tensor.of(scaled), Tensor.of(timesteps.getScalar(i).dup()), context);
                    if (scaled != modelIn) Memory.free(scaled);
                    if (modelIn != latents) Memory.free(modelIn);
                    INDArray e = noise.data();
                    INDArray guided;
                    if (cfg) {
                        INDArray eu = e.get(NDArrayIndex.interval(0, b));                      // uncond half
                        INDArray ec = e.get(NDArrayIndex.interval(b, 2 * b));                  // cond half
                        guided = ec.sub(eu).muli(o.guidanceScale()).addi(eu);                  // e_u + s·(e_c − e_u)
                        noise.release();
                    } else {
                        guided = e;
                    }
                    StepOutput out = scheduler.step(guided, t, latents, generator);
                    if (!retains) {
                        INDArray x0 = out.predOriginalSample();
                        if (keepsX0) {
                            x0History.addLast(x0);
                            if (x0History.size() > 2) Memory.free(x0History.removeFirst());
                        } else if (x0 != null && x0 != out.prevSample() && x0 != guided) Memory.free(x0);
                        if (guided != out.prevSample()) {
                            if (cfg) Memory.free(guided); else noise.release();
                        }
                        if (latents != out.prevSample()) Memory.free(latents);
                    }
                    latents = out.prevSample();
                    guard.afterStep();
                    Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
                    if (!o.progress().onStep(i + 1, n, t, elapsed))
                        throw new CancellationException("TextToVideoPipeline: cancelled after step " + (i + 1) + " of " + n);
                }
            } catch (RuntimeException ex) {
                if (!retains) Memory.free(latents);
                throw ex;
            } finally {
                if (ctx != cond) Memory.free(ctx);
            }

            // 4. decode: z = (1/scaling_factor)·latents, frames folded into the batch, framesPerSlice at a time
            if (o.outputType() == OutputType.LATENTS) return new GenerateResult(latents, null);
            INDArray z = latents.mul(1.0 / vae.config().scalingFactor());
            Tensor video = vae.decodeVideo(Tensor.of(z), o.framesPerSlice());                 // (b, 3, F, H, W)
            Memory.free(z);
            INDArray v = video.data().castTo(DataType.FLOAT);
            return new GenerateResult(latents, v);
        }
    }

    /** Standard normal noise of the given shape from an explicit generator (row-major order). */
    static INDArray randn(RandomGenerator g, long[] shape) {
        return PipelineSupport.randn(g, shape);
    }

    private static INDArray repeatBatch(INDArray x, long b) {
        if (b == 1) return x;
        INDArray[] copies = new INDArray[Math.toIntExact(b)];
        Arrays.fill(copies, x);
        return Nd4j.concat(0, copies);
    }
}
