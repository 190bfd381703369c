package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Memory;
import org.lavie4j.core.media.Video;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CancellationException;

/**
 * LaVie's whole cascade, base → interpolation → VSR ({@code base/sample.py}, {@code interpolation/sample.py},
 * {@code vsr/sample.py} run one after the other), with the frames passed in memory. Each stage is optional (base only;
 * base + interpolation; base + VSR; all three; or, from an existing clip, interpolation and/or VSR), each has its own
 * options with that stage's defaults ({@link CascadeOptions}), and one listener sees every step of every stage and can
 * cancel ({@link CascadeProgress}).
 *
 * <p><b>Between stages.</b> The original writes each stage's video to an mp4 and the next script reads it back: the
 * float frames are rounded to 8 bits (half up in base and interpolation), encoded (H.264, imageio quality 9), decoded,
 * and turned back into floats ({@code u8/255} then normalised). By default ({@link CascadeOptions.Handoff#UINT8}) the
 * cascade does the same minus the codec: it rounds a stage's output to 8 bits exactly as that stage's script does
 * ({@link Video#fromTensor(INDArray, double, Video.Rounding)}) and gives those frames to the next stage's {@code Video}
 * entry point, which converts them as the next script converts what it reads. Passing the uint8-rounded frames thus
 * reproduces the original's inputs to every stage exactly, except for the mp4 codec's loss, which the original suffers
 * and this does not. {@link CascadeOptions.Handoff#FLOAT} passes the float frames instead (clamped to [−1, 1], not
 * quantized): a little closer to what the models produced, no longer the original's numbers.
 *
 * <p><b>Frame rates.</b> Base: {@link CascadeOptions#baseFps()} (LaVie 8); interpolation: {@value InterpolationPipeline#FPS}
 * (the original writes 24); VSR keeps its input's (8 after base, 24 after interpolation).
 *
 * <p><b>Checks first.</b> {@link #plan} checks that every selected stage has a model and that each stage's output fits
 * the next stage (frame count, sizes, the VSR memory budget) before any work, and names the stage and both shapes when
 * it does not. Each stage's intermediate tensors are freed as soon as the next stage has its input, so the peak is the
 * largest single stage's (for LaVie's sizes, the VSR stage's).
 *
 * <p>Not thread-safe (the stages are not).
 */
public final class CascadePipeline {
    private final TextToVideoPipeline base;
    private final InterpolationPipeline interpolation;
    private final SuperResolutionPipeline superResolution;

