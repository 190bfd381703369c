package org.lavie4j.examples.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.lavie4j.train.ModelSource;
import org.lavie4j.train.SampleSources;
import org.lavie4j.train.StepStats;
import org.lavie4j.train.TrainConfig;
import org.lavie4j.train.TrainListener;
import org.lavie4j.train.Trainer;
import org.lavie4j.train.checkpoint.TrainCheckpoint;
import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.SyntheticShapes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lavie train}: fine-tunes a text-to-video model with {@link Trainer} from a YAML/JSON config
 * ({@link TrainConfig}), or runs a short demo on synthetic moving shapes ({@code --synthetic}); {@code --resume}
 * continues a run bit for bit from its latest checkpoint. At the end the trained weights are exported as a model folder
 * that {@code lavie sample --model DIR} runs.
 */
@Command(name = "train",
        mixinStandardHelpOptions = true,
        description = {
                "Train (fine-tune) a text-to-video model.",
                "--config FILE.yaml|json describes the run (model, what to train, steps, optimizer, checkpoints, validation, data).",
                "--synthetic runs a short demo instead: the tiny model on generated clips of moving coloured shapes.",
                "--resume DIR continues from the latest checkpoint in DIR (a run's output folder or a checkpoint folder); "
                        + "without --config the checkpoint's own config is used.",
                "Checkpoints go to OUTPUT/checkpoints (written atomically), validation GIFs to OUTPUT/validation, "
                        + "and the final model to OUTPUT/model-step-N."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:trained", "1:training failed", "2:bad input (options, config, model, checkpoint)"})
public final class TrainCommand implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, BAD_INPUT = 2;
    @Option(names = "--config", paramLabel = "FILE", description = "Training config (.yaml, .yml or .json).")
    Path configFile;

    @Option(names = "--synthetic", description = "Demo: train the tiny model on synthetic moving shapes (no config needed).")
    boolean synthetic;

    @Option(names = "--resume", paramLabel = "DIR", description = "Continue from the latest checkpoint in DIR.")
    Path resume;

    @Option(names = "--steps", paramLabel = "N", description = "Total optimizer steps of the run (overrides the config; demo: 30).")
    Long steps;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (overrides the config; demo: ./lavie-train-synthetic).")
    Path out;

    @Option(names = "--no-export", negatable = true, description = "Do not export the final model folder.")
    boolean export = true;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        // 1. the config
        if (synthetic && configFile != null) return bad(err, "give either --config or --synthetic, not both");
        if (!synthetic && configFile == null && resume == null) return bad(err, "give --config FILE, --synthetic, or --resume DIR");
        if (steps != null && steps < 1) return bad(err, "--steps must be >= 1, got " + steps);
        TrainConfig config;
        try {
            if (configFile != null) config = TrainConfig.load(configFile);
            else if (synthetic) config = syntheticConfig(out != null ? out : DEMO_OUT);
            else {
                try (TrainCheckpoint c = TrainCheckpoint.open(resume)) {
                    config = TrainConfig.fromJson(c.config());
                }
            }
            if (steps != null) config = config.withSteps(steps);
            if (out != null) config = config.withOutputDir(out);
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }
        SampleSource source;
        try {
            if (synthetic) generateShapes(config.outputDir().resolve("data"), stdout);
            source = SampleSources.fromConfig(config.data());
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, e.getMessage());
        }

        // 2. the model and the trainer
        Trainer trainer;
        try {
            stdout.printf(Locale.ROOT, "model: %s%n", config.model());
            stdout.flush();
            trainer = Trainer.create(config, source);
            if (resume != null) {
                trainer.resume(resume);
                stdout.printf(Locale.ROOT, "resumed from %s at step %d%n", resume, trainer.step());
            }
        } catch (IOException | IllegalArgumentException e) {
            return bad(err, (resume != null ? "cannot resume: " : "cannot load the model: ") + e.getMessage());
        }
        if (!trainer.model().info().trained())
            err.println("note: the starting model has random, untrained weights");
        stdout.printf(Locale.ROOT, "training %s parameters (%s), %d steps of %d x %d samples, lr %s (%s), %s prediction; output %s%n",
                config.train().key(), count(trainer), config.steps(), config.batchSize(), config.gradAccumulation(),
                fmt(config.optimizer().lr()), config.optimizer().schedule().name().toLowerCase(Locale.ROOT),
                config.prediction().json(), config.outputDir().toAbsolutePath());
        stdout.flush();

        // 3. train
        Trainer.Result result;
        try (Progress progress = new Progress(stdout, err, System.console() != null)) {
            result = trainer.train(progress);
        } catch (IOException | RuntimeException e) {
            err.println("train: training failed at step " + (trainer.step() + 1) + ": " + e);
            return FAILED;
        } finally {
            source.close();
        }
        stdout.printf(Locale.ROOT, "trained steps %d..%d in %s; latest checkpoint %s%n", result.startStep(), result.endStep(),
                StepProgress.clock(result.elapsed().toNanos() / 1e9), result.lastCheckpoint());

        // 4. export
        if (export) {
            Path dir = config.outputDir().resolve("model-step-" + trainer.step()).toAbsolutePath();
            if (Files.exists(dir)) {
                stdout.printf(Locale.ROOT, "model folder %s exists: not exported again%n", dir);
            } else {
                try {
                    trainer.exportModel(dir, true);
                } catch (IOException | RuntimeException e) {
                    err.println("train: exporting the model to " + dir + " failed: " + e.getMessage());
                    return FAILED;
                }
                stdout.printf(Locale.ROOT, "exported %s weights to %s%n  try: lavie sample --model %s \"%s\"%n",
                        trainer.ema() != null ? "EMA" : "live", dir, dir,
                        config.validation().prompts().isEmpty() ? "a red circle moving left" : config.validation().prompts().get(0));
            }
        }
        return OK;
    }

    /** Where the demo writes when --out is not given. */
    static final Path DEMO_OUT = Path.of("lavie-train-synthetic");

    /** The demo's data set: 64 clips of 4 frames at 32x32 and 16 stills of moving shapes ({@link SyntheticShapes}). */
    static final SyntheticShapes.Options DEMO_DATA = SyntheticShapes.Options.of(64, 32, 4).withStills(16);

    /**
     * The demo: the tiny model on the synthetic shapes written to {@code out/data} and read back like any video data
     * set (clip + one still per sample, captions dropped 10% of the time, left/right flips that swap the words), 30
     * steps at lr 1e-3, checkpoints every 10 steps, the two validation prompts sampled every 10 steps.
     */
    static TrainConfig syntheticConfig(Path out) {
        TrainConfig d = TrainConfig.defaults(new ModelSource.Tiny(0), out);
        Path data = out.resolve("data").toAbsolutePath();
        ObjectNode source = JsonNodeFactory.instance.objectNode();
        source.put("source", "manifest");
        source.put("videos", data.resolve("videos.csv").toString());
        source.put("images", data.resolve("images.csv").toString());
        source.put("frames", DEMO_DATA.frames());
        source.put("height", DEMO_DATA.height());
        source.put("width", DEMO_DATA.width());
        source.put("image_count", 1);
        source.put("flip", "swap_left_right");
        source.put("workers", 1);
        return d.withSteps(30)
                .withOptimizer(d.optimizer().withLr(1e-3).withSchedule(TrainConfig.Schedule.CONSTANT, 0))
                .withEma(new TrainConfig.EmaSettings(0.99, true))
                .withCheckpoint(new TrainConfig.Checkpointing(10, 2))
                .withValidation(new TrainConfig.Validation(10, List.of("a red circle moving left", "a blue square moving up"),
                        List.of(0L, 1L), 10, 1.0, DEMO_DATA.frames(), DEMO_DATA.height(), DEMO_DATA.width(), true))
                .withData(source);
    }

    /** Writes the demo's data set into {@code dir} unless it is there already. */
    private static void generateShapes(Path dir, PrintWriter stdout) throws IOException {
        if (Files.isRegularFile(dir.resolve("videos.csv")) && Files.isRegularFile(dir.resolve("images.csv"))) return;
        SyntheticShapes.Generated g = SyntheticShapes.generate(dir, DEMO_DATA);
        stdout.printf(Locale.ROOT, "data: wrote %d clips and %d stills of moving shapes to %s (%.1f s)%n", g.videos().size(),
                g.images().size(), dir.toAbsolutePath(), g.seconds());
        stdout.flush();
    }

    private static String count(Trainer t) {
        long n = 0;
        for (var p : t.trainableParameters().values()) n += p.data().length();
        return n >= 1_000_000 ? String.format(Locale.ROOT, "%.1fM", n / 1e6) : String.format(Locale.ROOT, "%,d", n);
    }

    private static String fmt(double v) { return String.format(Locale.ROOT, "%.3g", v); }

    private static int bad(PrintWriter err, String message) {
        err.println("train: " + message);
        return BAD_INPUT;
    }

    /** On a terminal a progress bar with the step's figures (stderr); otherwise, e.g. into a log, a line per step (stdout). */
    private static final class Progress implements TrainListener, AutoCloseable {
        private final PrintWriter out, err;
        private final boolean terminal;
        private ProgressBar bar;

        Progress(PrintWriter out, PrintWriter err, boolean terminal) {
            this.out = out;
            this.err = err;
            this.terminal = terminal;
        }

        @Override public void onStart(long startStep, long totalSteps, long trainable) {
            if (terminal) {
                bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(totalSteps).setStyle(ProgressBarStyle.ASCII)
                        .setUnit(" step", 1).showSpeed().setSpeedUnit(ChronoUnit.SECONDS).setUpdateIntervalMillis(250).build();
                bar.stepTo(startStep);
            }
        }

        @Override public boolean onStep(StepStats s) {
            String image = Double.isNaN(s.imageLoss()) ? "" : String.format(Locale.ROOT, " (video %.4f, image %.4f)", s.videoLoss(), s.imageLoss());
            String figures = String.format(Locale.ROOT, "loss %.4f%s  lr %.2e  grad %.3f%s  %.2f clips/s", s.loss(), image, s.lr(),
                    s.gradNorm(), s.skipped() ? "  SKIPPED (non-finite)" : "", s.clipsPerSecond());
            if (bar != null) {                       // a terminal: the bar carries the figures
                bar.stepTo(s.step());
                bar.setExtraMessage(" " + figures);
                return true;
            }
            out.printf(Locale.ROOT, "step %d/%d  %s  %.2f s/step%n", s.step(), s.totalSteps(), figures, s.stepTime().toNanos() / 1e9);
            out.flush();
            return true;
        }

        @Override public void onCheckpoint(long step, Path dir) {
            out.println("checkpoint: " + dir);
            out.flush();
        }

        @Override public void onValidation(long step, Path gif) {
            out.println("validation: " + gif.toAbsolutePath());
            out.flush();
        }

        @Override public void close() {
            if (bar != null) bar.close();
            err.flush();
        }
    }
}
