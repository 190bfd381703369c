package org.lavie4j.examples.cli;

import org.lavie4j.core.io.DType;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.train.ShapesSampleSource;
import org.lavie4j.train.VaeTrainer;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.train.data.SyntheticShapes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code lavie train-vae OUT}: the first stage of training a tiny model from scratch on the synthetic domain. Trains the
 * VAE of a model (the random tiny model by default) on frames of {@link SyntheticShapes} clips rendered in memory
 * ({@link VaeTrainer}), sets its scaling factor to 1 / the latents' std, and writes the model, with the default video
 * size set to the training size, as a lavie4j model folder: the starting point ({@code model: {source: lavie4j}}) of
 * {@code lavie train}, which trains the UNet on top of the frozen VAE.
 */
@Command(name = "train-vae",
        mixinStandardHelpOptions = true,
        description = {"Train a model's VAE on synthetic moving-shapes frames (reconstruction + KL), set its latent scaling, "
                + "and write the model as a new model folder (the UNet is left as it was; train it with 'lavie train')."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:training or writing failed", "2:bad options or OUT exists"})
public final class TrainVaeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "OUT", description = "The model folder to create.")
    Path out;

    @Option(names = "--model", paramLabel = "DIR", description = "Start from this lavie4j model folder (default: the random tiny model of --init-seed).")
    Path model;

    @Option(names = "--init-seed", paramLabel = "N", description = "Seed of the random tiny model when no --model is given (default: ${DEFAULT-VALUE}).")
    long initSeed = 0;

    @Option(names = "--size", paramLabel = "PX", description = "Frame height and width; also the written model's default (default: ${DEFAULT-VALUE}).")
    int size = 32;

    @Option(names = "--frames", paramLabel = "F", description = "Frames per clip; also the written model's default (default: ${DEFAULT-VALUE}).")
    int frames = 8;

    @Option(names = "--holdout", paramLabel = "LIST", description = "Combinations never shown, comma-separated (\"red circle left, ...\").")
    String holdout = "";

    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    int steps = 1000;

    @Option(names = "--batch", paramLabel = "B", description = "Frames per step, one from each of B clips (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--lr", paramLabel = "LR", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
    double lr = 1e-3;

    @Option(names = "--kl", paramLabel = "W", description = "Weight of the KL term (default: ${DEFAULT-VALUE}).")
    double kl = 1e-4;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the data, frame choice and posterior noise (default: ${DEFAULT-VALUE}).")
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
            err.println("train-vae: " + out + ": already exists; choose a new folder");
            return 2;
        }
        SyntheticShapes.Options data;
        VaeTrainer.Config config;
        try {
            if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
            if (logEvery < 1) throw new IllegalArgumentException("--log-every must be >= 1, got " + logEvery);
            Set<ShapeCaption> held = ShapeCaption.parseList(holdout);
            data = new SyntheticShapes.Options(Math.max(1, steps * batch), size, size, frames, 8.0, seed, held, 0);
            config = new VaeTrainer.Config(batch, lr, kl, 1.0, seed);
        } catch (IllegalArgumentException e) {
            err.println("train-vae: " + e.getMessage());
            return 2;
        }
        try {
            TextToVideoModel m = model == null ? TextToVideoModel.randomTiny(initSeed) : TextToVideoModel.load(model);
            if (size % m.vae().config().spatialFactor() != 0) {
                err.println("train-vae: --size " + size + " must be a multiple of the VAE's factor " + m.vae().config().spatialFactor());
                return 2;
            }
            VaeTrainer trainer = new VaeTrainer(m.vae(), config, new ShapesSampleSource(data, 0));
            long t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                VaeTrainer.StepLoss l = trainer.trainStep();
                if ((i + 1) % logEvery == 0 || i == 0 || i + 1 == steps) {
                    stdout.printf(Locale.ROOT, "step %d/%d  recon %.5f  kl %.3f  loss %.5f  grad norm %.3f  (%.1f s)%n", i + 1, steps,
                            l.reconstruction(), l.kl(), l.total(), l.gradNorm(), (System.nanoTime() - t0) / 1e9);
                    stdout.flush();
                }
            }
            double std = trainer.latentStd(8);
            AutoencoderKL vae = VaeTrainer.withScaling(m.vae(), 1.0 / std);
            ModelInfo was = m.info();
            String description = String.format(Locale.ROOT, "tiny LaVie-architecture model: VAE trained on synthetic shapes (%d steps x %d frames "
                    + "of %dx%d, recon+KL %.0e, latent std %.3f -> scaling %.4f); UNet %s", steps, batch, size, size, kl, std, 1.0 / std,
                    was.trained() ? "as in " + was.name() : "UNTRAINED (random)");
            ModelInfo info = new ModelInfo(was.name().replace("-random", "") + "-vae", description, false, frames, size, size,
                    was.fps(), was.steps(), was.guidanceScale(), was.scheduler());
            new TextToVideoModel(m.tokenizer(), m.textEncoder(), m.unet(), vae, m.schedulerConfig(), info)
                    .save(out, half ? DType.F16 : DType.F32);
            stdout.printf(Locale.ROOT, "latent std %.4f: scaling factor %.4f%nwrote %s in %.1f s%n", std, 1.0 / std, out.toAbsolutePath(),
                    (System.nanoTime() - t0) / 1e9);
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("train-vae: " + e.getMessage());
            return 1;
        }
    }
}