    /** The frames, size and frame rate a stage produces. */
    public record StagePlan(CascadeStage stage, int frames, int height, int width, double fps) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: %d frames %dx%d at %s fps", stage.id(), frames, height, width,
                    fps == Math.rint(fps) ? String.valueOf((long) fps) : String.valueOf(fps));
        }
    }

    /**
     * @param base            the base stage, or null when no run selects it
     * @param interpolation   the interpolation stage, or null likewise
     * @param superResolution the VSR stage, or null likewise
     */
    public CascadePipeline(TextToVideoPipeline base, InterpolationPipeline interpolation, SuperResolutionPipeline superResolution) {
        if (base == null && interpolation == null && superResolution == null)
            throw new IllegalArgumentException("CascadePipeline: give at least one stage's pipeline");
        this.base = base;
        this.interpolation = interpolation;
        this.superResolution = superResolution;
    }

    /**
     * Loads the selected stages from LaVie's {@code pretrained_models/} folder: {@code lavie_base.pt} and
     * {@code lavie_interpolation.pt} with {@code stable-diffusion-v1-4/}, {@code lavie_vsr.pt} with
     * {@code stable-diffusion-x4-upscaler/} ({@link TextToVideoModel#load}, {@link InterpolationModel#load},
     * {@link SuperResolutionModel#load}). Only the selected stages are read.
     *
     * @throws java.nio.file.NoSuchFileException naming the file a selected stage needs and where it was expected
     */
    public static CascadePipeline load(Path dir, Set<CascadeStage> stages) throws IOException {
        if (stages == null || stages.isEmpty()) throw new IllegalArgumentException("CascadePipeline.load: select at least one stage");
        TextToVideoPipeline b = stages.contains(CascadeStage.BASE) ? TextToVideoModel.load(dir).pipeline() : null;
        InterpolationPipeline i = stages.contains(CascadeStage.INTERPOLATION) ? InterpolationModel.load(dir).pipeline() : null;
        SuperResolutionPipeline u = stages.contains(CascadeStage.SUPER_RESOLUTION) ? SuperResolutionModel.load(dir).pipeline() : null;
        return new CascadePipeline(b, i, u);
    }

    public TextToVideoPipeline base() { return base; }
    public InterpolationPipeline interpolation() { return interpolation; }
    public SuperResolutionPipeline superResolution() { return superResolution; }

    /** True when this cascade has the model of {@code stage}. */
    public boolean has(CascadeStage stage) {
        return switch (stage) {
            case BASE -> base != null;
            case INTERPOLATION -> interpolation != null;
            case SUPER_RESOLUTION -> superResolution != null;
        };
    }

    // ------------------------------------------------------------------------------------------------ checks

    /**
     * Checks a run that starts with the base stage, before any work, and returns what each stage will produce.
     *
     * @throws IllegalStateException    a selected stage without a model, or a text prompt for a stage without a text encoder
     * @throws IllegalArgumentException options that do not fit a stage's model, or a stage whose output the next stage
     *                                  cannot take (the message names both stages and the shape)
     */
    public List<StagePlan> plan(CascadeOptions o) {
        if (!o.runs(CascadeStage.BASE))
            throw new IllegalArgumentException("CascadePipeline: without the base stage the cascade needs an input video (run(Video, options)); "
                    + "selected: " + ids(o.stages()));
        requireModels(o);
        GenerateOptions g = o.base();
        base.check(g);
        StagePlan first = new StagePlan(CascadeStage.BASE, g.frames(), g.height(), g.width(), o.baseFps());
        return planFrom(first, o);
    }

    /**
     * Checks a run that starts from a clip of {@code frames} frames of height × width at {@code fps} (the base stage not
     * selected), before any work, and returns what each stage will produce.
     *
     * @throws IllegalStateException    as {@link #plan(CascadeOptions)}
     * @throws IllegalArgumentException as {@link #plan(CascadeOptions)}, and for options that select the base stage
     */
    public List<StagePlan> plan(int frames, int height, int width, double fps, CascadeOptions o) {
        if (o.runs(CascadeStage.BASE))
            throw new IllegalArgumentException("CascadePipeline: the base stage makes its own video from the prompt; to start from an input "
                    + "video select only interp and/or vsr (selected: " + ids(o.stages()) + ")");
        requireModels(o);
        List<StagePlan> plan = planFrom(new StagePlan(null, frames, height, width, fps), o);
        return plan.subList(1, plan.size());
    }

    /** The stages after {@code input}, each checked against its predecessor's output; the list starts with {@code input}. */
    private List<StagePlan> planFrom(StagePlan input, CascadeOptions o) {
        List<StagePlan> plan = new ArrayList<>(List.of(input));
        StagePlan prev = input;
        if (o.runs(CascadeStage.INTERPOLATION)) {
            InterpolateOptions io = o.interpolation();
            StagePlan in = prev;
            chained(CascadeStage.INTERPOLATION, in, () -> interpolation.check(in.frames(), in.height(), in.width(), io));
            prev = new StagePlan(CascadeStage.INTERPOLATION, InterpolationPipeline.OUTPUT_FRAMES,
                    io.height() != 0 ? io.height() : in.height(), io.width() != 0 ? io.width() : in.width(), InterpolationPipeline.FPS);
            plan.add(prev);
        }
        if (o.runs(CascadeStage.SUPER_RESOLUTION)) {
            UpscaleOptions uo = o.superResolution();
            StagePlan in = prev;
            chained(CascadeStage.SUPER_RESOLUTION, in, () -> superResolution.check(in.frames(), in.height(), in.width(), uo));
            int f = superResolution.scale();
            plan.add(new StagePlan(CascadeStage.SUPER_RESOLUTION, in.frames(), in.height() * f, in.width() * f, in.fps()));
        }
        return plan;
    }

    /** Runs a stage's check on its predecessor's output shape; a refusal names both stages and the shape. */
    private static void chained(CascadeStage stage, StagePlan input, Runnable check) {
        try {
            check.run();
        } catch (IllegalArgumentException e) {
            String from = input.stage() == null ? "the input video" : "the " + input.stage().id() + " stage's output";
            throw new IllegalArgumentException(String.format(Locale.ROOT, "the %s stage cannot take %s (%d frames of %dx%d): %s",
                    stage.id(), from, input.frames(), input.height(), input.width(), e.getMessage()), e);
        }
    }

    private void requireModels(CascadeOptions o) {
        for (CascadeStage s : o.stages()) {
            if (has(s)) continue;
            String files = switch (s) {
                case BASE -> TextToVideoModel.LAVIE_BASE_PT + " with " + TextToVideoModel.SD14 + "/ beside it, or a lavie4j model folder "
                        + "(TextToVideoModel.load)";
                case INTERPOLATION -> InterpolationModel.CHECKPOINT_PT + " with " + InterpolationModel.SD14 + "/ beside it (InterpolationModel.load)";
                case SUPER_RESOLUTION -> SuperResolutionModel.CHECKPOINT_PT + " with " + SuperResolutionModel.X4 + "/ beside it (SuperResolutionModel.load)";
            };
            throw new IllegalStateException("CascadePipeline: the " + s.id() + " stage is selected but this cascade has no " + s.id()
                    + " model; it needs " + files + ", as in LaVie's pretrained_models/");
        }
    }

    // ------------------------------------------------------------------------------------------------ runs

    /**
     * Runs the selected stages from the prompt (the base stage must be selected).
     *
     * @throws CancellationException when the listener cancels (every tensor of the run freed)
     * @throws IllegalArgumentException / IllegalStateException as {@link #plan(CascadeOptions)}, before any work
     */
    public CascadeResult run(CascadeOptions o) {
        List<StagePlan> plan = plan(o);
        List<CascadeResult.StageOutput> outputs = new ArrayList<>();
        long start = System.nanoTime();
        CascadeProgress p = o.progress();
        p.onStageStart(plan.get(0), 0, plan.size());
        GenerateOptions g = o.base();
        GenerateResult r = base.generate(g.toBuilder().progress(forward(g.progress(), CascadeStage.BASE, p)).build());
        Memory.free(r.latents());
        Stage out = finish(CascadeStage.BASE, r.video(), o.baseFps(), Video.Rounding.HALF_UP, start, plan.size() > 1, o);
        outputs.add(out.output);
        p.onStageDone(out.output);
        return continueWith(out, plan, 1, outputs, o);
    }

    /**
     * Runs the selected later stages (interpolation and/or VSR, not base) on an existing clip, e.g. a base video read
     * with {@link org.lavie4j.core.media.VideoIO#read}; the clip's frame rate is what the VSR stage keeps when it runs
     * alone.
     *
     * @throws CancellationException when the listener cancels
     * @throws IllegalArgumentException / IllegalStateException as {@link #plan(int, int, int, double, CascadeOptions)}
     */
    public CascadeResult run(Video input, CascadeOptions o) {
        List<StagePlan> plan = plan(input.frames(), input.height(), input.width(), input.fps(), o);
        Stage in = new Stage(input, null, null);
        return continueWith(in, plan, 0, new ArrayList<>(), o);
    }

    /** Runs {@code plan[from..]} starting from {@code in} (8-bit frames, and the float frames when handing off floats). */
    private CascadeResult continueWith(Stage in, List<StagePlan> plan, int from, List<CascadeResult.StageOutput> outputs, CascadeOptions o) {
        CascadeProgress p = o.progress();
        Stage cur = in;
        try {
            for (int k = from; k < plan.size(); k++) {
                StagePlan sp = plan.get(k);
                boolean more = k < plan.size() - 1;
                long start = System.nanoTime();
                p.onStageStart(sp, outputs.size(), outputs.size() + plan.size() - k);
                INDArray video;
                Video.Rounding rounding;
                if (sp.stage() == CascadeStage.INTERPOLATION) {
                    InterpolateOptions io = o.interpolation();
                    io = io.toBuilder().progress(forward(io.progress(), CascadeStage.INTERPOLATION, p)).build();
                    GenerateResult r = cur.floats != null ? interpolation.interpolate(cur.floats, io) : interpolation.interpolate(cur.frames, io);
                    Memory.free(r.latents());
                    video = r.video();
                    rounding = Video.Rounding.HALF_UP;                               // interpolation/sample.py rounds half up
                } else {
                    UpscaleOptions uo = o.superResolution();
                    uo = uo.toBuilder().progress(forward(uo.progress(), p)).build();
                    UpscaleResult r = cur.floats != null ? superResolution.upscale(cur.floats, uo) : superResolution.upscale(cur.frames, uo);
                    Memory.free(r.latents());
                    video = r.video();
                    rounding = Video.Rounding.TRUNCATE;                              // vsr/sample.py truncates
                }
                cur.release();                                                       // the previous stage's floats
                cur = finish(sp.stage(), video, sp.fps(), rounding, start, more, o);
                outputs.add(cur.output);
                p.onStageDone(cur.output);
            }
        } catch (RuntimeException e) {
            cur.release();
            throw e;
        }
        return new CascadeResult(cur.result, outputs);
    }

    /**
     * A stage's float video becomes its 8-bit frames and, when another stage follows with {@link CascadeOptions.Handoff#FLOAT},
     * the clamped floats for it (the original video is then freed); the last stage keeps its floats as the result.
     */
    private static Stage finish(CascadeStage stage, INDArray video, double fps, Video.Rounding rounding, long startNanos, boolean more,
                                CascadeOptions o) {
        Video frames;
        try {
            frames = Video.fromTensor(video, fps, rounding);
        } catch (RuntimeException e) {
            Memory.free(video);
            throw e;
        }
        INDArray floats = null, result = null;
        if (!more) {
            result = video;
        } else if (o.handoff() == CascadeOptions.Handoff.FLOAT) {
            floats = Transforms.min(Transforms.max(video, -1.0, false), 1.0, false);   // in place: the stage's own array
        } else {
            Memory.free(video);
        }
        Duration elapsed = Duration.ofNanos(System.nanoTime() - startNanos);
        return new Stage(frames, floats, new CascadeResult.StageOutput(stage, frames, elapsed), result);
    }

    /** What passes from one stage to the next. */
    private static final class Stage {
        final Video frames;
        INDArray floats;
        final CascadeResult.StageOutput output;
        final INDArray result;

        Stage(Video frames, INDArray floats, CascadeResult.StageOutput output) { this(frames, floats, output, null); }

        Stage(Video frames, INDArray floats, CascadeResult.StageOutput output, INDArray result) {
            this.frames = frames;
            this.floats = floats;
            this.output = output;
            this.result = result;
        }

        void release() {
            Memory.free(floats);
            floats = null;
        }
    }

    /** The stage's own listener (if any), then the cascade's. */
    private static ProgressListener forward(ProgressListener own, CascadeStage stage, CascadeProgress p) {
        return (step, total, t, elapsed) -> own.onStep(step, total, t, elapsed) && p.onStep(stage, step, total, elapsed);
    }

    /** The VSR stage's own listener (if any), then the cascade's with the step counted across chunks. */
    private static UpscaleProgress forward(UpscaleProgress own, CascadeProgress p) {
        return new UpscaleProgress() {
            @Override
            public boolean onStep(int chunk, int chunks, int step, int steps, long timestep, Duration elapsed) {
                return own.onStep(chunk, chunks, step, steps, timestep, elapsed)
                        && p.onStep(CascadeStage.SUPER_RESOLUTION, chunk * steps + step, chunks * steps, elapsed);
            }

            @Override
            public boolean onChunkDone(int chunk, int chunks, int fromFrame, int toFrame, Duration elapsed) {
                return own.onChunkDone(chunk, chunks, fromFrame, toFrame, elapsed);
            }
        };
    }

    private static String ids(Set<CascadeStage> stages) {
        return EnumSet.copyOf(stages).stream().map(CascadeStage::id).toList().toString();
    }
}
