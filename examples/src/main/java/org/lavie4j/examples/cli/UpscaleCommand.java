package org.lavie4j.examples.cli;

import org.bytedeco.javacpp.Pointer;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.SuperResolutionModel;
import org.lavie4j.nn.pipeline.SuperResolutionPipeline;
import org.lavie4j.nn.pipeline.UpscaleOptions;
import org.lavie4j.nn.pipeline.UpscaleProgress;
import org.lavie4j.nn.pipeline.UpscaleResult;
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
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code lavie upscale IN [PROMPT]}: LaVie's video super-resolution stage, ×4 in space (vsr/sample.py), written at the
 * input's frame rate. Needs LaVie's VSR weights ({@code --model}); there is no embedded VSR model.
 */
@Command(name = "upscale",
        mixinStandardHelpOptions = true,
        description = {
                "Upscale a video 4x in space with LaVie's video super-resolution model (e.g. 320x512 -> 1280x2048).",
                "--model DIR is LaVie's pretrained_models/ folder: lavie_vsr.pt with stable-diffusion-x4-upscaler/ beside it. "
                        + "Without --model, ./pretrained_models is used when it holds them. There is no embedded VSR model.",
                "The frames are processed in chunks of --chunk frames (8, as the original), each an independent pass.",
                "The output is written atomically: on failure nothing is left under its name."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:upscaling or writing failed", "2:bad input (options, video, model folder, output path)"})
public final class UpscaleCommand implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, BAD_INPUT = 2;
    /** Where the original keeps its weights, relative to the working directory; used when --model is not given. */
    static final Path DEFAULT_MODEL = Path.of("pretrained_models");
    /** The original seeds its generator with 10 ({@code torch.Generator("cuda").manual_seed(10)}). */
    static final long DEFAULT_SEED = 10;

    @Parameters(index = "0", paramLabel = "IN", description = "The video to upscale (mp4, GIF, or a folder of PNG frames).")
    Path input;

    @Parameters(index = "1", arity = "0..1", paramLabel = "PROMPT",
            description = "What the video shows (default: the input's file name, as the original).")
    String prompt;

    @Option(names = "--model", paramLabel = "DIR", description = "LaVie's pretrained_models/ folder (lavie_vsr.pt + stable-diffusion-x4-upscaler/).")
    Path model;

    @Option(names = "--out", paramLabel = "FILE", description = "FILE.mp4, FILE.gif or a folder for PNG frames (default: IN's name + '-x4.mp4').")
    Path out;

    @Option(names = "--steps", paramLabel = "N", description = "DDIM steps (default: 50, as the original).")
    int steps = UpscaleOptions.DEFAULT_STEPS;

    @Option(names = "--guidance", paramLabel = "S", description = "Classifier-free guidance scale; applied when > 1 (default: 5, as the original).")
    double guidance = UpscaleOptions.DEFAULT_GUIDANCE;

    @Option(names = "--chunk", paramLabel = "N", description = "Frames per pass (default: 8, as the original; fewer need less memory).")
    int chunk = UpscaleOptions.DEFAULT_CHUNK_FRAMES;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the generator all chunks draw from (default: 10, the original's).")
    long seed = DEFAULT_SEED;

    @Option(names = "--negative", paramLabel = "TEXT", description = "Negative prompt (default: \"blur, worst quality\", as the original).")
    String negative = UpscaleOptions.DEFAULT_NEGATIVE_PROMPT;

    @Option(names = "--noise-level", paramLabel = "N", description = "Noise added to the low-resolution frames (default: 50, as the original).")
    int noiseLevel = UpscaleOptions.DEFAULT_NOISE_LEVEL;

    @Option(names = "--decode-frames", paramLabel = "N", description = "Frames per VAE decode call (default: 4, as the original).")
    int decodeFrames = UpscaleOptions.DEFAULT_DECODE_FRAMES;

    @Option(names = "--tile", description = "Decode each frame in overlapping tiles (less memory; close to, not equal to, the untiled decode).")
    boolean tile;

    @Option(names = "--memory-budget", paramLabel = "GIB", description = "Refuse inputs whose estimated working memory exceeds this many GiB "
            + "(default: what -Dorg.bytedeco.javacpp.maxphysicalbytes leaves after loading the model; no check without it).")
    Double memoryBudget;

    @Option(names = "--memory-mode", paramLabel = "MODE", description = "How the VSR UNet runs: full (the original's batch of both guidance halves), "
            + "low (the halves one after the other, frame slices, one frame per decode call: about a third of the memory, same results "
            + "up to float rounding), auto (default: low only when full exceeds the memory budget).")
    String memoryMode = "auto";

    @Option(names = "--force", description = "Replace the output when it exists.")
    boolean force;

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
        if (memoryBudget != null && !(memoryBudget > 0)) return bad(err, "--memory-budget must be a positive number of GiB, got " + memoryBudget);
        UpscaleOptions.MemoryMode mode;
        try {
            mode = UpscaleOptions.MemoryMode.parse(memoryMode);
        } catch (IllegalArgumentException e) {
            return bad(err, "--memory-mode " + e.getMessage());
        }
        Path target = out != null ? out : Path.of(SampleCommand.defaultName(stem) + "-x4" + (VideoIO.mp4Available() ? ".mp4" : ".gif"));
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
            if (!SuperResolutionModel.isModelFolder(DEFAULT_MODEL))
                return bad(err, "the super-resolution stage needs LaVie's VSR weights: pass --model DIR, the folder with "
                        + SuperResolutionModel.CHECKPOINT_PT + " and " + SuperResolutionModel.X4 + "/ (LaVie's pretrained_models/). "
                        + "There is no embedded VSR model.");
            modelDir = DEFAULT_MODEL;
        } else if (!Files.exists(modelDir)) {
            return bad(err, "--model " + modelDir + ": no such folder");
        }
        UpscaleOptions options;
        try {
            options = UpscaleOptions.builder().prompt(text).negativePrompt(negative).steps(steps).guidanceScale(guidance)
                    .noiseLevel(noiseLevel).chunkFrames(chunk).decodeFrames(decodeFrames).seed(seed)
                    .memoryBudgetBytes(memoryBudget != null ? (long) (memoryBudget * (1L << 30)) : 0).memoryMode(mode).build();
        } catch (IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }

        // 2. the input video, then the model
        Video video;
        try {
            video = VideoIO.read(input);
        } catch (IOException | RuntimeException e) {
            return bad(err, "cannot read " + input + ": " + e.getMessage());
        }
        SuperResolutionModel m;
        try {
            m = SuperResolutionModel.load(modelDir);
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, "cannot load the VSR model " + modelDir + ": " + e.getMessage());
        }
        WeightsDtype.apply(weights, m.textEncoder(), m.unet(), m.vae());
        String weightsLine = WeightsDtype.describe(weights, m.textEncoder(), m.unet(), m.vae());   // before the budget: it counts what is left
        SuperResolutionPipeline pipeline = m.pipeline();
        if (tile) options = options.toBuilder().tiling(Tiling.defaults(m.vae().config())).build();
        if (memoryBudget == null && Pointer.maxPhysicalBytes() > 0) {
            long left = Math.max(1, Pointer.maxPhysicalBytes() - Pointer.physicalBytes());
            options = options.toBuilder().memoryBudgetBytes(left).build();
        }
        try {
            pipeline.check(video.frames(), video.height(), video.width(), options);
        } catch (IllegalArgumentException | IllegalStateException e) {
            return bad(err, e.getMessage() + (options.memoryBudgetBytes() > 0 && memoryBudget == null
                    ? " (budget: what -Dorg.bytedeco.javacpp.maxphysicalbytes leaves; set --memory-mode low, --memory-budget or --chunk)" : ""));
        }
        int promptTokens = m.tokenizer().tokenize(text).size();
        if (promptTokens > m.tokenizer().maxLength() - 2)
            err.printf(Locale.ROOT, "warning: the prompt has %d tokens; the text encoder reads only the first %d (as the reference, which truncates)%n",
                    promptTokens, m.tokenizer().maxLength() - 2);
        int f = pipeline.scale();
        int chunks = SuperResolutionPipeline.chunks(video.frames(), options.chunkFrames()).size();
        SuperResolutionPipeline.MemoryEstimate estimate = pipeline.estimateMemory(video.frames(), video.height(), video.width(), options);
        stdout.printf(Locale.ROOT, "model: %s%n", modelDir.toAbsolutePath());
        stdout.println(weightsLine);
        stdout.printf(Locale.ROOT, "prompt: \"%s\", negative: \"%s\"%n", text, options.negativePrompt());
        stdout.printf(Locale.ROOT, "upscaling %d frames %dx%d -> %dx%d in %d chunk%s of up to %d frames, %d DDIM steps, guidance %s, noise level %d, seed %d%n",
                video.frames(), video.height(), video.width(), video.height() * f, video.width() * f, chunks, chunks == 1 ? "" : "s",
                options.chunkFrames(), options.steps(), fmt(options.guidanceScale()), options.noiseLevel(), options.seed());
        stdout.printf(Locale.ROOT, "estimated working memory: %s%n", estimate);
        stdout.flush();

        // 3. upscale chunk by chunk, decode, write
        AtomicLong denoiseNanos = new AtomicLong();
        UpscaleResult result;
        long tRun = System.nanoTime();
        try (ChunkProgress progress = new ChunkProgress(err)) {
            result = pipeline.upscale(video, options.toBuilder().progress(progress).build());
            denoiseNanos.set(progress.denoiseNanos);
        } catch (RuntimeException e) {
            err.println("upscale: upscaling failed: " + e);
            return FAILED;
        }
        long runNanos = System.nanoTime() - tRun;
        long tWrite = System.nanoTime();
        Path written;
        try {
            written = VideoIO.write(result.toVideo(video.fps()), target);          // the original writes the input's fps
        } catch (IOException | RuntimeException e) {
            err.println("upscale: writing " + target + " failed: " + e.getMessage());
            return FAILED;
        }
        long writeNanos = System.nanoTime() - tWrite;
        double denoise = denoiseNanos.get() / 1e9;
        stdout.printf(Locale.ROOT, "wrote %s (%d frames, %dx%d, %s fps)%n", written.toAbsolutePath(), video.frames(),
                video.height() * f, video.width() * f, fmt(video.fps()));
        stdout.printf(Locale.ROOT, "time: denoise %.2f s (%.2f it/s), decode %.2f s, write %.2f s, total %.2f s%n", denoise,
                (double) chunks * options.steps() / Math.max(denoise, 1e-9), (runNanos - denoiseNanos.get()) / 1e9, writeNanos / 1e9,
                (System.nanoTime() - t0) / 1e9);
        return OK;
    }

    /** A line per chunk, then the chunk's steps through {@link StepProgress} (a bar on a terminal, plain lines otherwise). */
    private static final class ChunkProgress implements UpscaleProgress, AutoCloseable {
        private final PrintWriter log;
        private StepProgress steps;
        private int chunk = -1;
        private long chunkStartNanos, lastChunkEndNanos, denoiseNanos;

        ChunkProgress(PrintWriter log) { this.log = log; }

        @Override
        public boolean onStep(int chunk, int chunks, int step, int total, long timestep, Duration elapsed) {
            if (chunk != this.chunk) {
                close();
                this.chunk = chunk;
                chunkStartNanos = lastChunkEndNanos;                           // the chunk began when the previous one ended
                log.printf(Locale.ROOT, "chunk %d/%d%n", chunk + 1, chunks);
                log.flush();
                steps = StepProgress.auto("upscale " + (chunk + 1) + "/" + chunks, log);
            }
            boolean go = steps.onStep(step, total, timestep, elapsed.minusNanos(chunkStartNanos));
            if (step == total) denoiseNanos += elapsed.toNanos() - chunkStartNanos;
            return go;
        }

        @Override
        public boolean onChunkDone(int chunk, int chunks, int fromFrame, int toFrame, Duration elapsed) {
            close();
            lastChunkEndNanos = elapsed.toNanos();
            log.printf(Locale.ROOT, "chunk %d/%d done: frames %d-%d, %s elapsed%n", chunk + 1, chunks, fromFrame, toFrame - 1,
                    StepProgress.clock(elapsed.toNanos() / 1e9));
            log.flush();
            return true;
        }

        @Override
        public void close() {
            if (steps != null) steps.close();
            steps = null;
        }
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static int bad(PrintWriter err, String message) {
        err.println("upscale: " + message);
        return BAD_INPUT;
    }
}
