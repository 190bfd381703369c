package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.Views;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.schedulers.DDIMScheduler;
import org.lavie4j.nn.schedulers.DDPMScheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.schedulers.StepOutput;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.VsrConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.Tiling;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.random.RandomGenerator;

/**
 * LaVie's video super-resolution stage, ×4 in space ({@code vsr/sample.py} around
 * {@code StableDiffusionUpscalePipeline.__call__} of {@code vsr/models/pipeline_stable_diffusion_upscale_video_3d.py};
 * vsr-unet.md §6). The loop is written out in {@link #run}:
 * <ol>
 *   <li>frames {@code (u8/255 − 0.5)·2} (float32) as (1, 3, T, h, w) ({@link #pixels});</li>
 *   <li>text states in the order <b>[uncond, cond]</b>: the negative prompt {@code "blur, worst quality"} and the prompt
 *       (the original takes the input file's name);</li>
 *   <li>the frames in chunks of 8 ([0, 8), [8, 16), …, the last one shorter), each an independent pipeline call, all
 *       drawing from ONE generator in the order chunk 0 low-res noise, chunk 0 initial latents, chunk 1 …;</li>
 *   <li>per chunk: the low-res frames noise-augmented by the low-res DDPM's {@code add_noise} at the noise level 50
 *       (its ᾱ from {@code low_res_scheduler/}), which is also the UNet's class label; initial latents (1, 4, Tc, h, w)
 *       (init_noise_sigma 1); v-prediction DDIM (linear betas, set_alpha_to_one false, steps_offset 1), each step
 *       {@code v = unet([x, x], t, [img, img], [uncond, cond], [level, level])}, v = v_u + 5·(v_c − v_u), eta 0;</li>
 *   <li>decode of {@code (1/0.08333)·latents}, 4 frames per VAE call, clamped to [−1, 1] → (1, 3, T, 4h, 4w); the saved
 *       uint8 frames TRUNCATE ({@link UpscaleResult#videoUint8()}).</li>
 * </ol>
 * Deviations, none of which changes a number beyond float rounding: the reference runs the UNet and text encoder in fp16
 * on CUDA (here float32); noise comes from a seeded Java generator, not torch's; the optional tiled decode
 * ({@link UpscaleOptions#tiling()}) is close to, not equal to, the untiled one. The pipeline holds no per-run state, but
 * a run sets its options' attention and feed-forward budgets on the shared UNet.
 */
public final class SuperResolutionPipeline {
    /** Channels of the low-resolution RGB frames concatenated to the latents inside the UNet. */
    public static final int IMAGE_CHANNELS = 3;
    /** Text positions the memory estimate assumes for cross-attention (CLIP's 77). */
    private static final int TEXT_TOKENS = 77;

    /** Supplies a random draw instead of the generator (tests; reproducing recorded noise). Returning null draws it. */
    @FunctionalInterface
    public interface NoiseSource {
        /**
         * @param chunk 0-based chunk index
         * @param draw  which draw of the chunk
         * @param shape the shape required: (1, 3, Tc, h, w) or (1, C, Tc, h, w)
         */
        INDArray noise(int chunk, Draw draw, long[] shape);
    }

    /** The random draws of one chunk, in the order the original makes them. */
    public enum Draw {
        /** Draw 1: the noise added to the low-resolution frames. */
        LOW_RES,
        /** Draw 2: the initial latents. */
        LATENTS
    }

    /** Sees the inside of every chunk (tests and debugging); the arrays are valid only during the call. */
    public interface ChunkObserver {
        /** The noise-augmented low-res frames (1, 3, Tc, h, w) and the initial latents (1, C, Tc, h, w) of chunk {@code chunk}. */
        default void onChunkStart(int chunk, int fromFrame, int toFrame, INDArray noisyLowRes, INDArray initialLatents) {}

        /** The latents after step {@code step} (0-based) at timestep {@code timestep}, (1, C, Tc, h, w). */
        default void onStep(int chunk, int step, long timestep, INDArray latents) {}
    }

