package org.lavie4j.examples.cli;

import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.unet.UNetConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lavie init-model OUT}: writes a tiny LaVie-architecture model with freshly initialised (random) weights as a
 * lavie4j model folder; the starting point of training from scratch, and the embedded default model of
 * {@code lavie sample} until a trained one replaces it.
 */
@Command(name = "init-model",
        mixinStandardHelpOptions = true,
        description = {"Write a tiny text-to-video model with random (untrained) weights as a model folder.",
                "The folder is written atomically and never over an existing one."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "2:OUT exists or cannot be written, or --from / --unet-config is missing or invalid"})
public final class InitModelCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "OUT", description = "The model folder to create.")
    Path out;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the initial weights (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--half", description = "Store the weights as F16 (half the size; loaded back as float32).")
    boolean half;

    @Option(names = "--from", paramLabel = "DIR", description = {"Keep the tokenizer, text encoder, VAE and schedule of this "
            + "model folder (e.g. the output of 'lavie train-vae'); only the UNet is new (default: the tiny random model's parts)."})
    Path from;

    @Option(names = "--unet-config", paramLabel = "FILE", description = {"The new UNet's diffusers config.json (block_out_channels, "
            + "down/up_block_types, attention_head_dim = heads per level, ...) (default: the tiny UNet, or with --from the UNet config "
            + "of DIR)."})
    Path unetConfig;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (Files.exists(out)) {
            err.println("init-model: " + out + ": already exists; choose a new folder");
            return 2;
        }
        try {
            TextToVideoModel m = from == null ? TextToVideoModel.randomTiny(seed) : TextToVideoModel.load(from);
            if (unetConfig != null || from != null) {
                UNetConfig config = m.unet().config();
                if (unetConfig != null) {
                    UNetConfig.Parsed parsed;
                    try {
                        parsed = UNetConfig.fromJson(DiffusersFolder.readJson(unetConfig));
                    } catch (IllegalArgumentException e) {
                        err.println("init-model: " + unetConfig + ": " + e.getMessage());
                        return 2;
                    }
                    config = parsed.config();
                }
                try {
                    m = m.withRandomUNet(config, seed);
                } catch (IllegalArgumentException e) {
                    err.println("init-model: " + (unetConfig != null ? unetConfig + ": " : "") + e.getMessage());
                    return 2;
                }
            }
            m.save(out, half ? DType.F16 : DType.F32);
            long bytes;
            try (var s = Files.walk(out)) {
                bytes = s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
            }
            stdout.printf(Locale.ROOT, "wrote %s (%s, %.1f MB): %s%n", out.toAbsolutePath(), m.info().name(), bytes / 1e6,
                    m.info().description());
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("init-model: cannot write " + out + ": " + e.getMessage());
            return 2;
        }
    }
}
