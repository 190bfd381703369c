package org.lavie4j.examples.cli;

import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.schedulers.SchedulerKind;
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
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code lavie sample PROMPT}: text to video with LaVie's base model (or the embedded default model), written as
 * mp4, GIF or PNG frames. Sizes, length, frame rate and sampler default to the model's own ({@link ModelInfo}).
 */
@Command(name = "sample",
        mixinStandardHelpOptions = true,
        description = {
                "Generate a video from a text prompt.",
                "Without --model the embedded default model runs (a tiny model; see its note). With --model DIR, DIR is "
                        + "LaVie's pretrained_models/ folder (lavie_base.pt + stable-diffusion-v1-4/) or a lavie4j model folder.",
                "The output is written atomically: on failure nothing is left under its name."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:sampling or writing failed", "2:bad input (options, prompt, model folder, output path)"})
public final class SampleCommand implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, BAD_INPUT = 2;

    @Parameters(index = "0", paramLabel = "PROMPT", description = "What the video shows.")
    String prompt;

    @Option(names = "--negative", paramLabel = "TEXT", description = "Negative prompt (default: \"\").")
    String negative = "";

    @Option(names = "--frames", paramLabel = "N", description = "Video length (default: the model's; LaVie base 16).")
    Integer frames;

    @Option(names = "--height", paramLabel = "H", description = "Height in pixels (default: the model's; LaVie base 320).")
    Integer height;

    @Option(names = "--width", paramLabel = "W", description = "Width in pixels (default: the model's; LaVie base 512).")
    Integer width;

    @Option(names = "--fps", paramLabel = "FPS", description = "Frame rate of the written video (default: the model's; LaVie base 8).")
    Double fps;

    @Option(names = "--steps", paramLabel = "N", description = "Denoising steps (default: the model's; LaVie base 50).")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "S", description = "Classifier-free guidance scale; applied when > 1 (default: the model's; LaVie base 7.5).")
    Double guidance;

    @Option(names = "--scheduler", paramLabel = "NAME", description = "ddpm, ddim, euler, pndm or dpm++ (default: the model's; LaVie base ddpm).")
    String scheduler;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the initial noise (default: random, printed).")
    Long seed;

    @Option(names = "--model", paramLabel = "DIR", description = "Model folder (default: the embedded model).")
    Path model;

    @Option(names = "--out", paramLabel = "FILE", description = "FILE.mp4, FILE.gif, FILE.png (one frame) or a folder for PNG frames "
            + "(default: the prompt with spaces as '_', .mp4).")
    Path out;

    @Option(names = "--force", description = "Replace the output when it exists.")
    boolean force;

    @Option(names = "--decode-slice", paramLabel = "N", description = "Frames the VAE decodes at a time (default: 1; more is faster, needs more memory).")
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
        // 1. everything that can be checked before loading the model
        if (prompt == null || prompt.isBlank()) return bad(err, "the prompt is empty");
        SchedulerKind kind;
        try {
            kind = scheduler == null ? null : ModelInfo.scheduler(scheduler);
        } catch (IllegalArgumentException e) {
            return bad(err, "--scheduler: " + e.getMessage());
        }
        DataType weights;
        try {
            weights = WeightsDtype.parse(weightsDtype);
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }
        if (model != null && !Files.isDirectory(model) && !Files.isRegularFile(model))
            return bad(err, "--model " + model + ": no such folder");
        Path target = out != null ? out : Path.of(defaultName(prompt) + (VideoIO.mp4Available() ? ".mp4" : ".gif"));
        String problem = OutputTarget.problem(target, force, true, null);
        if (problem != null) return bad(err, problem);

        // 2. the model and the options
        TextToVideoModel m;
        try {
            m = model == null ? EmbeddedModel.load() : TextToVideoModel.load(model);
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, "cannot load the model" + (model == null ? " (embedded)" : " " + model) + ": " + e.getMessage());
        }
        ModelInfo info = m.info();
        stdout.printf(Locale.ROOT, "model: %s (%s)%n", info.name(), info.description());
        WeightsDtype.apply(weights, m.textEncoder(), m.unet(), m.vae());
        stdout.println(WeightsDtype.describe(weights, m.textEncoder(), m.unet(), m.vae()));
        if (!info.trained()) err.println("note: this model has random, untrained weights: the video will be noise, not the prompt");
        int promptTokens = m.tokenizer().tokenize(prompt).size();
        if (promptTokens > m.tokenizer().maxLength() - 2)
            err.printf(Locale.ROOT, "warning: the prompt has %d tokens; the text encoder reads only the first %d (as the reference, which truncates)%n",
                    promptTokens, m.tokenizer().maxLength() - 2);
        long s = seed != null ? seed : new SecureRandom().nextLong() & Long.MAX_VALUE;
        double rate = fps != null ? fps : info.fps();
        if (!(rate > 0) || rate > 240) return bad(err, "--fps must be in (0, 240], got " + rate);
        GenerateOptions options;
        try {
            options = GenerateOptions.builder().prompt(prompt).negativePrompt(negative)
                    .frames(frames != null ? frames : info.frames())
                    .size(height != null ? height : info.height(), width != null ? width : info.width())
                    .steps(steps != null ? steps : info.steps())
                    .guidanceScale(guidance != null ? guidance : info.guidanceScale())
                    .scheduler(kind != null ? kind : info.scheduler())
                    .seed(s).framesPerSlice(decodeSlice).build();
            m.pipeline().check(options);
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }
        stdout.printf(Locale.ROOT, "sampling %d frames at %dx%d, %d steps of %s, guidance %s, seed %d (%d prompt tokens)%n",
                options.frames(), options.height(), options.width(), options.steps(), schedulerName(options.scheduler()),
                fmt(options.guidanceScale()), s, promptTokens);
        stdout.flush();

        // 3. sample, decode, write
        AtomicLong denoiseNanos = new AtomicLong();
        GenerateResult result;
        long tGen = System.nanoTime();
        try (StepProgress progress = StepProgress.auto("denoise", err)) {
            result = m.pipeline().generate(options.toBuilder().progress((step, total, t, elapsed) -> {
                denoiseNanos.set(elapsed.toNanos());
                return progress.onStep(step, total, t, elapsed);
            }).build());
        } catch (RuntimeException e) {
            err.println("sample: sampling failed: " + e);
            return FAILED;
        }
        long genNanos = System.nanoTime() - tGen;
        long tWrite = System.nanoTime();
        Path written;
        try {
            Video video = Video.fromTensor(result.video(), rate);
            written = VideoIO.write(video, target);
        } catch (IOException | RuntimeException e) {
            err.println("sample: writing " + target + " failed: " + e.getMessage());
            return FAILED;
        }
        long writeNanos = System.nanoTime() - tWrite;
        double denoise = denoiseNanos.get() / 1e9, decode = (genNanos - denoiseNanos.get()) / 1e9;
        stdout.printf(Locale.ROOT, "wrote %s (%d frames, %dx%d, %s fps)%n", written.toAbsolutePath(), options.frames(),
                options.height(), options.width(), fmt(rate));
        stdout.printf(Locale.ROOT, "time: denoise %.2f s (%.2f it/s), decode %.2f s, write %.2f s, total %.2f s%n", denoise,
                options.steps() / Math.max(denoise, 1e-9), decode, writeNanos / 1e9, (System.nanoTime() - t0) / 1e9);
        return OK;
    }

    /** The reference's file name: the prompt with spaces as '_' (here also without path separators and other unsafe characters). */
    static String defaultName(String prompt) {
        String s = prompt.trim().replaceAll("\\s+", "_").replaceAll("[^\\p{L}\\p{N}_.,-]", "");
        s = s.replaceAll("^\\.+", "");
        if (s.length() > 100) s = s.substring(0, 100);
        return s.isEmpty() ? "video" : s;
    }

    private static String schedulerName(SchedulerKind k) {
        return switch (k) {
            case DDPM -> "ddpm";
            case DDIM -> "ddim";
            case EULER_DISCRETE -> "euler";
            case PNDM -> "pndm";
            case DPM_SOLVER_MULTISTEP -> "dpm++";
        };
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static int bad(PrintWriter err, String message) {
        err.println("sample: " + message);
        return BAD_INPUT;
    }

    static Duration seconds(double s) { return Duration.ofNanos((long) (s * 1e9)); }
}
