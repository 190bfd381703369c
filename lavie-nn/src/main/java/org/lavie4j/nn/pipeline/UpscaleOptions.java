package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Attention;
import org.lavie4j.nn.attention.VsrTransformerBlock;
import org.lavie4j.nn.vae.Tiling;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The arguments of {@link SuperResolutionPipeline#upscale} (LaVie {@code vsr/sample.py} with {@code configs/sample.yaml}
 * around {@code StableDiffusionUpscalePipeline.__call__}), validated on construction. Build with {@link #builder()}; the
 * defaults are the original's: negative prompt {@code "blur, worst quality"}, 50 DDIM steps, eta 0, guidance 5.0 with the
 * text batch in the order [uncond, cond], noise level 50, chunks of 8 frames, 4 frames per VAE decode call.
 *
 * @param prompt               the text, or null when {@code promptEmbeds} are given (exactly one of the two). The original
 *                             takes it from the input mp4's file name
 * @param negativePrompt       the unconditional text (default {@value #DEFAULT_NEGATIVE_PROMPT}, as the original)
 * @param promptEmbeds         precomputed text states (1, L, D) of the prompt, or null
 * @param negativePromptEmbeds precomputed unconditional states (1, L, D), or null (then {@code negativePrompt} is encoded)
 * @param steps                DDIM steps, >= 1 (and at most the scheduler's {@code num_train_timesteps})
 * @param guidanceScale        classifier-free guidance scale s, finite and >= 0: v = v_u + s·(v_c − v_u). As in the
 *                             reference, guidance runs only for s > 1; otherwise the UNet sees the prompt alone
 * @param noiseLevel           the noise-augmentation level of the low-resolution frames (the low-res DDPM timestep and
 *                             the UNet's class label), in [0, max_noise_level]
 * @param eta                  DDIM eta >= 0 (the original: 0, deterministic)
 * @param seed                 seeds the ONE generator every chunk draws from, in the original's order (chunk 0 low-res
 *                             noise, chunk 0 initial latents, chunk 1 low-res noise, ...); it does not reproduce torch's
 *                             RNG streams
 * @param chunkFrames          frames per pipeline call (the original's {@code short_seq} 8); each chunk is an independent
 *                             call (no context across chunk borders), the last one may be shorter
 * @param decodeFrames         frames per VAE decode call (the original: 4; numerically neutral)
 * @param tiling               decode each frame in overlapping tiles (diffusers tiled_decode), or null for the exact,
 *                             untiled decode of the original
 * @param maxScoreBytes        budget of one attention score block in the UNet (set on the pipeline's UNet before the run;
 *                             changes memory, never results)
 * @param maxFeedForwardBytes  budget of one feed-forward token chunk in the UNet (likewise)
 * @param memoryBudgetBytes    refuse, before any work, an input whose estimated working memory
 *                             ({@link SuperResolutionPipeline#estimateMemory}) exceeds this; 0 for no check
 * @param memoryMode           how the UNet runs: the original's one batch of both guidance halves on whole tensors, or
 *                             the halves one after the other in frame slices (about a third of the memory, same results
 *                             up to float rounding); {@link MemoryMode#AUTO} (default) picks the second only when the
 *                             first would exceed {@code memoryBudgetBytes}
 * @param outputType           {@link OutputType#LATENTS} skips the VAE decode
 * @param progress             told after every step of every chunk and after each chunk; can cancel
 * @param noise                supplies the random draws instead of the generator (tests, reproducing recorded noise),
 *                             or null
 * @param observer             sees every chunk's noisy low-res frames, initial latents and step latents, or null
 */
public record UpscaleOptions(String prompt, String negativePrompt, INDArray promptEmbeds, INDArray negativePromptEmbeds,
                             int steps, double guidanceScale, int noiseLevel, double eta, long seed, int chunkFrames,
                             int decodeFrames, Tiling tiling, long maxScoreBytes, long maxFeedForwardBytes,
                             long memoryBudgetBytes, MemoryMode memoryMode, OutputType outputType, UpscaleProgress progress,
                             SuperResolutionPipeline.NoiseSource noise, SuperResolutionPipeline.ChunkObserver observer) {

    /** The original's {@code negative_prompt}. */
    public static final String DEFAULT_NEGATIVE_PROMPT = "blur, worst quality";
    /** {@code configs/sample.yaml}: {@code inference_steps}. */
    public static final int DEFAULT_STEPS = 50;
    /** {@code configs/sample.yaml}: {@code guidance_scale}. */
    public static final double DEFAULT_GUIDANCE = 5.0;
    /** {@code configs/sample.yaml}: {@code noise_level}. */
    public static final int DEFAULT_NOISE_LEVEL = 50;
    /** {@code sample.py}: {@code short_seq = 8}. */
    public static final int DEFAULT_CHUNK_FRAMES = 8;
    /** The upscale pipeline's decode: {@code short_seq = 4} frames per VAE call. */
    public static final int DEFAULT_DECODE_FRAMES = 4;

    /** How the VSR UNet is run (see {@link UpscaleOptions#memoryMode()}). */
    public enum MemoryMode {
        /** {@link #FULL_BATCH} unless its estimate exceeds the memory budget, then {@link #LOW_MEMORY}. */
        AUTO,
        /** The original's: the UNet sees [uncond, cond] as one batch of 2, whole tensors. */
        FULL_BATCH,
        /**
         * The guidance halves one after the other (batch 1), the UNet in slices of one frame
         * ({@link org.lavie4j.nn.unet.UNet3DVSRModel#sliceFrames}) and one frame per VAE decode call (whatever
         * {@code decodeFrames} says; numerically neutral): what lets the original's chunks of 8 frames at 320×512 run in
         * 24 GB with the exact, untiled decode.
         */
        LOW_MEMORY;

        /** The command-line names: {@code auto}, {@code full}, {@code low} (any case). */
        public static MemoryMode parse(String name) {
            return switch (name == null ? "" : name.toLowerCase(java.util.Locale.ROOT)) {
                case "auto" -> AUTO;
                case "full" -> FULL_BATCH;
                case "low" -> LOW_MEMORY;
                default -> throw new IllegalArgumentException("must be auto, full or low, got " + name);
            };
        }
    }

    public UpscaleOptions {
        if ((prompt == null) == (promptEmbeds == null))
            throw new IllegalArgumentException("UpscaleOptions: give exactly one of prompt and promptEmbeds");
        if (negativePrompt == null) negativePrompt = DEFAULT_NEGATIVE_PROMPT;
        if (steps < 1) throw new IllegalArgumentException("UpscaleOptions: steps must be >= 1, got " + steps);
        if (!(guidanceScale >= 0) || !Double.isFinite(guidanceScale))
            throw new IllegalArgumentException("UpscaleOptions: guidanceScale must be finite and >= 0, got " + guidanceScale);
        if (noiseLevel < 0) throw new IllegalArgumentException("UpscaleOptions: noiseLevel must be >= 0, got " + noiseLevel);
        if (!(eta >= 0) || !Double.isFinite(eta))
            throw new IllegalArgumentException("UpscaleOptions: eta must be finite and >= 0, got " + eta);
        if (chunkFrames < 1) throw new IllegalArgumentException("UpscaleOptions: chunkFrames must be >= 1, got " + chunkFrames);
        if (decodeFrames < 1) throw new IllegalArgumentException("UpscaleOptions: decodeFrames must be >= 1, got " + decodeFrames);
        if (maxScoreBytes <= 0) throw new IllegalArgumentException("UpscaleOptions: maxScoreBytes must be positive, got " + maxScoreBytes);
        if (maxFeedForwardBytes <= 0)
            throw new IllegalArgumentException("UpscaleOptions: maxFeedForwardBytes must be positive, got " + maxFeedForwardBytes);
        if (memoryBudgetBytes < 0)
            throw new IllegalArgumentException("UpscaleOptions: memoryBudgetBytes must be >= 0 (0: no check), got " + memoryBudgetBytes);
        if (memoryMode == null) memoryMode = MemoryMode.AUTO;
        if (outputType == null) throw new IllegalArgumentException("UpscaleOptions: outputType must not be null");
        if (progress == null) progress = UpscaleProgress.NONE;
        for (INDArray e : new INDArray[]{promptEmbeds, negativePromptEmbeds})
            if (e != null && (e.rank() != 3 || e.size(0) != 1))
                throw new IllegalArgumentException("UpscaleOptions: text states must be (1, L, D), got " + Arrays.toString(e.shape()));
        if (negativePromptEmbeds != null && promptEmbeds == null)
            throw new IllegalArgumentException("UpscaleOptions: negativePromptEmbeds need promptEmbeds");
        if (negativePromptEmbeds != null && !Arrays.equals(negativePromptEmbeds.shape(), promptEmbeds.shape()))
            throw new IllegalArgumentException("UpscaleOptions: negativePromptEmbeds " + Arrays.toString(negativePromptEmbeds.shape())
                    + " must have the shape of promptEmbeds " + Arrays.toString(promptEmbeds.shape()));
    }

    /** True when the unconditional pass runs: {@code guidance_scale > 1}, as the reference decides. */
    public boolean doClassifierFreeGuidance() { return guidanceScale > 1.0; }

    public static Builder builder() { return new Builder(); }

    /** A builder holding these options. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.prompt = prompt; b.negativePrompt = negativePrompt; b.promptEmbeds = promptEmbeds; b.negativePromptEmbeds = negativePromptEmbeds;
        b.steps = steps; b.guidanceScale = guidanceScale; b.noiseLevel = noiseLevel; b.eta = eta; b.seed = seed;
        b.chunkFrames = chunkFrames; b.decodeFrames = decodeFrames; b.tiling = tiling; b.maxScoreBytes = maxScoreBytes;
        b.maxFeedForwardBytes = maxFeedForwardBytes; b.memoryBudgetBytes = memoryBudgetBytes; b.memoryMode = memoryMode; b.outputType = outputType;
        b.progress = progress; b.noise = noise; b.observer = observer;
        return b;
    }

    /** Builder with the original's defaults; {@link #build()} validates. */
    public static final class Builder {
        private String prompt, negativePrompt = DEFAULT_NEGATIVE_PROMPT;
        private INDArray promptEmbeds, negativePromptEmbeds;
        private int steps = DEFAULT_STEPS, noiseLevel = DEFAULT_NOISE_LEVEL, chunkFrames = DEFAULT_CHUNK_FRAMES,
                decodeFrames = DEFAULT_DECODE_FRAMES;
        private double guidanceScale = DEFAULT_GUIDANCE, eta;
        private long seed, maxScoreBytes = Attention.DEFAULT_MAX_SCORE_BYTES,
                maxFeedForwardBytes = VsrTransformerBlock.DEFAULT_MAX_FEED_FORWARD_BYTES, memoryBudgetBytes;
        private Tiling tiling;
        private MemoryMode memoryMode = MemoryMode.AUTO;
        private OutputType outputType = OutputType.FRAMES;
        private UpscaleProgress progress = UpscaleProgress.NONE;
        private SuperResolutionPipeline.NoiseSource noise;
        private SuperResolutionPipeline.ChunkObserver observer;

        private Builder() {}

        public Builder prompt(String v) { prompt = v; return this; }
        public Builder negativePrompt(String v) { negativePrompt = v; return this; }
        /** Precomputed prompt and unconditional text states (the negative may be null: then it is encoded). */
        public Builder embeddings(INDArray cond, INDArray uncond) { promptEmbeds = cond; negativePromptEmbeds = uncond; return this; }
        public Builder steps(int v) { steps = v; return this; }
        public Builder guidanceScale(double v) { guidanceScale = v; return this; }
        public Builder noiseLevel(int v) { noiseLevel = v; return this; }
        public Builder eta(double v) { eta = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder chunkFrames(int v) { chunkFrames = v; return this; }
        public Builder decodeFrames(int v) { decodeFrames = v; return this; }
        public Builder tiling(Tiling v) { tiling = v; return this; }
        public Builder maxScoreBytes(long v) { maxScoreBytes = v; return this; }
        public Builder maxFeedForwardBytes(long v) { maxFeedForwardBytes = v; return this; }
        public Builder memoryBudgetBytes(long v) { memoryBudgetBytes = v; return this; }
        public Builder memoryMode(MemoryMode v) { memoryMode = v; return this; }
        public Builder outputType(OutputType v) { outputType = v; return this; }
        public Builder progress(UpscaleProgress v) { progress = v; return this; }
        public Builder noise(SuperResolutionPipeline.NoiseSource v) { noise = v; return this; }
        public Builder observer(SuperResolutionPipeline.ChunkObserver v) { observer = v; return this; }

        public UpscaleOptions build() {
            return new UpscaleOptions(prompt, negativePrompt, promptEmbeds, negativePromptEmbeds, steps, guidanceScale, noiseLevel,
                    eta, seed, chunkFrames, decodeFrames, tiling, maxScoreBytes, maxFeedForwardBytes, memoryBudgetBytes, memoryMode,
                    outputType, progress, noise, observer);
        }
    }
}