    /**
     * An estimate of a run's working memory beyond the loaded weights, in bytes: the UNet's activations for one chunk
     * (batch 2 with guidance, the skip connections held, the widest full-resolution stage, and one block of attention
     * scores and of feed-forward intermediates: the budgets, or less when the whole computation is smaller), one VAE
     * decode call's activations, and the outputs held for the whole run (latents, the ×f
     * video) plus the input. The UNet and the decode run one after the other, so the peak is the outputs plus the larger.
     *
     * @param chunkFrames the chunk size the estimate is for
     */
    public record MemoryEstimate(int chunkFrames, long unetBytes, long decodeBytes, long outputBytes) {
        /** The estimated peak. */
        public long peakBytes() { return outputBytes + Math.max(unetBytes, decodeBytes); }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s (UNet %s, VAE decode %s, inputs and outputs %s)", gb(peakBytes()), gb(unetBytes),
                    gb(decodeBytes), gb(outputBytes));
        }
    }

    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet3DVSRModel unet;
    private final AutoencoderKL vae;
    private final SchedulerConfig schedulerConfig, lowResSchedulerConfig;

    /**
     * @param tokenizer             may be null when every call passes precomputed text states
     * @param textEncoder           may be null under the same condition
     * @param unet                  the VSR UNet: latent channels + 3 in, latent channels out
     * @param vae                   the ×f VAE (the x4 upscaler's; {@code scaling_factor} 0.08333)
     * @param schedulerConfig       the sampler: a DDIM config (LaVie: the upscaler's file with linear betas, v-prediction)
     * @param lowResSchedulerConfig the noise-augmentation schedule of the low-res frames (its betas; used through add_noise)
     */
    public SuperResolutionPipeline(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DVSRModel unet, AutoencoderKL vae,
                                   SchedulerConfig schedulerConfig, SchedulerConfig lowResSchedulerConfig) {
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = Objects.requireNonNull(unet, "unet");
        this.vae = Objects.requireNonNull(vae, "vae");
        this.schedulerConfig = Objects.requireNonNull(schedulerConfig, "schedulerConfig");
        this.lowResSchedulerConfig = Objects.requireNonNull(lowResSchedulerConfig, "lowResSchedulerConfig");
        if (schedulerConfig.kind() != SchedulerKind.DDIM)
            throw new IllegalArgumentException("SuperResolutionPipeline samples with DDIM (as LaVie's vsr/sample.py), got a "
                    + schedulerConfig.kind().className() + " config");
        int latent = vae.config().latentChannels();
        VsrConfig u = unet.config();
        if (u.inChannels() != latent + IMAGE_CHANNELS || u.outChannels() != latent)
            throw new IllegalArgumentException("SuperResolutionPipeline: the UNet must take latents + RGB frames, " + latent + " + " + IMAGE_CHANNELS
                    + " channels in and " + latent + " out; it has " + u.inChannels() + " in and " + u.outChannels() + " out");
        if (textEncoder != null && textEncoder.config().hiddenSize() != u.crossAttentionDim())
            throw new IllegalArgumentException("SuperResolutionPipeline: the text encoder's hidden_size " + textEncoder.config().hiddenSize()
                    + " differs from the UNet's cross_attention_dim " + u.crossAttentionDim());
    }

    public UNet3DVSRModel unet() { return unet; }
    public AutoencoderKL vae() { return vae; }
    public SchedulerConfig schedulerConfig() { return schedulerConfig; }
    public SchedulerConfig lowResSchedulerConfig() { return lowResSchedulerConfig; }

    /** Output pixels per input pixel along each axis: the VAE's spatial factor (4 for the x4 upscaler). */
    public int scale() { return vae.config().spatialFactor(); }

    // ------------------------------------------------------------------------------------------------ layout

    /**
     * The original's chunks of {@code frames} frames: {@code [0, n), [n, 2n), …}, the last one shorter ({@code sample.py}
     * processes one chunk of all frames when {@code frames <= n}, which is the same).
     */
    public static List<int[]> chunks(int frames, int chunkFrames) {
        if (frames < 1) throw new IllegalArgumentException("chunks: need at least one frame, got " + frames);
        if (chunkFrames < 1) throw new IllegalArgumentException("chunks: chunkFrames must be >= 1, got " + chunkFrames);
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < frames; s += chunkFrames) out.add(new int[]{s, Math.min(frames, s + chunkFrames)});
        return out;
    }

    /**
     * {@code sample.py}'s input: {@code (u8/255 − 0.5)·2} in float32 of every frame → (1, 3, T, h, w). (This differs from
     * {@link Video#toTensor()}'s {@code u8/127.5 − 1} by float rounding.)
     */
    public static INDArray pixels(Video video) {
        float[] lut = new float[256];
        for (int u = 0; u < 256; u++) lut[u] = ((float) u / 255f - 0.5f) * 2f;
        int t = video.frames(), hw = video.height() * video.width();
        float[] out = new float[3 * t * hw];                             // (c, t, y, x)
        for (int f = 0; f < t; f++) {
            byte[] rgb = video.rgb(f);
            for (int c = 0; c < 3; c++) {
                int base = (c * t + f) * hw;
                for (int p = 0; p < hw; p++) out[base + p] = lut[rgb[3 * p + c] & 0xff];
            }
        }
        return Nd4j.createFromArray(out).reshape('c', 1, 3, t, video.height(), video.width());
    }

    // ------------------------------------------------------------------------------------------------ text

    /** The text encoder's last hidden state for one text: (1, L, D) float32. */
    public INDArray encodePrompt(String text) {
        return PipelineSupport.encodePrompt(tokenizer, textEncoder, text, "SuperResolutionPipeline");
    }

    // ------------------------------------------------------------------------------------------------ checks

    /**
     * Checks what the options alone cannot: the noise level against the UNet's class embedding and the low-res schedule,
     * the step count against the schedule, the text width, and a prompt without text encoder.
     *
     * @throws IllegalArgumentException naming the option, its value and what would fit
     * @throws IllegalStateException    a text prompt for a pipeline built without tokenizer or text encoder
     */
    public void check(UpscaleOptions o) {
        VsrConfig u = unet.config();
        if (o.noiseLevel() > u.maxNoiseLevel())
            throw new IllegalArgumentException("noise level " + o.noiseLevel() + " is above the UNet's max_noise_level " + u.maxNoiseLevel()
                    + " (LaVie: 50)");
        if (u.numClassEmbeds() > 0 && o.noiseLevel() >= u.numClassEmbeds())
            throw new IllegalArgumentException("noise level " + o.noiseLevel() + " has no class embedding (num_class_embeds " + u.numClassEmbeds() + ")");
        if (o.noiseLevel() >= lowResSchedulerConfig.numTrainTimesteps())
            throw new IllegalArgumentException("noise level " + o.noiseLevel() + " is not a timestep of the low-res schedule (num_train_timesteps "
                    + lowResSchedulerConfig.numTrainTimesteps() + ")");
        if (o.steps() > schedulerConfig.numTrainTimesteps())
            throw new IllegalArgumentException("steps " + o.steps() + " cannot be more than the " + schedulerConfig.numTrainTimesteps()
                    + " num_train_timesteps of the scheduler");
        if (o.promptEmbeds() != null && o.promptEmbeds().size(2) != u.crossAttentionDim())
            throw new IllegalArgumentException("prompt embeddings are " + o.promptEmbeds().size(2) + " wide; the UNet attends to " + u.crossAttentionDim());
        if ((o.prompt() != null || (o.doClassifierFreeGuidance() && o.negativePromptEmbeds() == null)) && (tokenizer == null || textEncoder == null))
            throw new IllegalStateException("SuperResolutionPipeline: a text prompt needs a tokenizer and text encoder; this pipeline has none (pass embeddings)");
    }

    /**
     * Checks a run on {@code frames} low-resolution frames of height × width before any work: at least one frame, a size
     * the UNet can take (divisible by its down-sampling factor, 8 for LaVie), {@link #check(UpscaleOptions)}, and the
     * estimated working memory against {@link UpscaleOptions#memoryBudgetBytes()}.
     *
     * @throws IllegalArgumentException naming what does not fit and what would
     */
    public void check(int frames, int height, int width, UpscaleOptions o) {
        if (frames < 1) throw new IllegalArgumentException("the VSR stage needs at least one low-resolution frame, got " + frames);
        int down = 1 << (unet.config().levels() - 1);
        if (height < 1 || width < 1 || height % down != 0 || width % down != 0)
            throw new IllegalArgumentException("the low-resolution frames must have a height and width divisible by " + down
                    + " (the VSR UNet's down-sampling; LaVie's are 320x512 -> " + 320 * scale() + "x" + 512 * scale() + "), got " + height + "x" + width);
        check(o);
        if (o.memoryBudgetBytes() > 0) {
            MemoryEstimate e = estimateMemory(frames, height, width, o);
            if (e.peakBytes() > o.memoryBudgetBytes()) {
                String hint = "";
                if (o.memoryMode() == UpscaleOptions.MemoryMode.FULL_BATCH) {
                    MemoryEstimate low = estimateMemory(frames, height, width, o.toBuilder().memoryMode(UpscaleOptions.MemoryMode.LOW_MEMORY).build());
                    if (low.peakBytes() <= o.memoryBudgetBytes()) hint = "; the low-memory mode would need about " + gb(low.peakBytes());
                }
                for (int c = Math.min(o.chunkFrames(), frames) - 1; c >= 1 && hint.isEmpty(); c--) {
                    MemoryEstimate smaller = estimateMemory(frames, height, width, o.toBuilder().chunkFrames(c).build());
                    if (smaller.peakBytes() <= o.memoryBudgetBytes()) {
                        hint = "; chunks of " + c + " frame" + (c == 1 ? "" : "s") + " would need about " + gb(smaller.peakBytes());
                        break;
                    }
                }
                if (hint.isEmpty()) hint = "; even chunks of 1 frame do not fit: raise the budget, use a smaller input, or decode with tiling";
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                        "the VSR input (%d frames of %dx%d -> %dx%d) needs an estimated %s of working memory with chunks of %d frames%s, over the budget of %s%s",
                        frames, height, width, height * scale(), width * scale(), e, Math.min(o.chunkFrames(), frames),
                        lowMemory(frames, height, width, o) ? " in the low-memory mode" : "", gb(o.memoryBudgetBytes()), hint));
            }
        }
    }

    /** See {@link MemoryEstimate}: a run on {@code frames} low-res frames of height × width with {@code o}'s chunk size. */
    public MemoryEstimate estimateMemory(int frames, int height, int width, UpscaleOptions o) {
        return estimateMemory(unet.config(), vae.config(), frames, height, width, o);
    }

    /**
     * Whether a run with {@code o} uses {@link UpscaleOptions.MemoryMode#LOW_MEMORY}: as asked, or under
     * {@link UpscaleOptions.MemoryMode#AUTO} when the full batch's estimate exceeds the memory budget.
     */
    public boolean lowMemory(int frames, int height, int width, UpscaleOptions o) {
        return lowMemory(unet.config(), vae.config(), frames, height, width, o);
    }

    static boolean lowMemory(VsrConfig u, VaeConfig v, int frames, int height, int width, UpscaleOptions o) {
        return switch (o.memoryMode()) {
            case LOW_MEMORY -> true;
            case FULL_BATCH -> false;
            case AUTO -> o.memoryBudgetBytes() > 0
                    && estimateMemory(u, v, frames, height, width, o, false).peakBytes() > o.memoryBudgetBytes();
        };
    }

    /** {@link #estimateMemory(int, int, int, UpscaleOptions)} from the configs alone (no model needs to be built). */
    public static MemoryEstimate estimateMemory(VsrConfig u, VaeConfig v, int frames, int height, int width, UpscaleOptions o) {
        return estimateMemory(u, v, frames, height, width, o, lowMemory(u, v, frames, height, width, o));
    }

    /**
     * The estimate for the full batch ({@code low} false) or the low-memory mode: guidance halves one after the other
     * (batch 1) and frame slices, where a resolution without attention holds its skips, its inputs (as channel parts),
     * a resnet's output or the temporal module's two inner results, and one frame's temporaries (measured at 320×512:
     * benchmarks/README.md).
     */
    static MemoryEstimate estimateMemory(VsrConfig u, VaeConfig v, int frames, int height, int width, UpscaleOptions o, boolean low) {
        int chunk = Math.min(o.chunkFrames(), frames);
        long batch = o.doClassifierFreeGuidance() && !low ? 2 : 1;
        List<Integer> c = u.blockOutChannels();
        int levels = c.size();
        double[] n = new double[levels];                                 // elements per channel at level i (b·f·h·w)
        for (int i = 0; i < levels; i++) n[i] = (double) batch * chunk * (height >> i) * (width >> i);
        // skip connections, by the resolution they live at: conv_in, every down resnet, every down-sampler
        double[] skips = new double[levels];
        skips[0] += n[0] * c.get(0);
        for (int i = 0; i < levels; i++) {
            skips[i] += (double) u.layersPerBlock() * n[i] * c.get(i);
            if (i < levels - 1) skips[i + 1] += n[i + 1] * c.get(i);
        }
        // the up path at resolution r holds the skips of levels <= r and works on the up-sampled features of level r+1
        // (the temporal module after the up-sampler runs at that width) and their concatenation with a skip
        double unet = 0, held = 0;
        for (int r = 0; r < levels; r++) {
            held += skips[r];
            int cIn = r < levels - 1 ? c.get(r + 1) : c.get(r), cr = c.get(r);
            double working = n[r] * (cIn + cr + 5.0 * Math.max(cIn, cr));
            boolean attention = u.downBlockTypes().get(r).hasAttention() || u.upBlockTypes().get(levels - 1 - r).hasAttention();
            if (low && !attention)                                       // sliced: temporal module x, t, h / resnet parts + h; one frame
                working = n[r] * Math.max(3.0 * cIn, cIn + 2.0 * cr) + n[r] / chunk * (3.0 * (cIn + cr) + cr);
            unet = Math.max(unet, held + working);
        }
        // attention scores and feed-forward intermediates: one block of at most the budget, or the whole computation
        // when it is smaller (self and cross attention over the h·w tokens of a frame, temporal over the chunk's frames)
        double scores = 0, feedForward = 0;
        for (int i = 0; i < levels; i++) {
            boolean attention = u.downBlockTypes().get(i).hasAttention() || u.upBlockTypes().get(levels - 1 - i).hasAttention() || i == levels - 1;
            if (!attention) continue;
            double tokens = (double) (height >> i) * (width >> i), heads = u.attentionHeadDim().get(i);
            double keys = Math.max(tokens, TEXT_TOKENS);                 // self-attention, or a cross-attention over the text
            scores = Math.max(scores, Math.max(batch * chunk * heads * tokens * keys, batch * tokens * heads * chunk * chunk));
            feedForward = Math.max(feedForward, batch * chunk * tokens * 3.0 * 4 * c.get(i));
        }
        long unetBytes = (long) (4 * unet) + Math.min(o.maxScoreBytes(), (long) (4 * scores)) + Math.min(o.maxFeedForwardBytes(), (long) (4 * feedForward));

        // one decode call: decodeFrames frames, the widest decoder stage at each resolution (input + 4 working tensors)
        int f = v.spatialFactor(), vl = v.levels();
        long frameH = (long) height * f, frameW = (long) width * f;
        Tiling tiling = o.tiling();
        long tileH = frameH, tileW = frameW, tileRows = 0;
        if (tiling != null && (height > tiling.latentTile() || width > tiling.latentTile())) {
            tileH = Math.min(frameH, (long) tiling.latentTile() * f);
            tileW = Math.min(frameW, (long) tiling.latentTile() * f);
            long stride = Math.max(1, (long) (tiling.latentTile() * (1 - tiling.overlapFactor())));
            tileRows = 2 * ((width + stride - 1) / stride);              // two rows of tile outputs are alive at once
        }
        long d = low ? 1 : Math.min(o.decodeFrames(), chunk);        // the low-memory mode decodes one frame per call
        double vae = 0;
        for (int k = 0; k < vl; k++) {                                  // decoder level k: latent size · 2^k
            int ck = v.blockOutChannels().get(vl - 1 - k), cIn = v.blockOutChannels().get(Math.min(vl - 1, vl - k));
            double pixels = (double) d * ((tileH / f) << k) * ((tileW / f) << k);    // a tile (or the frame) at level k
            vae = Math.max(vae, pixels * (cIn + 4.0 * ck));
        }
        double decoded = (double) d * v.outChannels() * frameH * frameW;   // the call's result and its clamped copy
        double tiles = (double) tileRows * d * v.outChannels() * tileH * tileW;
        double midTokens = (double) Math.min(tileH, frameH) / f * Math.min(tileW, frameW) / f;   // the mid-block attention, one head
        long decodeBytes = (long) (4 * (vae + 2 * decoded + tiles)) + Math.min(Attention.DEFAULT_MAX_SCORE_BYTES, (long) (4 * d * midTokens * midTokens));

        int latent = v.latentChannels();
        double outputs = (double) frames * (v.outChannels() * frameH * frameW + (long) latent * height * width + 3L * height * width)
                + 4.0 * chunk * (latent + 3) * height * width * batch;  // a chunk's input, latents and model output
        return new MemoryEstimate(chunk, unetBytes, decodeBytes, (long) (4 * outputs));
    }

    // ------------------------------------------------------------------------------------------------ entry points

    /** Upscales a clip of 8-bit frames (the original reads the base or interpolation stage's mp4). */
    public UpscaleResult upscale(Video video, UpscaleOptions o) {
        check(video.frames(), video.height(), video.width(), o);
        INDArray px = pixels(video);
        try {
            return run(px, o);
        } finally {
            Memory.free(px);
        }
    }

    /** Upscales the video file {@code file} ({@link VideoIO#read}: mp4, GIF, a folder of PNG frames, ...). */
    public UpscaleResult upscale(Path file, UpscaleOptions o) throws IOException {
        return upscale(VideoIO.read(file), o);
    }

    /** Upscales a pixel video (3, T, h, w) or (1, 3, T, h, w) in [−1, 1] (e.g. the base or interpolation pipeline's output). */
    public UpscaleResult upscale(INDArray lowRes, UpscaleOptions o) {
        long[] s = lowRes.shape();
        boolean ok = (s.length == 4 && s[0] == IMAGE_CHANNELS) || (s.length == 5 && s[0] == 1 && s[1] == IMAGE_CHANNELS);
        if (!ok)
            throw new IllegalArgumentException("SuperResolutionPipeline: a low-resolution video must be (3, T, h, w) or (1, 3, T, h, w) in [-1, 1], got "
                    + Arrays.toString(s));
        INDArray v = s.length == 4 ? lowRes.reshape(1, s[0], s[1], s[2], s[3]) : lowRes;
        check((int) v.size(2), (int) v.size(3), (int) v.size(4), o);
        boolean converted = v.dataType() != DataType.FLOAT;
        INDArray px = converted ? v.castTo(DataType.FLOAT) : v;
        try {
            return run(px, o);
        } finally {
            if (converted) Memory.free(px);
        }
    }

    // ------------------------------------------------------------------------------------------------ the stage

    /** The stage on checked low-res pixels (1, 3, T, h, w) float32. */
    private UpscaleResult run(INDArray lowRes, UpscaleOptions o) {
        long start = System.nanoTime();
        int frames = (int) lowRes.size(2);
        long h = lowRes.size(3), w = lowRes.size(4);
        int latentC = vae.config().latentChannels(), f = scale();
        boolean cfg = o.doClassifierFreeGuidance(), low = lowMemory(frames, (int) h, (int) w, o);
        unet.maxScoreBytes(o.maxScoreBytes()).maxFeedForwardBytes(o.maxFeedForwardBytes());
        int slicesBefore = unet.sliceFrames();
        unet.sliceFrames(low ? 1 : 0);
        try (Tape off = Grad.disabled()) {
            // 1. text states, UNCOND FIRST: [negative, prompt] (StableDiffusionUpscalePipeline._encode_prompt)
            INDArray cond = o.promptEmbeds() != null ? o.promptEmbeds().castTo(DataType.FLOAT) : encodePrompt(o.prompt());
            INDArray ctx = cond;
            if (cfg) {
                INDArray uncond = o.negativePromptEmbeds() != null ? o.negativePromptEmbeds().castTo(DataType.FLOAT) : encodePrompt(o.negativePrompt());
                if (!Arrays.equals(uncond.shape(), cond.shape()))
                    throw new IllegalArgumentException("SuperResolutionPipeline: negative text states " + Arrays.toString(uncond.shape())
                            + " do not match the prompt's " + Arrays.toString(cond.shape()));
                ctx = Nd4j.concat(0, uncond, cond);                                                  // (2, L, D): [uncond, cond]
                if (o.negativePromptEmbeds() == null) Memory.free(uncond);
            }
            // the UNet's text batches: [uncond, cond] at once, or (low memory) uncond and cond one after the other
            INDArray[] contexts = cfg && low ? new INDArray[]{Views.interval(ctx, 0, 0, 1).dup('c'), Views.interval(ctx, 0, 1, 2).dup('c')}
                    : new INDArray[]{ctx};
            int batch = cfg && !low ? 2 : 1;
            INDArray labels = Nd4j.createFromArray(filled(batch, o.noiseLevel()));                   // class labels = noise level

            DDIMScheduler scheduler = new DDIMScheduler(schedulerConfig);
            scheduler.setTimesteps(o.steps());
            long[] timesteps = scheduler.timesteps().toLongVector();                                 // 981, 961, …, 1 for 50
            DDPMScheduler lowResScheduler = new DDPMScheduler(lowResSchedulerConfig.withKind(SchedulerKind.DDPM));
            INDArray noiseLevel = Nd4j.createFromArray(new long[]{o.noiseLevel()});
            RandomGenerator generator = new SplittableRandom(o.seed());                              // ONE generator for all chunks

            List<int[]> chunks = chunks(frames, o.chunkFrames());
            INDArray latentsOut = Nd4j.create(DataType.FLOAT, 1, latentC, frames, h, w);
            INDArray video = o.outputType() == OutputType.FRAMES ? Nd4j.create(DataType.FLOAT, 1, IMAGE_CHANNELS, frames, h * f, w * f) : null;
            try {
                for (int ci = 0; ci < chunks.size(); ci++) {
                    int s0 = chunks.get(ci)[0], s1 = chunks.get(ci)[1], tc = s1 - s0;
                    // 2. noise augmentation of the chunk's frames (draw 1), initial latents (draw 2)
                    INDArray image = Views.interval(lowRes, 2, s0, s1).dup('c');                         // (1, 3, Tc, h, w)
                    INDArray lowNoise = draw(o, generator, ci, Draw.LOW_RES, new long[]{1, IMAGE_CHANNELS, tc, h, w});
                    INDArray noisy = lowResScheduler.addNoise(image, lowNoise, noiseLevel);
                    Memory.free(image, lowNoise);
                    INDArray x = draw(o, generator, ci, Draw.LATENTS, new long[]{1, latentC, tc, h, w});   // × init_noise_sigma = 1
                    if (o.observer() != null) o.observer().onChunkStart(ci, s0, s1, noisy, x);
                    INDArray imageIn = batch == 2 ? Nd4j.concat(0, noisy, noisy) : noisy;                 // (batch, 3, Tc, h, w)
                    try {
                        x = denoise(x, imageIn, contexts, labels, scheduler, timesteps, generator, o, ci, chunks.size(), start);
                    } finally {
                        if (imageIn != noisy) Memory.free(imageIn);
                        Memory.free(noisy);
                    }
                    Views.interval(latentsOut, 2, s0, s1).assign(x);

                    // 3. decode (1/0.08333)·latents, decodeFrames frames per VAE call, clamp(−1, 1)
                    if (video != null) {
                        INDArray z = x.mul((float) (1.0 / vae.config().scalingFactor()));
                        Tensor decoded = vae.decodeVideo(Tensor.of(z), low ? 1 : o.decodeFrames(), o.tiling());   // (1, 3, Tc, fh, fw)
                        Memory.free(z);
                        INDArray px = Transforms.min(Transforms.max(decoded.data(), -1.0, false), 1.0, false);   // in place
                        Views.interval(video, 2, s0, s1).assign(px);
                        decoded.release();
                    }
                    Memory.free(x);
                    if (!o.progress().onChunkDone(ci, chunks.size(), s0, s1, Duration.ofNanos(System.nanoTime() - start)))
                        throw new CancellationException("SuperResolutionPipeline: cancelled after chunk " + (ci + 1) + " of " + chunks.size());
                }
            } catch (RuntimeException e) {
                Memory.free(latentsOut, video);
                throw e;
            } finally {
                Memory.free(labels, noiseLevel);
                if (contexts.length == 2) Memory.free(contexts);
                if (ctx != cond) Memory.free(ctx);
                if (o.promptEmbeds() == null) Memory.free(cond);
            }
            return new UpscaleResult(latentsOut, video);
        } finally {
            unet.sliceFrames(slicesBefore);
        }
    }

    /**
     * The DDIM loop of one chunk from initial latents x (freed); returns the final latents. {@code contexts}: one text
     * batch ([uncond, cond] with guidance, or the prompt alone), or the two guidance halves run one after the other.
     */
    private INDArray denoise(INDArray x, INDArray imageIn, INDArray[] contexts, INDArray labels, DDIMScheduler scheduler, long[] timesteps,
                             RandomGenerator generator, UpscaleOptions o, int chunk, int chunks, long start) {
        boolean cfg = o.doClassifierFreeGuidance();
        Tensor image = Tensor.of(imageIn), classLabels = Tensor.of(labels);
        int n = timesteps.length;
        try {
            Memory.StepGuard guard = new Memory.StepGuard();                                // memory flat over the steps
            for (int j = 0; j < n; j++) {
                long t = timesteps[j];
                Tensor timestep = Tensor.of(Nd4j.createFromArray(t));
                INDArray guided;
                if (contexts.length == 2) {                                                          // one half after the other
                    Tensor vu = unet.forward(Tensor.of(x), timestep, image, Tensor.of(contexts[0]), classLabels);
                    Tensor vc = unet.forward(Tensor.of(x), timestep, image, Tensor.of(contexts[1]), classLabels);
                    guided = vc.data().sub(vu.data()).muli(o.guidanceScale()).addi(vu.data());      // v_u + s·(v_c − v_u)
                    Tensor.release(vu, vc);
                } else {
                    INDArray in = cfg ? Nd4j.concat(0, x, x) : x;                                   // scale_model_input: identity
                    Tensor out = unet.forward(Tensor.of(in), timestep, image, Tensor.of(contexts[0]), classLabels);
                    if (in != x) Memory.free(in);
                    INDArray v = out.data();                                                         // (batch, C, Tc, h, w)
                    if (cfg) {
                        INDArray vu = Views.interval(v, 0, 0, 1), vc = Views.interval(v, 0, 1, 2);   // [uncond, cond]
                        guided = vc.sub(vu).muli(o.guidanceScale()).addi(vu);                         // v_u + s·(v_c − v_u)
                    } else {
                        guided = v.dup('c');
                    }
                    out.release();
                }
                INDArray varianceNoise = o.eta() > 0 ? randn(generator, x.shape()) : null;
                StepOutput step = scheduler.step(guided, t, x, o.eta(), varianceNoise);
                Memory.free(guided, varianceNoise, step.predOriginalSample(), x);
                x = step.prevSample();
                guard.afterStep();
                if (o.observer() != null) o.observer().onStep(chunk, j, t, x);
                if (!o.progress().onStep(chunk, chunks, j + 1, n, t, Duration.ofNanos(System.nanoTime() - start)))
                    throw new CancellationException("SuperResolutionPipeline: cancelled at chunk " + (chunk + 1) + " of " + chunks
                            + ", step " + (j + 1) + " of " + n);
            }
            return x;
        } catch (RuntimeException e) {
            Memory.free(x);
            throw e;
        }
    }

    private static INDArray draw(UpscaleOptions o, RandomGenerator generator, int chunk, Draw draw, long[] shape) {
        if (o.noise() != null) {
            INDArray given = o.noise().noise(chunk, draw, shape.clone());
            if (given != null) {
                if (!Arrays.equals(given.shape(), shape))
                    throw new IllegalArgumentException("SuperResolutionPipeline: the " + draw + " noise of chunk " + chunk + " must be "
                            + Arrays.toString(shape) + ", got " + Arrays.toString(given.shape()));
                return given.castTo(DataType.FLOAT).dup('c');
            }
        }
        return randn(generator, shape);
    }

    /** Standard normal noise of the given shape from an explicit generator (row-major order). */
    static INDArray randn(RandomGenerator g, long[] shape) {
        return PipelineSupport.randn(g, shape);
    }

    private static long[] filled(int n, long value) {
        long[] a = new long[n];
        Arrays.fill(a, value);
        return a;
    }

    static String gb(long bytes) {
        return bytes >= (1L << 30) ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
