package org.lavie4j.examples.cli;

import org.bytedeco.javacpp.Pointer;
import org.lavie4j.core.Module;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.UpscaleOptions;
import org.lavie4j.nn.pipeline.CascadeOptions;
import org.lavie4j.nn.pipeline.CascadePipeline;
import org.lavie4j.nn.pipeline.CascadeProgress;
import org.lavie4j.nn.pipeline.CascadeResult;
import org.lavie4j.nn.pipeline.CascadeStage;
import org.lavie4j.nn.pipeline.InterpolationModel;
import org.lavie4j.nn.pipeline.InterpolationPipeline;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.SuperResolutionModel;
import org.lavie4j.nn.pipeline.SuperResolutionPipeline;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.vae.Tiling;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code lavie cascade PROMPT}: LaVie's whole cascade, base → interpolation → VSR, with the frames passed in memory
 * ({@link CascadePipeline}); any subset of the stages that starts with base. Only the last stage's video is written
 * (and, with {@code --save-stages}, each earlier stage's beside it).
 */
@Command(name = "cascade",
        mixinStandardHelpOptions = true,
        description = {
                "Generate a video from a text prompt with LaVie's cascade: base (16 frames, 320x512, 8 fps) -> interpolation "
                        + "(61 frames, 24 fps) -> super-resolution (x4, 1280x2048).",
                "--model DIR is LaVie's pretrained_models/ folder: lavie_base.pt, lavie_interpolation.pt, lavie_vsr.pt, "
                        + "stable-diffusion-v1-4/ and stable-diffusion-x4-upscaler/. Without --model, ./pretrained_models is used when it "
                        + "holds them; otherwise the base stage runs the embedded default model and the interpolation and VSR "
                        + "stages cannot run (use --stages base).",
                "Frames pass between stages rounded to 8 bits as the original's mp4 files round them (--handoff uint8), or as "
                        + "floats (--handoff float).",
                "The output is written atomically: on failure nothing is left under its name."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:a stage or writing failed", "2:bad input (options, prompt, model folder, output path)"})
public final class CascadeCommand implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, BAD_INPUT = 2;
    /** Where the original keeps its weights, relative to the working directory; used when --model is not given. */
    static final Path DEFAULT_MODEL = Path.of("pretrained_models");

    @Parameters(index = "0", paramLabel = "PROMPT", description = "What the video shows.")
    String prompt;

    @Option(names = "--stages", paramLabel = "LIST", description = "Comma-separated stages to run, starting with base: base, interp, vsr "
            + "(default: base,interp,vsr).")
    String stages = "base,interp,vsr";

    @Option(names = "--model", paramLabel = "DIR", description = "LaVie's pretrained_models/ folder (default: ./pretrained_models when present, "
            + "else the embedded model for the base stage).")
    Path model;

    @Option(names = "--out", paramLabel = "FILE", description = "FILE.mp4, FILE.gif or a folder for PNG frames (default: the prompt with "
            + "spaces as '_', plus '-interpolated' or '-x4' after those stages, .mp4).")
    Path out;

    @Option(names = "--force", description = "Replace the output(s) when they exist.")
    boolean force;

    @Option(names = "--save-stages", description = "Also write each earlier stage's video beside the output (NAME-base.EXT, NAME-interp.EXT).")
    boolean saveStages;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the base stage (default: random, printed). The later stages use the "
            + "original's fixed seeds (interpolation 3418, VSR 10) unless --interp-seed / --vsr-seed.")
    Long seed;

    @Option(names = "--interp-seed", paramLabel = "N", description = "Seed of the interpolation stage (default: 3418, the original's).")
    long interpSeed = CascadeOptions.INTERPOLATION_SEED;

    @Option(names = "--vsr-seed", paramLabel = "N", description = "Seed of the VSR stage (default: 10, the original's).")
    long vsrSeed = CascadeOptions.VSR_SEED;

    @Option(names = "--negative", paramLabel = "TEXT", description = "Negative prompt of the base stage (default: \"\"; the later stages use "
            + "theirs: \"None\" and \"blur, worst quality\").")
    String negative = "";

    @Option(names = "--frames", paramLabel = "N", description = "Base video length (default: the model's; LaVie base 16, which interpolation needs).")
    Integer frames;

    @Option(names = "--height", paramLabel = "H", description = "Base height in pixels (default: the model's; LaVie base 320).")
    Integer height;

    @Option(names = "--width", paramLabel = "W", description = "Base width in pixels (default: the model's; LaVie base 512).")
    Integer width;

    @Option(names = "--steps", paramLabel = "N", description = "Base denoising steps (default: the model's; LaVie base 50).")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "S", description = "Base guidance scale (default: the model's; LaVie base 7.5).")
    Double guidance;

    @Option(names = "--scheduler", paramLabel = "NAME", description = "Base sampler: ddpm, ddim, euler, pndm or dpm++ (default: the model's).")
    String scheduler;

    @Option(names = "--interp-steps", paramLabel = "N", description = "Interpolation steps (default: 50, as the original).")
    Integer interpSteps;

    @Option(names = "--vsr-steps", paramLabel = "N", description = "VSR steps per chunk (default: 50, as the original).")
    Integer vsrSteps;

    @Option(names = "--chunk", paramLabel = "N", description = "VSR frames per pass (default: 8, as the original; fewer need less memory).")
    Integer chunk;

    @Option(names = "--tile", description = "VSR: decode each frame in overlapping tiles (less memory; close to, not equal to, the untiled decode).")
    boolean tile;

    @Option(names = "--memory-budget", paramLabel = "GIB", description = "Refuse a VSR stage whose estimated working memory exceeds this many GiB "
            + "(default: what -Dorg.bytedeco.javacpp.maxphysicalbytes leaves after loading the models; no check without it).")
    Double memoryBudget;

    @Option(names = "--memory-mode", paramLabel = "MODE", description = "VSR: How the VSR UNet runs: full (the original's batch of both guidance halves), "
            + "low (the halves one after the other, frame slices, one frame per decode call: about a third of the memory, same results "
            + "up to float rounding), auto (default: low only when full exceeds the memory budget).")
    String memoryMode = "auto";

    @Option(names = "--handoff", paramLabel = "KIND", description = "How frames pass between stages: uint8 (the original's mp4 round trip "
            + "without codec loss; default) or float.")
    String handoff = "uint8";

    @Option(names = "--decode-slice", paramLabel = "N", description = "Frames the base and interpolation VAEs decode at a time (default: 1).")
    int decodeSlice = 1;

    @Option(names = WeightsDtype.OPTION, paramLabel = "TYPE", description = WeightsDtype.DESCRIPTION)
    String weightsDtype = "fp32";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long t0 = System.nanoTime();

        // 1. everything that can be checked before loading a model
        if (prompt == null || prompt.isBlank()) return bad(err, "the prompt is empty");
        Set<CascadeStage> selected;
        try {
            selected = CascadeStage.parseList(stages);
        } catch (IllegalArgumentException e) {
            return bad(err, "--stages: " + e.getMessage());
        }
        if (!selected.contains(CascadeStage.BASE))
            return bad(err, "--stages must include base: the cascade starts from the prompt (to interpolate or upscale an existing video use "
                    + "'lavie interpolate' or 'lavie upscale')");
        CascadeOptions.Handoff kind;
        try {
            kind = CascadeOptions.Handoff.valueOf(handoff.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return bad(err, "--handoff must be uint8 or float, got '" + handoff + "'");
        }
        SchedulerKind samplerKind;
        try {
            samplerKind = scheduler == null ? null : ModelInfo.scheduler(scheduler);
        } catch (IllegalArgumentException e) {
            return bad(err, "--scheduler: " + e.getMessage());
        }
        if ((height == null) != (width == null)) return bad(err, "give --height and --width together");
        if (memoryBudget != null && !(memoryBudget > 0)) return bad(err, "--memory-budget must be a positive number of GiB, got " + memoryBudget);
        UpscaleOptions.MemoryMode mode;
        try {
            mode = UpscaleOptions.MemoryMode.parse(memoryMode);
        } catch (IllegalArgumentException e) {
            return bad(err, "--memory-mode " + e.getMessage());
        }
        if (decodeSlice < 1) return bad(err, "--decode-slice must be >= 1, got " + decodeSlice);
        DataType weights;
        try {
            weights = WeightsDtype.parse(weightsDtype);
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }
        CascadeStage last = selected.contains(CascadeStage.SUPER_RESOLUTION) ? CascadeStage.SUPER_RESOLUTION
                : selected.contains(CascadeStage.INTERPOLATION) ? CascadeStage.INTERPOLATION : CascadeStage.BASE;
        String suffix = switch (last) {
            case BASE -> "";
            case INTERPOLATION -> "-interpolated";
            case SUPER_RESOLUTION -> "-x4";
        };
        Path target = out != null ? out : Path.of(SampleCommand.defaultName(prompt) + suffix + (VideoIO.mp4Available() ? ".mp4" : ".gif"));
        List<Path> targets = new ArrayList<>(List.of(target));
        if (saveStages) {
            for (CascadeStage s : selected) if (s != last) targets.add(stagePath(target, s));
        }
        for (Path p : targets) {
            String problem = OutputTarget.problem(p, force, false, null);
            if (problem != null) return bad(err, problem);
        }
        Path modelDir = model;
        if (modelDir != null) {
            if (!Files.exists(modelDir)) return bad(err, "--model " + modelDir + ": no such folder");
        } else if (TextToVideoModel.isModelFolder(DEFAULT_MODEL) || InterpolationModel.isModelFolder(DEFAULT_MODEL)
                || SuperResolutionModel.isModelFolder(DEFAULT_MODEL)) {
            modelDir = DEFAULT_MODEL;
        }
        String missing = missingWeights(modelDir, selected);
        if (missing != null) return bad(err, missing);

        // 2. the models (only the selected stages), then the options
        TextToVideoModel baseModel;
        InterpolationPipeline interp = null;
        SuperResolutionPipeline vsr = null;
        try {
            baseModel = modelDir == null ? EmbeddedModel.load() : TextToVideoModel.load(modelDir);
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, "cannot load the base model" + (modelDir == null ? " (embedded)" : " " + modelDir) + ": " + e.getMessage());
        }
        // each model goes to its weight dtype as soon as it is loaded, so that the fp32 copies never add up
        List<Module> loaded = new ArrayList<>(List.of(baseModel.textEncoder(), baseModel.unet(), baseModel.vae()));
        WeightsDtype.apply(weights, baseModel.textEncoder(), baseModel.unet(), baseModel.vae());
        try {
            if (selected.contains(CascadeStage.INTERPOLATION)) {
                InterpolationModel im = InterpolationModel.load(modelDir);
                WeightsDtype.apply(weights, im.textEncoder(), im.unet(), im.vae());
                loaded.addAll(List.of(im.textEncoder(), im.unet(), im.vae()));
                interp = im.pipeline();
            }
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, "cannot load the interpolation model " + modelDir + ": " + e.getMessage());
        }
        try {
            if (selected.contains(CascadeStage.SUPER_RESOLUTION)) {
                SuperResolutionModel sm = SuperResolutionModel.load(modelDir);
                WeightsDtype.apply(weights, sm.textEncoder(), sm.unet(), sm.vae());
                loaded.addAll(List.of(sm.textEncoder(), sm.unet(), sm.vae()));
                vsr = sm.pipeline();
            }
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, "cannot load the VSR model " + modelDir + ": " + e.getMessage());
        }
        String weightsLine = WeightsDtype.describe(weights, loaded.toArray(Module[]::new));
        ModelInfo info = baseModel.info();
        TextToVideoPipeline base = baseModel.pipeline();
        CascadePipeline cascade = new CascadePipeline(base, interp, vsr);
        stdout.printf(Locale.ROOT, "model: %s%n", modelDir == null ? "embedded: " + info.name() + " (" + info.description() + ")"
                : modelDir.toAbsolutePath().toString());
        stdout.println(weightsLine);
        if (!info.trained()) err.println("note: the base model has random, untrained weights: the video will be noise, not the prompt");
        long s = seed != null ? seed : new SecureRandom().nextLong() & Long.MAX_VALUE;
        CascadeOptions options = null;
        List<CascadePipeline.StagePlan> plan;
        try {
            CascadeOptions.Builder b = CascadeOptions.builder().prompt(prompt).stages(selected).seed(s).handoff(kind).baseFps(info.fps())
                    .base(g -> g.negativePrompt(negative)
                            .frames(frames != null ? frames : info.frames())
                            .size(height != null ? height : info.height(), width != null ? width : info.width())
                            .steps(steps != null ? steps : info.steps())
                            .guidanceScale(guidance != null ? guidance : info.guidanceScale())
                            .scheduler(samplerKind != null ? samplerKind : info.scheduler())
                            .framesPerSlice(decodeSlice))
                    .interpolation(i -> {
                        if (interpSteps != null) i.steps(interpSteps);
                        return i.seed(interpSeed).framesPerSlice(decodeSlice);
                    })
                    .superResolution(u -> {
                        if (vsrSteps != null) u.steps(vsrSteps);
                        if (chunk != null) u.chunkFrames(chunk);
                        if (memoryBudget != null) u.memoryBudgetBytes((long) (memoryBudget * (1L << 30)));
                        return u.seed(vsrSeed).memoryMode(mode);
                    });
            options = b.build();
            if (vsr != null) {
                var u = options.superResolution().toBuilder();
                if (tile) u.tiling(Tiling.defaults(vsr.vae().config()));
                if (memoryBudget == null && Pointer.maxPhysicalBytes() > 0)
                    u.memoryBudgetBytes(Math.max(1, Pointer.maxPhysicalBytes() - Pointer.physicalBytes()));
                options = b.superResolution(u.build()).build();
            }
            plan = cascade.plan(options);
        } catch (IllegalArgumentException | IllegalStateException e) {
            boolean budget = vsr != null && options != null && options.superResolution().memoryBudgetBytes() > 0
                    && e.getMessage() != null && e.getMessage().contains("budget");
            return bad(err, e.getMessage() + (budget ? " (set --memory-mode low, --chunk, --tile or --memory-budget; the budget defaults to what "
                    + "-Dorg.bytedeco.javacpp.maxphysicalbytes leaves)" : ""));
        }
        int promptTokens = baseModel.tokenizer().tokenize(prompt).size();
        if (promptTokens > baseModel.tokenizer().maxLength() - 2)
            err.printf(Locale.ROOT, "warning: the prompt has %d tokens; the text encoder reads only the first %d (as the reference, which truncates)%n",
                    promptTokens, baseModel.tokenizer().maxLength() - 2);
        stdout.printf(Locale.ROOT, "prompt: \"%s\"%s, seed %d, hand-off %s%n", prompt,
                selected.size() > 1 ? " (later stages: \"" + CascadeOptions.laterStagePrompt(prompt) + "\")" : "", s,
                kind.name().toLowerCase(Locale.ROOT));
        for (CascadePipeline.StagePlan p : plan) stdout.printf(Locale.ROOT, "  %s%n", p);
        if (vsr != null) {
            CascadePipeline.StagePlan in = plan.get(plan.size() - 2);
            stdout.printf(Locale.ROOT, "VSR estimated working memory: %s%n",
                    vsr.estimateMemory(in.frames(), in.height(), in.width(), options.superResolution()));
        }
        stdout.flush();

        // 3. run the stages, write
        CascadeResult result;
        try (StageProgress progress = new StageProgress(err)) {
            result = cascade.run(rebuildWithProgress(options, progress));
        } catch (RuntimeException e) {
            err.println("cascade: failed: " + e);
            return FAILED;
        }
        long tWrite = System.nanoTime();
        try {
            for (CascadeResult.StageOutput o : result.stages()) {
                if (o.stage() == last) continue;
                if (saveStages) stdout.printf(Locale.ROOT, "wrote %s (%s)%n", VideoIO.write(o.video(), stagePath(target, o.stage())).toAbsolutePath(),
                        describe(o.video()));
            }
            Video v = result.frames();
            stdout.printf(Locale.ROOT, "wrote %s (%s)%n", VideoIO.write(v, target).toAbsolutePath(), describe(v));
        } catch (IOException | RuntimeException e) {
            err.println("cascade: writing failed: " + e.getMessage());
            return FAILED;
        }
        StringBuilder times = new StringBuilder("time:");
        for (CascadeResult.StageOutput o : result.stages())
            times.append(String.format(Locale.ROOT, " %s %.2f s,", o.stage().id(), o.elapsed().toNanos() / 1e9));
        stdout.printf(Locale.ROOT, "%s write %.2f s, total %.2f s%n", times, (System.nanoTime() - tWrite) / 1e9, (System.nanoTime() - t0) / 1e9);
        return OK;
    }

    private static CascadeOptions rebuildWithProgress(CascadeOptions o, CascadeProgress p) {
        return new CascadeOptions(o.stages(), o.base(), o.interpolation(), o.superResolution(), o.handoff(), o.baseFps(), p);
    }

    /** A line when each stage starts and ends, and the stage's steps through {@link StepProgress} (a bar on a terminal, lines otherwise). */
    private static final class StageProgress implements CascadeProgress, AutoCloseable {
        private final PrintWriter log;
        private StepProgress steps;

        StageProgress(PrintWriter log) { this.log = log; }

        @Override
        public void onStageStart(CascadePipeline.StagePlan stage, int index, int stages) {
            close();
            log.printf(Locale.ROOT, "stage %d/%d %s%n", index + 1, stages, stage);
            log.flush();
            steps = StepProgress.auto(stage.stage().id(), log);
        }

        @Override
        public boolean onStep(CascadeStage stage, int step, int total, Duration elapsed) {
            return steps.onStep(step, total, 0, elapsed);
        }

        @Override
        public void onStageDone(CascadeResult.StageOutput output) {
            close();
            log.printf(Locale.ROOT, "stage %s done in %s%n", output.stage().id(), StepProgress.clock(output.elapsed().toNanos() / 1e9));
            log.flush();
        }

        @Override
        public void close() {
            if (steps != null) steps.close();
            steps = null;
        }
    }

    /** Why the selected stages cannot find their weights (null when they can). */
    static String missingWeights(Path dir, Set<CascadeStage> selected) {
        List<String> problems = new ArrayList<>();
        for (CascadeStage s : selected) {
            if (dir == null) {
                if (s == CascadeStage.INTERPOLATION)
                    problems.add("the interp stage needs LaVie's interpolation weights (" + InterpolationModel.CHECKPOINT_PT + " with "
                            + InterpolationModel.SD14 + "/ beside it); there is no embedded interpolation model");
                if (s == CascadeStage.SUPER_RESOLUTION)
                    problems.add("the vsr stage needs LaVie's VSR weights (" + SuperResolutionModel.CHECKPOINT_PT + " with "
                            + SuperResolutionModel.X4 + "/ beside it); there is no embedded VSR model");
                continue;
            }
            if (s == CascadeStage.BASE && !TextToVideoModel.isModelFolder(dir) && !Files.isRegularFile(dir))
                problems.add(dir + " has no base model (" + TextToVideoModel.LAVIE_BASE_PT + " with " + TextToVideoModel.SD14
                        + "/ beside it, or a lavie4j model folder)");
            if (s == CascadeStage.INTERPOLATION && !InterpolationModel.isModelFolder(dir))
                problems.add(dir + " has no interpolation model (" + InterpolationModel.CHECKPOINT_PT + " with " + InterpolationModel.SD14 + "/ beside it)");
            if (s == CascadeStage.SUPER_RESOLUTION && !SuperResolutionModel.isModelFolder(dir))
                problems.add(dir + " has no VSR model (" + SuperResolutionModel.CHECKPOINT_PT + " with " + SuperResolutionModel.X4 + "/ beside it)");
        }
        if (problems.isEmpty()) return null;
        String how = dir == null ? ": pass --model DIR, LaVie's pretrained_models/ folder, or run --stages base on the embedded model"
                : " (--model is LaVie's pretrained_models/ folder)";
        return String.join("; ", problems) + how;
    }

    /** Where {@code --save-stages} writes an earlier stage's video: NAME-STAGE.EXT beside {@code target}. */
    static Path stagePath(Path target, CascadeStage stage) {
        String name = target.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name, ext = dot > 0 ? name.substring(dot) : "";
        return target.resolveSibling(stem + "-" + stage.id() + ext);
    }

    private static String describe(Video v) {
        double fps = v.fps();
        return String.format(Locale.ROOT, "%d frames, %dx%d, %s fps", v.frames(), v.height(), v.width(),
                fps == Math.rint(fps) ? String.valueOf((long) fps) : String.valueOf(fps));
    }

    private static int bad(PrintWriter err, String message) {
        err.println("cascade: " + message);
        return BAD_INPUT;
    }
}
