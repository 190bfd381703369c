package org.lavie4j.examples.cli;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lavie bench}: timings from the shell, for comparisons with other implementations run side by side (the JMH
 * benchmarks in {@code benchmarks/} are the place for kernel-level figures). {@code lavie bench unet} times forwards of
 * the base UNet with random weights and prints {@code median_s=<seconds>} as its last line.
 */
@Command(name = "bench",
        mixinStandardHelpOptions = true,
        description = "Time the models' hot paths from the shell (random weights).",
        subcommands = {BenchCommand.Unet.class})
public final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    /** {@code lavie bench unet}: the base UNet forward at LaVie's latent size. */
    @Command(name = "unet",
            mixinStandardHelpOptions = true,
            description = {"Time forwards of LaVie's base UNet (random weights, float32, no gradient) on random latents "
                    + "(batch, 4, frames, height, width) and 77 text states; prints each run and median_s=<seconds> last.",
                    "Defaults: one classifier-free-guidance step of LaVie base (batch 2, 16 frames of 40x64 latents = 320x512 pixels)."},
            exitCodeListHeading = "Exit codes:%n",
            exitCodeList = {"0:timed", "2:bad options"})
    static final class Unet implements Callable<Integer> {
        @Option(names = "--batch", paramLabel = "N", description = "Samples per forward (default: ${DEFAULT-VALUE}).")
        int batch = 2;

        @Option(names = "--frames", paramLabel = "N", description = "Frames (default: ${DEFAULT-VALUE}).")
        int frames = 16;

        @Option(names = "--height", paramLabel = "H", description = "Latent height (default: ${DEFAULT-VALUE}; pixels / 8).")
        int height = 40;

        @Option(names = "--width", paramLabel = "W", description = "Latent width (default: ${DEFAULT-VALUE}; pixels / 8).")
        int width = 64;

        @Option(names = "--runs", paramLabel = "N", description = "Timed forwards (default: ${DEFAULT-VALUE}).")
        int runs = 3;

        @Option(names = "--warmup", paramLabel = "N", description = "Untimed forwards first (default: ${DEFAULT-VALUE}).")
        int warmup = 1;

        @Option(names = "--model", paramLabel = "KIND", description = "base (LaVie's full-size UNet, default) or tiny (the test model).")
        String model = "base";

        @Option(names = "--seed", paramLabel = "N", description = "Seed of the weights and inputs (default: ${DEFAULT-VALUE}).")
        long seed = 0;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            UNetConfig config = switch (model.toLowerCase(Locale.ROOT)) {
                case "base" -> UNetConfig.lavieBase();
                case "tiny" -> UNetConfig.tiny();
                default -> null;
            };
            if (config == null) return bad(err, "--model must be base or tiny, got " + model);
            for (int[] v : new int[][]{{batch, 'b'}, {frames, 'f'}, {height, 'h'}, {width, 'w'}, {runs, 'r'}})
                if (v[0] < 1) return bad(err, "--batch, --frames, --height, --width and --runs must be >= 1, got " + v[0]);
            if (warmup < 0) return bad(err, "--warmup must be >= 0, got " + warmup);
            int factor = 1 << (config.blockOutChannels().size() - 1);
            if (height % factor != 0 || width % factor != 0)
                return bad(err, "--height and --width must be divisible by " + factor + " (the UNet's down-sampling), got " + height + "x" + width);

            Lavie4j.setup();
            out.println("# backend: " + Lavie4j.describeBackend());
            out.printf(Locale.ROOT, "# %s UNet, input (%d, %d, %d, %d, %d), text (%d, 77, %d), float32, %d warm-up + %d timed runs; "
                            + "java %s, %d cores, OMP_NUM_THREADS=%s%n", model, batch, config.inChannels(), frames, height, width, batch,
                    config.crossAttentionDim(), warmup, runs, System.getProperty("java.version"), Runtime.getRuntime().availableProcessors(),
                    System.getenv("OMP_NUM_THREADS"));
            out.flush();
            Nd4j.getRandom().setSeed(seed);
            Init.seed(seed);
            long t0 = System.nanoTime();
            UNet3DConditionModel unet = new UNet3DConditionModel(config);
            unet.eval();
            out.printf(Locale.ROOT, "# built %d parameters in %.1f s%n", unet.parameterCount(), (System.nanoTime() - t0) / 1e9);
            INDArray x = Nd4j.randn(seed + 1, new long[]{batch, config.inChannels(), frames, height, width}).castTo(DataType.FLOAT);
            INDArray text = Nd4j.randn(seed + 2, new long[]{batch, 77, config.crossAttentionDim()}).castTo(DataType.FLOAT);
            INDArray t = Nd4j.createFromArray(981L);
            double[] seconds = new double[runs];
            try (Tape off = Grad.disabled()) {
                for (int i = 0; i < warmup + runs; i++) {
                    long s = System.nanoTime();
                    Tensor y = unet.forward(Tensor.of(x), Tensor.of(t), Tensor.of(text));
                    double took = (System.nanoTime() - s) / 1e9;
                    y.release();
                    if (i < warmup) {
                        out.printf(Locale.ROOT, "warm-up %d: %.3f s%n", i + 1, took);
                    } else {
                        seconds[i - warmup] = took;
                        out.printf(Locale.ROOT, "run %d: %.3f s%n", i - warmup + 1, took);
                    }
                    out.flush();
                }
            } finally {
                Memory.free(x, text, t);
            }
            out.printf(Locale.ROOT, "median_s=%.4f%n", median(seconds));
            return 0;
        }

        static double median(double[] v) {
            double[] s = v.clone();
            Arrays.sort(s);
            return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        }

        private static int bad(PrintWriter err, String message) {
            err.println("bench unet: " + message);
            return 2;
        }
    }
}
