package org.lavie4j.nn.pipeline;

import org.lavie4j.nn.schedulers.SchedulerKind;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The arguments of {@link TextToVideoPipeline#generate} (LaVie {@code VideoGenPipeline.__call__}), validated on
 * construction. Build with {@link #builder()}; defaults are LaVie base's: 16 frames at 320×512, 50 steps, guidance 7.5,
 * negative prompt "".
 *
 * @param prompt               the text, or null when {@code promptEmbeds} are given (exactly one of the two)
 * @param negativePrompt       the unconditional text for classifier-free guidance (default "")
 * @param promptEmbeds         precomputed text states (B, L, D), or null
 * @param negativePromptEmbeds precomputed unconditional states (B, L, D), or null (then {@code negativePrompt} is encoded)
 * @param frames               video length F, >= 1
 * @param height               pixels, a positive multiple of 8 (the reference asserts it)
 * @param width                pixels, a positive multiple of 8
 * @param steps                denoising steps, >= 1
 * @param guidanceScale        classifier-free guidance scale s >= 0; guidance is applied when s > 1
 * @param seed                 seeds the Java generator that draws the initial latents (when {@code latents} is null) and any
 *                             scheduler noise; it does <em>not</em> reproduce torch's (CUDA) RNG streams
 * @param latents              initial noise (B, 4, F, H/f, W/f), f the VAE's spatial factor (8 for SD), before scaling by init_noise_sigma, or null to draw it
 * @param outputType           {@link OutputType#LATENTS} skips the VAE
 * @param framesPerSlice       frames the VAE decodes at a time, >= 1
 * @param progress             called after every step; can cancel (never null; {@link ProgressListener#NONE} by default)
 * @param scheduler            the sampler for this call, built from the pipeline's noise schedule
 *                             ({@link org.lavie4j.nn.schedulers.SchedulerConfig#withKind}); null for the pipeline's own
 */
public record GenerateOptions(String prompt, String negativePrompt, INDArray promptEmbeds, INDArray negativePromptEmbeds,
                              int frames, int height, int width, int steps, double guidanceScale, long seed,
                              INDArray latents, OutputType outputType, int framesPerSlice, ProgressListener progress,
                              SchedulerKind scheduler) {

    public GenerateOptions {
        if ((prompt == null) == (promptEmbeds == null))
            throw new IllegalArgumentException("GenerateOptions: give exactly one of prompt and promptEmbeds");
        if (negativePrompt == null) negativePrompt = "";
        if (frames < 1) throw new IllegalArgumentException("GenerateOptions: frames must be >= 1, got " + frames);
        if (height < 8 || height % 8 != 0)
            throw new IllegalArgumentException("GenerateOptions: height must be a positive multiple of 8, got " + height);
        if (width < 8 || width % 8 != 0)
            throw new IllegalArgumentException("GenerateOptions: width must be a positive multiple of 8, got " + width);
        if (steps < 1) throw new IllegalArgumentException("GenerateOptions: steps must be >= 1, got " + steps);
        if (!(guidanceScale >= 0) || !Double.isFinite(guidanceScale))
            throw new IllegalArgumentException("GenerateOptions: guidanceScale must be finite and >= 0, got " + guidanceScale);
        if (framesPerSlice < 1) throw new IllegalArgumentException("GenerateOptions: framesPerSlice must be >= 1, got " + framesPerSlice);
        if (outputType == null) throw new IllegalArgumentException("GenerateOptions: outputType must not be null");
        if (progress == null) progress = ProgressListener.NONE;
        if (promptEmbeds != null && promptEmbeds.rank() != 3)
            throw new IllegalArgumentException("GenerateOptions: promptEmbeds must be (B, L, D), got " + Arrays.toString(promptEmbeds.shape()));
        if (negativePromptEmbeds != null && promptEmbeds != null && !Arrays.equals(negativePromptEmbeds.shape(), promptEmbeds.shape()))
            throw new IllegalArgumentException("GenerateOptions: negativePromptEmbeds " + Arrays.toString(negativePromptEmbeds.shape())
                    + " must have the shape of promptEmbeds " + Arrays.toString(promptEmbeds.shape()));
        if (negativePromptEmbeds != null && promptEmbeds == null)
            throw new IllegalArgumentException("GenerateOptions: negativePromptEmbeds need promptEmbeds");
        if (latents != null && (latents.rank() != 5 || latents.size(2) != frames))   // h, w are checked against the VAE's factor
            throw new IllegalArgumentException("GenerateOptions: latents must be (B, C, " + frames + ", h, w) for " + frames
                    + " frames, got " + Arrays.toString(latents.shape()));
    }

    /** True when classifier-free guidance is applied (guidance scale > 1, as the reference). */
    public boolean doClassifierFreeGuidance() { return guidanceScale > 1.0; }

    public static Builder builder() { return new Builder(); }

    /** A builder holding these options. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.prompt = prompt; b.negativePrompt = negativePrompt; b.promptEmbeds = promptEmbeds; b.negativePromptEmbeds = negativePromptEmbeds;
        b.frames = frames; b.height = height; b.width = width; b.steps = steps; b.guidanceScale = guidanceScale; b.seed = seed;
        b.latents = latents; b.outputType = outputType; b.framesPerSlice = framesPerSlice; b.progress = progress;
        b.scheduler = scheduler;
        return b;
    }

    /** Builder with LaVie base's defaults; {@link #build()} validates. */
    public static final class Builder {
        private String prompt, negativePrompt = "";
        private INDArray promptEmbeds, negativePromptEmbeds, latents;
        private int frames = 16, height = 320, width = 512, steps = 50, framesPerSlice = 1;
        private double guidanceScale = 7.5;
        private long seed = 0;
        private OutputType outputType = OutputType.FRAMES;
        private ProgressListener progress = ProgressListener.NONE;
        private SchedulerKind scheduler;

        private Builder() {}

        public Builder prompt(String v) { prompt = v; return this; }
        public Builder negativePrompt(String v) { negativePrompt = v; return this; }
        /** Precomputed conditional and unconditional text states (the negative may be null). */
        public Builder embeddings(INDArray prompt, INDArray negative) { promptEmbeds = prompt; negativePromptEmbeds = negative; return this; }
        public Builder frames(int v) { frames = v; return this; }
        public Builder size(int h, int w) { height = h; width = w; return this; }
        public Builder steps(int v) { steps = v; return this; }
        public Builder guidanceScale(double v) { guidanceScale = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder latents(INDArray v) { latents = v; return this; }
        public Builder outputType(OutputType v) { outputType = v; return this; }
        public Builder framesPerSlice(int v) { framesPerSlice = v; return this; }
        public Builder progress(ProgressListener v) { progress = v; return this; }
        /** The sampler for this call (null: the pipeline's own). */
        public Builder scheduler(SchedulerKind v) { scheduler = v; return this; }

        public GenerateOptions build() {
            return new GenerateOptions(prompt, negativePrompt, promptEmbeds, negativePromptEmbeds, frames, height, width, steps,
                    guidanceScale, seed, latents, outputType, framesPerSlice, progress, scheduler);
        }
    }
}
