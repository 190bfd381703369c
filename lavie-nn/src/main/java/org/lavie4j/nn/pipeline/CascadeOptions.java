package org.lavie4j.nn.pipeline;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * The arguments of {@link CascadePipeline}: which stages run, each stage's own options, how frames pass between
 * stages, and a progress listener. Validated on construction. Build with {@link #builder()}, which fills each selected
 * stage's options from that stage's own defaults (LaVie's), the prompt and the seeds:
 * <ul>
 *   <li>base: {@link GenerateOptions#builder()} with the prompt and {@code seed};</li>
 *   <li>interpolation: {@link InterpolateOptions#builder()} with {@link #laterStagePrompt} and the seed
 *       {@value #INTERPOLATION_SEED} (the original's fixed seed);</li>
 *   <li>VSR: {@link UpscaleOptions#builder()} with {@link #laterStagePrompt} and the seed {@value #VSR_SEED} (the
 *       original's {@code manual_seed(10)}).</li>
 * </ul>
 * A stage's options may be adjusted ({@code .interpolation(b -> b.steps(25))}) or given whole; a stage's own progress
 * listener, if it has one, is called before the cascade's.
 *
 * @param stages          the stages to run, at least one; they run in the order base, interpolation, VSR
 * @param base            options of the base stage (required when it is selected; ignored otherwise)
 * @param interpolation   options of the interpolation stage (likewise)
 * @param superResolution options of the VSR stage (likewise)
 * @param handoff         how a stage's frames reach the next one (default {@link Handoff#UINT8}, the original's)
 * @param baseFps         frame rate of the base stage's video (LaVie: 8; a model's {@link ModelInfo#fps()})
 * @param progress        told every step of every stage; can cancel (never null; {@link CascadeProgress#NONE} by default)
 */
public record CascadeOptions(Set<CascadeStage> stages, GenerateOptions base, InterpolateOptions interpolation,
                             UpscaleOptions superResolution, Handoff handoff, double baseFps, CascadeProgress progress) {

    /** How a stage's frames reach the next stage. */
    public enum Handoff {
        /**
         * 8-bit frames, rounded as the stage's script rounds before writing its mp4 (half up for base and
         * interpolation) and read back as the next script reads them: the original's numbers exactly, minus the mp4
         * codec's loss (the default).
         */
        UINT8,
        /** The float frames, clamped to [−1, 1] (the range 8-bit frames cover) but not quantized. */
        FLOAT
    }

    /** The base stage's frame rate in the original ({@code imageio.mimwrite(..., fps=8)}). */
    public static final double DEFAULT_BASE_FPS = 8.0;
    /** The original's interpolation seed ({@code interpolation/configs/sample.yaml}). */
    public static final long INTERPOLATION_SEED = 3418;
    /** The original's VSR generator seed ({@code torch.Generator("cuda").manual_seed(10)}). */
    public static final long VSR_SEED = 10;

    public CascadeOptions {
        if (stages == null || stages.isEmpty())
            throw new IllegalArgumentException("CascadeOptions: select at least one stage (base, interp, vsr)");
        stages = Collections.unmodifiableSet(EnumSet.copyOf(stages));
        if (stages.contains(CascadeStage.BASE)) {
            require(base, CascadeStage.BASE);
            if (base.outputType() != OutputType.FRAMES) throw framesNeeded(CascadeStage.BASE);
            for (INDArray a : new INDArray[]{base.promptEmbeds(), base.latents()})
                if (a != null && a.size(0) != 1)
                    throw new IllegalArgumentException("CascadeOptions: the cascade makes one video; the base stage's prompt embeddings and "
                            + "latents must have batch 1, got " + a.size(0));
        }
        if (stages.contains(CascadeStage.INTERPOLATION)) {
            require(interpolation, CascadeStage.INTERPOLATION);
            if (interpolation.outputType() != OutputType.FRAMES) throw framesNeeded(CascadeStage.INTERPOLATION);
        }
        if (stages.contains(CascadeStage.SUPER_RESOLUTION)) {
            require(superResolution, CascadeStage.SUPER_RESOLUTION);
            if (superResolution.outputType() != OutputType.FRAMES) throw framesNeeded(CascadeStage.SUPER_RESOLUTION);
        }
        if (handoff == null) handoff = Handoff.UINT8;
        if (!(baseFps > 0) || !Double.isFinite(baseFps))
            throw new IllegalArgumentException("CascadeOptions: baseFps must be finite and > 0, got " + baseFps);
        if (progress == null) progress = CascadeProgress.NONE;
    }

    private static void require(Object options, CascadeStage stage) {
        if (options == null)
            throw new IllegalArgumentException("CascadeOptions: the " + stage.id() + " stage is selected but has no options");
    }

    private static IllegalArgumentException framesNeeded(CascadeStage stage) {
        return new IllegalArgumentException("CascadeOptions: the " + stage.id() + " stage's outputType must be FRAMES: the cascade passes "
                + "frames between stages and returns the last stage's video");
    }

    /** True when {@code stage} runs. */
    public boolean runs(CascadeStage stage) { return stages.contains(stage); }

    /** The first stage that runs. */
    public CascadeStage firstStage() { return stages.iterator().next(); }

    /**
     * The prompt the original's later stages see: the base stage writes its mp4 under the prompt with spaces as '_',
     * and the interpolation and VSR scripts take their prompt from that file name.
     */
    public static String laterStagePrompt(String prompt) {
        return prompt == null ? null : prompt.replace(' ', '_');
    }

    public static Builder builder() { return new Builder(); }

    /** Builder; see the class comment for how each stage's options are filled. {@link #build()} validates. */
    public static final class Builder {
        private Set<CascadeStage> stages = EnumSet.allOf(CascadeStage.class);
        private String prompt, laterPrompt;
        private long seed;
        private GenerateOptions base;
        private InterpolateOptions interpolation;
        private UpscaleOptions superResolution;
        private UnaryOperator<GenerateOptions.Builder> baseEdit = UnaryOperator.identity();
        private UnaryOperator<InterpolateOptions.Builder> interpolationEdit = UnaryOperator.identity();
        private UnaryOperator<UpscaleOptions.Builder> superResolutionEdit = UnaryOperator.identity();
        private Handoff handoff = Handoff.UINT8;
        private double baseFps = DEFAULT_BASE_FPS;
        private CascadeProgress progress = CascadeProgress.NONE;

        private Builder() {}

        /** The stages to run (default: all three). */
        public Builder stages(Set<CascadeStage> v) { stages = v == null ? null : EnumSet.copyOf(v); return this; }
        public Builder stages(CascadeStage first, CascadeStage... more) { stages = EnumSet.of(first, more); return this; }
        /** The prompt of the base stage; the later stages get {@link CascadeOptions#laterStagePrompt} of it unless set. */
        public Builder prompt(String v) { prompt = v; return this; }
        /** The prompt of the interpolation and VSR stages (default: the prompt with spaces as '_', as the original). */
        public Builder laterStagePrompt(String v) { laterPrompt = v; return this; }
        /** Seed of the base stage (the later stages default to the original's fixed seeds). */
        public Builder seed(long v) { seed = v; return this; }
        /** Adjusts the base stage's default options. */
        public Builder base(UnaryOperator<GenerateOptions.Builder> edit) { baseEdit = Objects.requireNonNull(edit); base = null; return this; }
        /** The base stage's options, whole (prompt and seed included). */
        public Builder base(GenerateOptions v) { base = v; return this; }
        public Builder interpolation(UnaryOperator<InterpolateOptions.Builder> edit) {
            interpolationEdit = Objects.requireNonNull(edit); interpolation = null; return this;
        }
        public Builder interpolation(InterpolateOptions v) { interpolation = v; return this; }
        public Builder superResolution(UnaryOperator<UpscaleOptions.Builder> edit) {
            superResolutionEdit = Objects.requireNonNull(edit); superResolution = null; return this;
        }
        public Builder superResolution(UpscaleOptions v) { superResolution = v; return this; }
        public Builder handoff(Handoff v) { handoff = v; return this; }
        public Builder baseFps(double v) { baseFps = v; return this; }
        public Builder progress(CascadeProgress v) { progress = v; return this; }

        public CascadeOptions build() {
            if (stages == null || stages.isEmpty())
                throw new IllegalArgumentException("CascadeOptions: select at least one stage (base, interp, vsr)");
            String later = laterPrompt != null ? laterPrompt : CascadeOptions.laterStagePrompt(prompt);
            GenerateOptions b = null;
            InterpolateOptions i = null;
            UpscaleOptions u = null;
            if (stages.contains(CascadeStage.BASE))
                b = base != null ? base : stage(CascadeStage.BASE, () -> baseEdit.apply(GenerateOptions.builder().prompt(prompt).seed(seed)).build());
            if (stages.contains(CascadeStage.INTERPOLATION))
                i = interpolation != null ? interpolation : stage(CascadeStage.INTERPOLATION,
                        () -> interpolationEdit.apply(InterpolateOptions.builder().prompt(later).seed(INTERPOLATION_SEED)).build());
            if (stages.contains(CascadeStage.SUPER_RESOLUTION))
                u = superResolution != null ? superResolution : stage(CascadeStage.SUPER_RESOLUTION,
                        () -> superResolutionEdit.apply(UpscaleOptions.builder().prompt(later).seed(VSR_SEED)).build());
            return new CascadeOptions(stages, b, i, u, handoff, baseFps, progress);
        }

        private <T> T stage(CascadeStage s, java.util.function.Supplier<T> build) {
            try {
                return build.get();
            } catch (IllegalArgumentException e) {
                String hint = prompt == null && laterPrompt == null ? " (give a prompt, or the " + s.id() + " stage's options whole)" : "";
                throw new IllegalArgumentException("CascadeOptions: " + s.id() + " stage: " + e.getMessage() + hint, e);
            }
        }
    }
}
