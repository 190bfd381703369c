package org.lavie4j.examples.cli;

import org.lavie4j.core.io.DType;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.train.TextEncoderTrainer;
import org.lavie4j.train.data.Manifest;
import org.lavie4j.train.data.ManifestEntry;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lavie train-text OUT --model DIR --captions MANIFEST}: trains a model's text encoder on the captions of a
 * training manifest ({@link TextEncoderTrainer}: every state learns to say which caption tokens it has read) and writes
 * the model with that encoder as a new model folder. The stage between {@code train-vae} and {@code lavie train} when a
 * tiny model starts from a random text tower; the UNet is then trained over the frozen, trained tower.
 */
@Command(name = "train-text",
        mixinStandardHelpOptions = true,
        description = {"Train a model's text encoder on the captions of a manifest (each state learns which caption tokens it has "
                + "read) and write the model as a new model folder (UNet and VAE as they were; train the UNet with 'lavie train')."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:training or writing failed", "2:bad options or OUT exists"})
public final class TrainTextCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "OUT", description = "The model folder to create.")
    Path out;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The lavie4j model folder whose text encoder to train.")
    Path model;

    @Option(names = "--captions", required = true, paramLabel = "MANIFEST",
            description = "A training manifest (CSV or JSONL, any format 'lavie train' reads); its distinct captions are trained on.")
    Path captions;

    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    int steps = 500;

    @Option(names = "--batch", paramLabel = "B", description = "Captions per step (default: ${DEFAULT-VALUE}).")
    int batch = 32;

    @Option(names = "--lr", paramLabel = "LR", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
    double lr = 1e-3;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the caption draws and the read-out head (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--log-every", paramLabel = "N", description = "Print the loss every N steps (default: ${DEFAULT-VALUE}).")
    int logEvery = 50;

    @Option(names = "--half", description = "Store the weights as F16.")
    boolean half;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (Files.exists(out)) {
            err.println("train-text: " + out + ": already exists; choose a new folder");
            return 2;
        }
        TextEncoderTrainer.Config config;
        try {
            if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
            if (logEvery < 1) throw new IllegalArgumentException("--log-every must be >= 1, got " + logEvery);
            config = new TextEncoderTrainer.Config(batch, lr, 1.0, seed);
        } catch (IllegalArgumentException e) {
            err.println("train-text: " + e.getMessage());
            return 2;
        }
        try {
            List<String> texts = new ArrayList<>();
            for (ManifestEntry e : Manifest.read(captions).entries()) texts.add(e.caption());
            TextToVideoModel m = TextToVideoModel.load(model);
            TextEncoderTrainer trainer = new TextEncoderTrainer(m.textEncoder(), m.tokenizer(), texts, config);
            stdout.printf(Locale.ROOT, "%d distinct captions (and the empty one), %d distinct tokens%n",
                    trainer.captions().size() - 1, trainer.vocabularySize());
            long t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                TextEncoderTrainer.StepLoss l = trainer.trainStep();
                if ((i + 1) % logEvery == 0 || i == 0 || i + 1 == steps) {
                    stdout.printf(Locale.ROOT, "step %d/%d  loss %.5f  grad norm %.3f  (%.1f s)%n", i + 1, steps, l.loss(), l.gradNorm(),
                            (System.nanoTime() - t0) / 1e9);
                    stdout.flush();
                }
            }
            double accuracy = trainer.readBackAccuracy();
            m.textEncoder().eval();
            ModelInfo was = m.info();
            String description = was.description() + String.format(Locale.ROOT, "; text encoder trained on the %d captions of %s "
                    + "(%d steps x %d, read-back accuracy %.3f)", trainer.captions().size() - 1, captions.getFileName(), steps, batch, accuracy);
            new TextToVideoModel(m.tokenizer(), m.textEncoder(), m.unet(), m.vae(), m.schedulerConfig(),
                    was.describedAs(was.name(), description, was.trained())).save(out, half ? DType.F16 : DType.F32);
            stdout.printf(Locale.ROOT, "read-back accuracy %.3f (captions whose tokens the last state gives back exactly)%nwrote %s in %.1f s%n",
                    accuracy, out.toAbsolutePath(), (System.nanoTime() - t0) / 1e9);
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("train-text: " + e.getMessage());
            return 1;
        }
    }
}
