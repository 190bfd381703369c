package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.train.ModelSource;
import org.lavie4j.train.RandomSampleSource;
import org.lavie4j.train.StepStats;
import org.lavie4j.train.TrainConfig;
import org.lavie4j.train.TrainListener;
import org.lavie4j.train.Trainer;
import org.lavie4j.train.loss.DiffusionLoss;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Training throughput. A plain {@code main}, single runs (a full-size step takes minutes):
 * <ul>
 * <li>{@code tiny}: clips/s of the {@link Trainer} (VAE encode, CLIP, UNet forward + backward, AdamW, EMA) on the random
 * tiny model ({@code TextToVideoModel.randomTiny}) at two clip sizes with one joint image, batch 1, all UNet parameters
 * trained; the first steps are warm-up.</li>
 * <li>{@code full}: one training step of the full-size base UNet ({@link UNetConfig#lavieBase()}, random weights, float)
 * with only the temporal layers trainable (keys containing {@code _temp}, LaVie's {@code train_temporal}): forward under
 * the tape, MSE against a random target, backward; at a reduced latent size given on the command line. The time is
 * extrapolated to LaVie's 16 × 40 × 64 latents + 4 images by the ratio of forward multiply-adds ({@link MacCount}).</li>
 * <li>{@code checkpointed}: the same step with gradient checkpointing per block
 * ({@link UNet3DConditionModel#gradientCheckpointing}), by default once at LaVie's size (16 frames + 4 images,
 * latents 40 × 64); prints the tape's nodes and held bytes before backward and the peak RSS over the weights (VmHWM
 * reset after setup). At a smaller size it extrapolates the time as {@code full} does.</li>
 * </ul>
 * <pre>java -cp benchmarks/target/benchmarks.jar org.lavie4j.benchmarks.TrainStepBenchmark tiny|full|checkpointed [frames images h w [runs]]</pre>
 */
public final class TrainStepBenchmark {
    private TrainStepBenchmark() {}

    public static void main(String[] args) throws IOException {
        Lavie4j.setup();
        System.out.println("# backend: " + Lavie4j.describeBackend());
        String mode = args.length > 0 ? args[0] : "tiny";
        if (mode.equals("tiny")) {
            tiny(4, 32, 32, 1, 3, 8);
            tiny(8, 64, 64, 1, 2, 4);
        } else if (mode.equals("full")) {
            int f = args.length > 1 ? Integer.parseInt(args[1]) : 4, i = args.length > 2 ? Integer.parseInt(args[2]) : 1;
            int h = args.length > 3 ? Integer.parseInt(args[3]) : 16, w = args.length > 4 ? Integer.parseInt(args[4]) : 16;
            full(f, i, h, w, false, 2);
        } else if (mode.equals("checkpointed")) {
            int f = args.length > 1 ? Integer.parseInt(args[1]) : 16, i = args.length > 2 ? Integer.parseInt(args[2]) : 4;
            int h = args.length > 3 ? Integer.parseInt(args[3]) : 40, w = args.length > 4 ? Integer.parseInt(args[4]) : 64;
            full(f, i, h, w, true, args.length > 5 ? Integer.parseInt(args[5]) : 1);
        } else {
            throw new IllegalArgumentException("mode is tiny, full or checkpointed, got " + mode);
        }
    }

    /** clips/s of the Trainer on the tiny model: {@code warmup} steps, then {@code measured} timed steps. */
    static void tiny(int frames, int height, int width, int images, int warmup, int measured) throws IOException {
        Path out = Files.createTempDirectory("lavie4j-trainbench");
        try {
            long seed = 3;
            TrainConfig d = TrainConfig.defaults(new ModelSource.Tiny(seed), out);
            TrainConfig config = d.withSteps(warmup + measured)
                    .withOptimizer(d.optimizer().withLr(1e-4).withSchedule(TrainConfig.Schedule.CONSTANT, 0))
                    .withCheckpoint(new TrainConfig.Checkpointing(1_000_000, 1))
                    .withSeed(11);
            Trainer trainer = new Trainer(config, TextToVideoModel.randomTiny(seed),
                    new RandomSampleSource(5, frames, height, width, images, List.of("a red circle moving left", "a blue square")));
            List<Long> stamps = new ArrayList<>();
            stamps.add(System.nanoTime());
            trainer.train(new TrainListener() {
                @Override public boolean onStep(StepStats s) {
                    stamps.add(System.nanoTime());
                    return true;
                }
            });
            double seconds = (stamps.get(warmup + measured) - stamps.get(warmup)) / 1e9;
            System.out.printf(Locale.ROOT, "tiny trainer: %d frames %dx%d + %d image, batch 1: %.3f s/step, %.2f clips/s "
                            + "(%d steps after %d warm-up; first step %.2f s); %s%n",
                    frames, height, width, images, seconds / measured, measured / seconds, measured, warmup,
                    (stamps.get(1) - stamps.get(0)) / 1e9, ProcessMemory.describe());
        } finally {
            try (Stream<Path> s = Files.walk(out)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * One temporal-only training step of the full-size base UNet on latents (1, 4, f + i, h, w), {@code runs} times (the
     * first warms up), with or without gradient checkpointing per block.
     */
    static void full(int frames, int images, int h, int w, boolean checkpointing, int runs) {
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        UNetConfig config = UNetConfig.lavieBase();
        UNet3DConditionModel unet = new UNet3DConditionModel(config);
        long trainable = 0;
        for (var e : unet.namedParameters().entrySet()) {
            boolean temporal = e.getKey().contains("_temp");
            e.getValue().setTrainable(temporal);
            if (temporal) trainable += e.getValue().data().length();
        }
        unet.train(true);
        unet.gradientCheckpointing(checkpointing);
        System.out.printf(Locale.ROOT, "# full-size UNet: %d parameters, %d trainable (keys with _temp), gradient checkpointing %s; after setup %s%n",
                unet.parameterCount(), trainable, checkpointing ? "on" : "off", ProcessMemory.describe());
        FrameLayout layout = new FrameLayout(frames, images);
        // explicitly seeded draws: Nd4j.getRandom().setSeed does not repeat Nd4j.randn(DataType, ...) across runs (see Init)
        INDArray sample = Nd4j.randn(1L, new long[]{1, 4, frames + images, h, w}).castTo(DataType.FLOAT);
        INDArray target = Nd4j.randn(2L, new long[]{1, 4, frames + images, h, w}).castTo(DataType.FLOAT);
        INDArray context = Nd4j.randn(3L, new long[]{1, 1 + images, 77, 768}).castTo(DataType.FLOAT);
        INDArray t = Nd4j.createFromArray(500L);
        double stepSeconds = 0;
        for (int run = 0; run < runs; run++) {
            long base = ProcessMemory.rssBytes();
            boolean reset = ProcessMemory.resetPeak();
            long t0 = System.nanoTime(), t1;
            try (Tape tape = Grad.record()) {
                Tensor pred = unet.forward(Tensor.of(sample), Tensor.of(t), Tensor.of(context), layout);
                Tensor loss = DiffusionLoss.mse(pred, target);
                t1 = System.nanoTime();
                System.out.printf(Locale.ROOT, "run %d forward %.1f s: tape %d nodes holding %.2f GB of op outputs; rss %.2f GB; %s%n", run + 1,
                        (t1 - t0) / 1e9, tape.size(), tape.heldBytes() / 1e9, ProcessMemory.rssBytes() / 1e9, ProcessMemory.describe());
                tape.backward(loss);
                Memory.free(loss.data());
            }
            long t2 = System.nanoTime();
            double gradNorm2 = 0;
            for (Parameter p : unet.parameters())
                if (p.isTrainable() && p.grad() != null) {
                    double n = p.grad().norm2Number().doubleValue();
                    gradNorm2 += n * n;
                }
            unet.parameters().forEach(Parameter::zeroGrad);
            stepSeconds = (t2 - t0) / 1e9;
            System.out.printf(Locale.ROOT, "full-size step %d%s: latents 1x4x(%d+%d)x%dx%d: forward %.1f s, backward %.1f s, total %.1f s; "
                            + "grad norm %.3e; rss before %.2f GB, peak %.2f GB (%s, +%.2f GB over the weights); %s%n", run + 1,
                    checkpointing ? " (checkpointed)" : "", frames, images, h, w, (t1 - t0) / 1e9, (t2 - t1) / 1e9, stepSeconds,
                    Math.sqrt(gradNorm2), base / 1e9, ProcessMemory.peakRssBytes() / 1e9, reset ? "VmHWM reset before the step" : "VmHWM not reset: process peak",
                    (ProcessMemory.peakRssBytes() - base) / 1e9, ProcessMemory.describe());
        }
        int levels = config.blockOutChannels().size();
        MacCount measured = MacCount.of(unet, levels, 1, frames + images, h, w, 77);
        MacCount real = MacCount.of(unet, levels, 1, 16 + 4, 40, 64, 77);
        double ratio = real.total() / measured.total();
        System.out.printf(Locale.ROOT, "forward MAC: measured size %.3e (attention %.1f%%), LaVie 16x40x64 + 4 images %.3e (attention %.1f%%); "
                        + "ratio %.1f -> extrapolated step %.0f s (%.1f min)%n", measured.total(), 100 * measured.attention() / measured.total(),
                real.total(), 100 * real.attention() / real.total(), ratio, stepSeconds * ratio, stepSeconds * ratio / 60);
    }
}
