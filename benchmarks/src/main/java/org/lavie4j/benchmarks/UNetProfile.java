package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.time.Instant;
import java.util.Locale;

/**
 * Where the time of one UNet forward goes: runs {@code lavieBase()} (random weights, float32, no gradient) with an
 * {@link OpProfile} on lavie-core's op hook and prints time, multiply-adds, GFLOP/s and share per layer kind and per
 * layer. Also prints the {@link MacCount} of the module tree, to check the op-level count against it.
 * <pre>
 * OPENBLAS_CORETYPE=SkylakeX MALLOC_MMAP_THRESHOLD_=4194304 java -Xmx2g -Dorg.bytedeco.javacpp.maxphysicalbytes=8G \
 *     -cp benchmarks.jar org.lavie4j.benchmarks.UNetProfile [--batch 1] [--frames 16] [--height 40] [--width 64]
 *     [--warmup 0] [--model base|tiny] [--min-share 0.005]
 * </pre>
 * Defaults: LaVie's 1 × 4 × 16 × 40 × 64 (weights 3.6 GB, ~2 GB of activations). {@code --warmup N} runs N
 * unprofiled forwards first. The hook is set only around the profiled forward.
 */
public final class UNetProfile {
    private UNetProfile() {}

    public static void main(String[] args) {
        int batch = 1, frames = 16, height = 40, width = 64, warmup = 0;
        String model = "base";
        double minShare = 0.005;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) throw new IllegalArgumentException("option " + a + " needs a value");
            String v = args[++i];
            switch (a) {
                case "--batch" -> batch = Integer.parseInt(v);
                case "--frames" -> frames = Integer.parseInt(v);
                case "--height" -> height = Integer.parseInt(v);
                case "--width" -> width = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--model" -> model = v;
                case "--min-share" -> minShare = Double.parseDouble(v);
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        UNetConfig config = switch (model) {
            case "base" -> UNetConfig.lavieBase();
            case "tiny" -> UNetConfig.tiny();
            default -> throw new IllegalArgumentException("--model base|tiny, got " + model);
        };
        UNet3DConditionModel unet = new UNet3DConditionModel(config);
        unet.eval();
        Tensor sample = Tensor.of(Nd4j.randn(DataType.FLOAT, batch, config.inChannels(), frames, height, width));
        Tensor timestep = Tensor.of(Nd4j.createFromArray(500L));
        Tensor context = Tensor.of(Nd4j.randn(DataType.FLOAT, batch, 77, config.crossAttentionDim()));
        MacCount count = MacCount.of(unet, config.blockOutChannels().size(), batch, frames, height, width, 77);
        double peak = KernelShapes.peakGflops();
        String loadBefore = KernelReport.loadAverage();
        System.out.printf(Locale.ROOT, "# UNetProfile %s; model %s (%d parameters), %d x %d x %d x %d x %d; java %s%n# backend: %s%n# MacCount: %s = %.2f GMAC%n",
                Instant.now(), model, unet.parameterCount(), batch, config.inChannels(), frames, height, width,
                System.getProperty("java.version"), Lavie4j.describeBackend(), count, count.total() / 1e9);

        for (int i = 0; i < warmup; i++) {
            long t0 = System.nanoTime();
            forward(unet, sample, timestep, context);
            System.out.printf(Locale.ROOT, "# warm-up forward %d: %.2f s%n", i + 1, (System.nanoTime() - t0) / 1e9);
        }
        OpProfile profile = new OpProfile(unet);
        Ops.setListener(profile);
        try {
            profile.start();
            forward(unet, sample, timestep, context);
            profile.stop();
        } finally {
            Ops.setListener(null);
        }
        System.out.printf(Locale.ROOT, "# load average before %s, after %s; %s; peak %.0f GFLOPS (FP32, %s)%n", loadBefore,
                KernelReport.loadAverage(), ProcessMemory.describe(), peak, KernelShapes.peakSource());
        System.out.print(profile.table(peak, minShare));
    }

    private static void forward(UNet3DConditionModel unet, Tensor sample, Tensor timestep, Tensor context) {
        try (Tape off = Grad.disabled()) {
            unet.forward(sample, timestep, context).release();
        }
    }
}
