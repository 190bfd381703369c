package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Memory over denoising steps (issue 9: "memory does not grow with steps"): runs {@link TextToVideoPipeline} with random
 * weights for N DDIM steps to latents and prints the resident set after every step, the peak of the sampling steps
 * (VmHWM reset before the first step, so the weights' setup is not in it) and the growth per step (least-squares slope
 * of RSS over steps 2..N; step 1 is warm-up: oneDNN and glibc settle there).
 *
 * <pre>
 * java -Xmx1g -cp benchmarks.jar org.lavie4j.benchmarks.SamplingMemoryBenchmark [--model base|tiny] [--steps 5]
 *     [--frames 16] [--height 320] [--width 512] [--guidance 1.0] [--gc false]
 * </pre>
 * Guidance 1.0 runs the UNet at batch 1 (the "full-size sampling step at batch 1"); above 1 at batch 2. Prompt
 * embeddings are random (1, 77, width); the output type is latents (the VAE decode happens once, after the steps).
 * {@code --gc true} runs the garbage collector after every step (a diagnostic: growth that it removes was arrays left
 * for the GC to free).
 */
public final class SamplingMemoryBenchmark {
    private SamplingMemoryBenchmark() {}

    public static void main(String[] args) {
        String model = "base";
        int steps = 5, frames = 16, height = 320, width = 512;
        double guidance = 1.0;
        boolean gc = false;
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) throw new IllegalArgumentException("missing value after " + args[i]);
            String v = args[i + 1];
            switch (args[i]) {
                case "--model" -> model = v;
                case "--steps" -> steps = Integer.parseInt(v);
                case "--frames" -> frames = Integer.parseInt(v);
                case "--height" -> height = Integer.parseInt(v);
                case "--width" -> width = Integer.parseInt(v);
                case "--guidance" -> guidance = Double.parseDouble(v);
                case "--gc" -> gc = Boolean.parseBoolean(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (--model base|tiny --steps N --frames F --height H --width W --guidance S --gc true|false)");
            }
        }
        if (!model.equals("base") && !model.equals("tiny")) throw new IllegalArgumentException("--model must be base or tiny, got " + model);
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        boolean base = model.equals("base");
        UNet3DConditionModel unet = new UNet3DConditionModel(base ? UNetConfig.lavieBase() : UNetConfig.tiny());
        unet.eval();
        AutoencoderKL vae = new AutoencoderKL(base ? VaeConfig.sd14() : VaeConfig.tiny());
        vae.eval();
        TextToVideoPipeline pipeline = new TextToVideoPipeline(null, null, unet, vae, SchedulerConfig.lavieBase(SchedulerKind.DDIM));
        int textWidth = unet.config().crossAttentionDim();
        INDArray cond = Nd4j.randn(DataType.FLOAT, 1, 77, textWidth), uncond = Nd4j.randn(DataType.FLOAT, 1, 77, textWidth);
        System.out.printf(Locale.ROOT, "# backend: %s%n# %s UNet, %d parameters; %d steps of %d frames %dx%d, guidance %.1f (UNet batch %d); after setup rss %.2f GB, %s%n",
                Lavie4j.describeBackend(), model, unet.parameterCount(), steps, frames, height, width, guidance, guidance > 1 ? 2 : 1,
                ProcessMemory.rssBytes() / 1e9, ProcessMemory.describe());

        List<Double> rss = new ArrayList<>();
        long before = ProcessMemory.rssBytes();
        boolean reset = ProcessMemory.resetPeak();
        boolean collect = gc;
        GenerateOptions o = GenerateOptions.builder().embeddings(cond, uncond).frames(frames).size(height, width).steps(steps)
                .guidanceScale(guidance).seed(0).outputType(OutputType.LATENTS)
                .progress((step, total, t, elapsed) -> {
                    if (collect) System.gc();
                    double gb = ProcessMemory.rssBytes() / 1e9;
                    rss.add(gb);
                    System.out.printf(Locale.ROOT, "step %d/%d (t=%.0f, %.1f s): rss %.3f GB, peak %.3f GB, %s%n", step, total, t,
                            elapsed.toMillis() / 1e3, gb, ProcessMemory.peakRssBytes() / 1e9, ProcessMemory.describe());
                    return true;
                }).build();
        GenerateResult result = pipeline.generate(o);
        double slope = slope(rss);
        System.out.printf(Locale.ROOT, "rss before the steps %.3f GB; peak during the steps %.3f GB (%s); rss after step 1 %.3f GB, after step %d %.3f GB; "
                        + "growth per step after step 1: %+.4f GB (least squares over steps 2..%d)%n",
                before / 1e9, ProcessMemory.peakRssBytes() / 1e9, reset ? "VmHWM reset before step 1" : "process peak: VmHWM not resettable",
                rss.get(0), rss.size(), rss.get(rss.size() - 1), slope, rss.size());
        result.latents().close();
    }

    /** Least-squares slope of values[1..] against their index (0 when fewer than two points). */
    static double slope(List<Double> values) {
        int n = values.size() - 1;
        if (n < 2) return 0;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int i = 1; i <= n; i++) {
            double y = values.get(i);
            sx += i; sy += y; sxx += (double) i * i; sxy += i * y;
        }
        return (n * sxy - sx * sy) / (n * sxx - sx * sx);
    }
}
