package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.pipeline.InterpolateOptions;
import org.lavie4j.nn.pipeline.InterpolationPipeline;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.util.Locale;

/**
 * One denoising step of LaVie's interpolation stage at the real channel widths ({@link UNetConfig#lavieInterpolation()},
 * random weights): the UNet on [x ‖ conditioning] (8 channels) for 61 frames, batch 2 ([cond, uncond] text, the
 * original's forward_with_cfg), the guidance and the respaced DDIM update. A plain {@code main}. The real latent size,
 * 40×64, takes ~15 TMAC per step (minutes on 2 cores, more than one run should take), so the step runs at a reduced
 * spatial size and the time is extrapolated by the multiply-add count ({@link MacCount}: convolutions and linear layers
 * scale with h·w, the sparse-causal spatial attention with (h·w)², the temporal attention with 61²·h·w).
 * <ul>
 *   <li>{@code step [h w]}: through {@link InterpolationPipeline#interpolateLatents} with 1 step and outputType LATENTS
 *       (default 16×32 latents, i.e. 128×256 pixels; 61 frames);</li>
 *   <li>{@code unet [frames h w]}: the UNet forward alone, batch 2, at any frame count.</li>
 * </ul>
 * <pre>
 * OPENBLAS_CORETYPE=SkylakeX MALLOC_MMAP_THRESHOLD_=4194304 java -Xmx2g -Dorg.bytedeco.javacpp.maxphysicalbytes=22G \
 *     -cp benchmarks/target/benchmarks.jar org.lavie4j.benchmarks.InterpolationStepBenchmark step 16 32
 * </pre>
 */
public final class InterpolationStepBenchmark {
    static final int REAL_H = 40, REAL_W = 64, TEXT = 77;

    private InterpolationStepBenchmark() {}

    public static void main(String[] args) throws IOException {
        String mode = args.length > 0 ? args[0] : "step";
        Lavie4j.setup();
        System.out.println("# backend: " + Lavie4j.describeBackend());
        System.out.println("# threads: " + Runtime.getRuntime().availableProcessors() + " cores, OMP_NUM_THREADS="
                + System.getenv("OMP_NUM_THREADS") + ", load " + VsrChunkStepBenchmark.loadAverage());
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.lavieInterpolation());
        unet.eval();
        int levels = unet.config().blockOutChannels().size();
        int frames = InterpolationPipeline.OUTPUT_FRAMES;
        MacCount real = MacCount.of(unet, levels, 2, frames, REAL_H, REAL_W, TEXT);
        System.out.printf(Locale.ROOT, "# interpolation UNet %d parameters; multiply-adds per step at %dx%d, 61 frames, batch 2: %s%n",
                unet.parameterCount(), REAL_H, REAL_W, real);
        switch (mode) {
            case "step" -> {
                int h = args.length > 2 ? Integer.parseInt(args[1]) : 16, w = args.length > 2 ? Integer.parseInt(args[2]) : 32;
                MacCount here = MacCount.of(unet, levels, 2, frames, h, w, TEXT);
                System.out.println("# multiply-adds per step at " + h + "x" + w + ": " + here + "; uncounted parameters " + here.uncountedParameters());
                Nd4j.getRandom().setSeed(1);
                Init.seed(1);
                AutoencoderKL vae = new AutoencoderKL(VaeConfig.sd14());
                vae.eval();
                InterpolationPipeline pipeline = new InterpolationPipeline(null, null, unet, vae);
                INDArray key = Nd4j.randn(DataType.FLOAT, 1, 4, InterpolationPipeline.INPUT_FRAMES, h, w);
                InterpolateOptions o = InterpolateOptions.builder()
                        .embeddings(Nd4j.randn(DataType.FLOAT, 1, TEXT, 768), Nd4j.randn(DataType.FLOAT, 1, TEXT, 768))
                        .steps(1).outputType(OutputType.LATENTS).build();
                long base = VsrChunkStepBenchmark.resetPeak();
                long t0 = System.nanoTime();
                pipeline.interpolateLatents(key, o);
                double s = (System.nanoTime() - t0) / 1e9;
                VsrChunkStepBenchmark.report("interpolation step " + h + "x" + w + " (61 frames)", s, here.total(), base);
                System.out.printf(Locale.ROOT, "# extrapolated to %dx%d by multiply-adds (x%.2f): %.0f s per step, %.1f h for 50 steps%n",
                        REAL_H, REAL_W, real.total() / here.total(), s * real.total() / here.total(), 50 * s * real.total() / here.total() / 3600);
            }
            case "unet" -> {
                int f = args.length > 3 ? Integer.parseInt(args[1]) : 16;
                int h = args.length > 3 ? Integer.parseInt(args[2]) : 16, w = args.length > 3 ? Integer.parseInt(args[3]) : 32;
                MacCount here = MacCount.of(unet, levels, 2, f, h, w, TEXT);
                System.out.println("# multiply-adds per UNet forward at " + f + " frames " + h + "x" + w + ": " + here);
                INDArray x = Nd4j.randn(DataType.FLOAT, 2, 8, f, h, w);
                INDArray ctx = Nd4j.randn(DataType.FLOAT, 2, TEXT, 768);
                long base = VsrChunkStepBenchmark.resetPeak();
                long t0 = System.nanoTime();
                try (Tape off = Grad.disabled()) {
                    unet.forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(500L)), Tensor.of(ctx)).release();
                }
                double s = (System.nanoTime() - t0) / 1e9;
                VsrChunkStepBenchmark.report("interpolation UNet " + f + " frames " + h + "x" + w, s, here.total(), base);
            }
            default -> throw new IllegalArgumentException("mode must be step [h w] or unet [frames h w], got " + mode);
        }
    }
}
