package org.lavie4j.nn.pipeline;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The arguments of {@link InterpolationPipeline#interpolate} (LaVie {@code interpolation/sample.py}
 * {@code auto_inpainting_copy_no_mask} with {@code configs/sample.yaml}), validated on construction. Build with
 * {@link #builder()}; the defaults are the original's: prompt suffix {@code ", 4k."}, negative prompt {@code "None"} (the
 * literal string), 50 respaced DDIM steps, eta 0, guidance 4.0 with the text batch in the order [cond, uncond].
 *
 * @param prompt               the text, or null when {@code promptEmbeds} are given (exactly one of the two). The original
 *                             takes it from the input mp4's file name (with '_' for spaces)
 * @param promptSuffix         appended to {@code prompt} before tokenizing (the original's {@code additional_prompt}
 *                             {@code ", 4k."}); not applied to {@code promptEmbeds} or the negative prompt
 * @param negativePrompt       the unconditional text (default the literal {@code "None"}, as the original and its
 *                             training-time caption dropout)
 * @param promptEmbeds         precomputed text states (1, L, D) of the conditional prompt (suffix included), or null
 * @param negativePromptEmbeds precomputed unconditional states (1, L, D), or null (then {@code negativePrompt} is encoded)
 * @param height               output height in pixels, or 0 for the input's (frames of another size are resized
 *                             bilinearly as the original's {@code ResizeVideo}); the original uses 320
 * @param width                output width in pixels, or 0 for the input's; the original uses 512
 * @param steps                respaced DDIM steps ({@code create_diffusion(str(steps))}), 1..1000
 * @param guidanceScale        classifier-free guidance scale s >= 0: ε = ε_u + s·(ε_c − ε_u); at exactly 1 the
 *                             unconditional pass is skipped (the formula reduces to ε_c)
 * @param eta                  DDIM eta >= 0 (the original: 0, deterministic)
 * @param seed                 seeds the Java generator that draws the VAE posterior noise, the initial noise (each from
 *                             a fresh generator of this seed, as the original re-seeds torch before each) and, for
 *                             eta > 0, the step noise; it does not reproduce torch's RNG streams
 * @param vaeNoise             the noise ε of the VAE posterior sample {@code mean + std·ε}, laid out as the original draws
 *                             it for the 61 selected frames: (61, 4, h, w), or null to draw it. Only rows 0, 4, …, 60 are
 *                             used (the conditioning keeps those frames, see {@link InterpolationPipeline})
 * @param noise                the initial latents z (1, 4, 61, h, w), or null to draw them
 * @param outputType           {@link OutputType#LATENTS} skips the VAE decode
 * @param framesPerSlice       frames the VAE encodes and decodes at a time, >= 1
 * @param progress             told after every step; can cancel ({@link ProgressListener#NONE} by default)
 * @param observer             sees x and the guided ε of every step (tests and debugging), or null
 */
public record InterpolateOptions(String prompt, String promptSuffix, String negativePrompt, INDArray promptEmbeds,
                                 INDArray negativePromptEmbeds, int height, int width, int steps, double guidanceScale,
                                 double eta, long seed, INDArray vaeNoise, INDArray noise, OutputType outputType,
                                 int framesPerSlice, ProgressListener progress, InterpolationPipeline.StepObserver observer) {

    /** The original's {@code additional_prompt}. */
    public static final String DEFAULT_PROMPT_SUFFIX = ", 4k.";
    /** The original's {@code negative_prompt}: the literal string "None". */
    public static final String DEFAULT_NEGATIVE_PROMPT = "None";
    /** The original's {@code num_sampling_steps}. */
    public static final int DEFAULT_STEPS = 50;
    /** {@code forward_with_cfg}'s default scale (the yaml's {@code cfg_scale} 4.0 is never passed; same value). */
    public static final double DEFAULT_GUIDANCE = 4.0;
    /** The original's {@code diffusion_steps}: the respacing picks from these. */
    public static final int TRAIN_TIMESTEPS = 1000;

    public InterpolateOptions {
        if ((prompt == null) == (promptEmbeds == null))
            throw new IllegalArgumentException("InterpolateOptions: give exactly one of prompt and promptEmbeds");
        if (promptSuffix == null) promptSuffix = "";
        if (negativePrompt == null) negativePrompt = DEFAULT_NEGATIVE_PROMPT;
        if (height < 0 || width < 0 || (height == 0) != (width == 0))
            throw new IllegalArgumentException("InterpolateOptions: height and width must both be 0 (the input's size) or both positive, got "
                    + height + "x" + width);
        if (height % 8 != 0 || width % 8 != 0)
            throw new IllegalArgumentException("InterpolateOptions: height and width must be multiples of 8, got " + height + "x" + width);
        if (steps < 1 || steps > TRAIN_TIMESTEPS)
            throw new IllegalArgumentException("InterpolateOptions: steps must be in [1, " + TRAIN_TIMESTEPS + "] (respaced from "
                    + TRAIN_TIMESTEPS + " diffusion steps), got " + steps);
        if (!(guidanceScale >= 0) || !Double.isFinite(guidanceScale))
            throw new IllegalArgumentException("InterpolateOptions: guidanceScale must be finite and >= 0, got " + guidanceScale);
        if (!(eta >= 0) || !Double.isFinite(eta))
            throw new IllegalArgumentException("InterpolateOptions: eta must be finite and >= 0, got " + eta);
        if (outputType == null) throw new IllegalArgumentException("InterpolateOptions: outputType must not be null");
        if (framesPerSlice < 1) throw new IllegalArgumentException("InterpolateOptions: framesPerSlice must be >= 1, got " + framesPerSlice);
        if (progress == null) progress = ProgressListener.NONE;
        for (INDArray e : new INDArray[]{promptEmbeds, negativePromptEmbeds})
            if (e != null && (e.rank() != 3 || e.size(0) != 1))
                throw new IllegalArgumentException("InterpolateOptions: text states must be (1, L, D), got " + Arrays.toString(e.shape()));
        if (negativePromptEmbeds != null && promptEmbeds == null)
            throw new IllegalArgumentException("InterpolateOptions: negativePromptEmbeds need promptEmbeds");
        if (negativePromptEmbeds != null && !Arrays.equals(negativePromptEmbeds.shape(), promptEmbeds.shape()))
            throw new IllegalArgumentException("InterpolateOptions: negativePromptEmbeds " + Arrays.toString(negativePromptEmbeds.shape())
                    + " must have the shape of promptEmbeds " + Arrays.toString(promptEmbeds.shape()));
        int f = InterpolationPipeline.OUTPUT_FRAMES;
        if (vaeNoise != null && (vaeNoise.rank() != 4 || vaeNoise.size(0) != f))
            throw new IllegalArgumentException("InterpolateOptions: vaeNoise must be (" + f + ", C, h, w) (one row per selected frame), got "
                    + Arrays.toString(vaeNoise.shape()));
        if (noise != null && (noise.rank() != 5 || noise.size(0) != 1 || noise.size(2) != f))
            throw new IllegalArgumentException("InterpolateOptions: noise must be (1, C, " + f + ", h, w), got " + Arrays.toString(noise.shape()));
    }

    /** The text the conditional prompt is encoded from: {@code prompt + promptSuffix} (null with precomputed states). */
    public String conditionalText() { return prompt == null ? null : prompt + promptSuffix; }

    /** True when the unconditional pass runs (every scale but exactly 1). */
    public boolean doClassifierFreeGuidance() { return guidanceScale != 1.0; }

    public static Builder builder() { return new Builder(); }

    /** A builder holding these options. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.prompt = prompt; b.promptSuffix = promptSuffix; b.negativePrompt = negativePrompt; b.promptEmbeds = promptEmbeds;
        b.negativePromptEmbeds = negativePromptEmbeds; b.height = height; b.width = width; b.steps = steps;
        b.guidanceScale = guidanceScale; b.eta = eta; b.seed = seed; b.vaeNoise = vaeNoise; b.noise = noise;
        b.outputType = outputType; b.framesPerSlice = framesPerSlice; b.progress = progress; b.observer = observer;
        return b;
    }

    /** Builder with the original's defaults; {@link #build()} validates. */
    public static final class Builder {
        private String prompt, promptSuffix = DEFAULT_PROMPT_SUFFIX, negativePrompt = DEFAULT_NEGATIVE_PROMPT;
        private INDArray promptEmbeds, negativePromptEmbeds, vaeNoise, noise;
        private int height, width, steps = DEFAULT_STEPS, framesPerSlice = 1;
        private double guidanceScale = DEFAULT_GUIDANCE, eta;
        private long seed;
        private OutputType outputType = OutputType.FRAMES;
        private ProgressListener progress = ProgressListener.NONE;
        private InterpolationPipeline.StepObserver observer;

        private Builder() {}

        public Builder prompt(String v) { prompt = v; return this; }
        public Builder promptSuffix(String v) { promptSuffix = v; return this; }
        public Builder negativePrompt(String v) { negativePrompt = v; return this; }
        /** Precomputed conditional (suffix included) and unconditional text states (the negative may be null). */
        public Builder embeddings(INDArray cond, INDArray uncond) { promptEmbeds = cond; negativePromptEmbeds = uncond; return this; }
        /** Output size in pixels (0, 0: the input's). */
        public Builder size(int h, int w) { height = h; width = w; return this; }
        public Builder steps(int v) { steps = v; return this; }
        public Builder guidanceScale(double v) { guidanceScale = v; return this; }
        public Builder eta(double v) { eta = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder vaeNoise(INDArray v) { vaeNoise = v; return this; }
        public Builder noise(INDArray v) { noise = v; return this; }
        public Builder outputType(OutputType v) { outputType = v; return this; }
        public Builder framesPerSlice(int v) { framesPerSlice = v; return this; }
        public Builder progress(ProgressListener v) { progress = v; return this; }
        public Builder observer(InterpolationPipeline.StepObserver v) { observer = v; return this; }

        public InterpolateOptions build() {
            return new InterpolateOptions(prompt, promptSuffix, negativePrompt, promptEmbeds, negativePromptEmbeds, height, width,
                    steps, guidanceScale, eta, seed, vaeNoise, noise, outputType, framesPerSlice, progress, observer);
        }
    }
}
