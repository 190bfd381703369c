package org.lavie4j.examples.cli;

import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.InterpolateOptions;
import org.lavie4j.nn.pipeline.InterpolationModel;
import org.lavie4j.nn.pipeline.InterpolationPipeline;
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
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code lavie interpolate IN PROMPT}: LaVie's temporal interpolation stage, 16 frames to 61 (interpolation/sample.py),
 * written at 24 fps. Needs LaVie's interpolation weights ({@code --model}); there is no embedded interpolation model.
 */
@Command(name = "interpolate",
        mixinStandardHelpOptions = true,
        description = {
                "Interpolate a 16-frame video (LaVie base's output) to 61 frames with LaVie's interpolation model.",
                "--model DIR is LaVie's pretrained_models/ folder: lavie_interpolation.pt with stable-diffusion-v1-4/ beside it. "
                        + "Without --model, ./pretrained_models is used when it holds them. There is no embedded interpolation model.",
                "The output is written atomically: on failure nothing is left under its name."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:interpolation or writing failed", "2:bad input (options, video, model folder, output path)"})
public final class InterpolateCommand implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, BAD_INPUT = 2;
    /** Where the original keeps its weights, relative to the working directory; used when --model is not given. */
    static final Path DEFAULT_MODEL = Path.of("pretrained_models");

    @Parameters(index = "0", paramLabel = "IN", description = "The video to interpolate (mp4, GIF, or a folder of PNG frames), at least 16 frames.")
    Path input;

    @Parameters(index = "1", arity = "0..1", paramLabel = "PROMPT",
            description = "What the video shows (default: the input's file name, as the original, which takes the base stage's mp4 name).")
    String prompt;

    @Option(names = "--model", paramLabel = "DIR", description = "LaVie's pretrained_models/ folder (lavie_interpolation.pt + stable-diffusion-v1-4/).")
    Path model;

    @Option(names = "--out", paramLabel = "FILE", description = "FILE.mp4, FILE.gif or a folder for PNG frames (default: IN's name + '-interpolated.mp4').")
    Path out;

    @Option(names = "--steps", paramLabel = "N", description = "Respaced DDIM steps (default: 50, as the original).")
    int steps = InterpolateOptions.DEFAULT_STEPS;

    @Option(names = "--guidance", paramLabel = "S", description = "Classifier-free guidance scale (default: 4.0, as the original).")
    double guidance = InterpolateOptions.DEFAULT_GUIDANCE;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the VAE and initial noise (default: random, printed).")
    Long seed;

    @Option(names = "--negative", paramLabel = "TEXT", description = "Negative prompt (default: \"None\", the literal string the original uses).")
    String negative = InterpolateOptions.DEFAULT_NEGATIVE_PROMPT;

    @Option(names = "--suffix", paramLabel = "TEXT", description = "Appended to the prompt (default: \", 4k.\", as the original).")
    String suffix = InterpolateOptions.DEFAULT_PROMPT_SUFFIX;

    @Option(names = "--height", paramLabel = "H", description = "Output height; the frames are resized (default: the input's; LaVie 320).")
    Integer height;

    @Option(names = "--width", paramLabel = "W", description = "Output width; the frames are resized (default: the input's; LaVie 512).")
    Integer width;

    @Option(names = "--fps", paramLabel = "FPS", description = "Frame rate of the written video (default: 24, as the original).")
    double fps = InterpolationPipeline.FPS;

    @Option(names = "--force", description = "Replace the output when it exists.")
    boolean force;

    @Option(names = "--decode-slice", paramLabel = "N", description = "Frames the VAE encodes and decodes at a time (default: 1; more is faster, needs more memory).")
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

        // 1. everything that can be checked before reading anything large
        if (!Files.exists(input)) return bad(err, input + ": no such file");
        String stem = OutputTarget.stem(input);
        String text = prompt != null ? prompt : stem;
        if (text.isBlank()) return bad(err, "the prompt is empty");
        if (!(fps > 0) || fps > 240) return bad(err, "--fps must be in (0, 240], got " + fps);
        if ((height == null) != (width == null)) return bad(err, "give --height and --width together");
        Path target = out != null ? out : Path.of(SampleCommand.defaultName(stem) + "-interpolated" + (VideoIO.mp4Available() ? ".mp4" : ".gif"));
        String problem = OutputTarget.problem(target, force, false, input);
        if (problem != null) return bad(err, problem);
        DataType weights;
        try {
            weights = WeightsDtype.parse(weightsDtype);
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }
        Path modelDir = model;
        if (modelDir == null) {
            if (!InterpolationModel.isModelFolder(DEFAULT_MODEL))
                return bad(err, "the interpolation stage needs LaVie's interpolation weights: pass --model DIR, the folder with "
                        + InterpolationModel.CHECKPOINT_PT + " and " + InterpolationModel.SD14 + "/ (LaVie's pretrained_models/). "
                        + "There is no embedded interpolation model.");
            modelDir = DEFAULT_MODEL;
        } else if (!Files.exists(modelDir)) {
            return bad(err, "--model " + modelDir + ": no such folder");
        }
        long s = seed != null ? seed : new SecureRandom().nextLong() & Long.MAX_VALUE;
        InterpolateOptions options;
        try {
            options = InterpolateOptions.builder().prompt(text).promptSuffix(suffix).negativePrompt(negative)
                    .size(height != null ? height : 0, width != null ? width : 0).steps(steps).guidanceScale(guidance)
                    .seed(s).framesPerSlice(decodeSlice).build();
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }

        // 2. the input video, then the model
        Video video;
        try {
            video = VideoIO.read(input, InterpolationPipeline.MAX_READ_FRAMES);
        } catch (IOException | RuntimeException e) {
            return bad(err, "cannot read " + input + ": " + e.getMessage());
        }
        if (video.frames() < InterpolationPipeline.INPUT_FRAMES)
            return bad(err, input + " has " + video.frames() + " frames; the interpolation stage needs " + InterpolationPipeline.INPUT_FRAMES
                    + " (it turns " + InterpolationPipeline.INPUT_FRAMES + " frames into " + InterpolationPipeline.OUTPUT_FRAMES + ")");
        if (video.frames() != InterpolationPipeline.INPUT_FRAMES)
            err.printf(Locale.ROOT, "warning: %s has %s frames; the model was trained on 16 and the original's selection conditions on frames %s%n",
                    input, video.frames() == InterpolationPipeline.MAX_READ_FRAMES ? video.frames() + " or more" : String.valueOf(video.frames()),
                    java.util.Arrays.toString(InterpolationPipeline.keyFrameIndices(video.frames())));
        InterpolationModel m;
        try {
            m = InterpolationModel.load(modelDir);
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, "cannot load the interpolation model " + modelDir + ": " + e.getMessage());
        }
        WeightsDtype.apply(weights, m.textEncoder(), m.unet(), m.vae());
        String weightsLine = WeightsDtype.describe(weights, m.textEncoder(), m.unet(), m.vae());
        InterpolationPipeline pipeline = m.pipeline();
        try {
            pipeline.check(video.frames(), video.height(), video.width(), options);
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }
        int promptTokens = m.tokenizer().tokenize(options.conditionalText()).size();
        if (promptTokens > m.tokenizer().maxLength() - 2)
            err.printf(Locale.ROOT, "warning: the prompt has %d tokens; the text encoder reads only the first %d (as the reference, which truncates)%n",
                    promptTokens, m.tokenizer().maxLength() - 2);
        int h = options.height() != 0 ? options.height() : video.height(), w = options.width() != 0 ? options.width() : video.width();
        stdout.printf(Locale.ROOT, "model: %s%n", modelDir.toAbsolutePath());
        stdout.println(weightsLine);
        stdout.printf(Locale.ROOT, "prompt: \"%s\", negative: \"%s\"%n", options.conditionalText(), options.negativePrompt());
        stdout.printf(Locale.ROOT, "interpolating %d -> %d frames at %dx%d, %d respaced DDIM steps, guidance %s, seed %d%n",
                video.frames(), InterpolationPipeline.OUTPUT_FRAMES, h, w, options.steps(), fmt(options.guidanceScale()), s);
        stdout.flush();

        // 3. interpolate, decode, write
        AtomicLong denoiseNanos = new AtomicLong();
        GenerateResult result;
        long tRun = System.nanoTime();
        try (StepProgress progress = StepProgress.auto("interpolate", err)) {
            result = pipeline.interpolate(video, options.toBuilder().progress((step, total, t, elapsed) -> {
                denoiseNanos.set(elapsed.toNanos());
                return progress.onStep(step, total, t, elapsed);
            }).build());
        } catch (RuntimeException e) {
            err.println("interpolate: interpolation failed: " + e);
            return FAILED;
        }
        long runNanos = System.nanoTime() - tRun;
        long tWrite = System.nanoTime();
        Path written;
        try {
            written = VideoIO.write(Video.fromTensor(result.video(), fps), target);
        } catch (IOException | RuntimeException e) {
            err.println("interpolate: writing " + target + " failed: " + e.getMessage());
            return FAILED;
        }
        long writeNanos = System.nanoTime() - tWrite;
        double denoise = denoiseNanos.get() / 1e9;
        stdout.printf(Locale.ROOT, "wrote %s (%d frames, %dx%d, %s fps)%n", written.toAbsolutePath(), InterpolationPipeline.OUTPUT_FRAMES,
                h, w, fmt(fps));
        stdout.printf(Locale.ROOT, "time: encode + denoise %.2f s (%.2f it/s), decode %.2f s, write %.2f s, total %.2f s%n", denoise,
                options.steps() / Math.max(denoise, 1e-9), (runNanos - denoiseNanos.get()) / 1e9, writeNanos / 1e9, (System.nanoTime() - t0) / 1e9);
        return OK;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static int bad(PrintWriter err, String message) {
        err.println("interpolate: " + message);
        return BAD_INPUT;
    }
}
