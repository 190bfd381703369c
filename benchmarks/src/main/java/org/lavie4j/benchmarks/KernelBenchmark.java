package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.benchmarks.KernelShapes.Kernel;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.CrossAttention;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.TemporalAttention;
import org.lavie4j.nn.attention.Transformer3DModel;
import org.lavie4j.nn.layers.GroupNorm;
import org.lavie4j.nn.layers.InflatedConv3d;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The UNet's kernels at LaVie base shapes ({@link KernelShapes}), float32, random weights and inputs, no gradient,
 * each through the module the UNet runs it with: {@code InflatedConv3d} (each frame a 2-D image: the Winograd F(2×2, 3×3)
 * kernel, or with {@code -Dlavie.conv.kernel=nd4j} ND4J's conv2d; GFLOP/s count the direct convolution's multiply-adds),
 * {@code CrossAttention} (spatial self-attention and text cross-attention: the fused Vector API kernel, whose module the
 * fork adds, or with {@code -Dlavie.attention.kernel=nd4j} ND4J's ops in score blocks), {@code TemporalAttention} (RoPE + relative position bias), {@code GroupNorm} over all frames, and a
 * level-0 {@code Transformer3DModel}. Attention times include the to_q/k/v/out projections, and so do their
 * multiply-adds. Each iteration is one call (single shot); after each, the iteration's own wall time is printed with
 * GFLOP/s (2 · MAC / s; GB/s for GroupNorm) and the fraction of the FP32 peak ({@link KernelShapes#peakGflops()}).
 * {@link KernelReport} runs them and prints a table.
 * <pre>
 * OPENBLAS_CORETYPE=SkylakeX java -jar benchmarks.jar KernelBenchmark -p kernel=CONV320
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g", "-Dorg.bytedeco.javacpp.maxphysicalbytes=6G"})
public class KernelBenchmark {
    @Param({"CONV320", "CONV640", "CONV1280", "SPATIAL_ATTENTION", "TEMPORAL_ATTENTION", "CROSS_ATTENTION", "GROUP_NORM", "TRANSFORMER"})
    public Kernel kernel;

    /** Frames per sample (LaVie: 16); the batch is 2 × frames frame images. */
    @Param({"16"})
    public int frames;

    private Supplier<Tensor> call;
    private long iterationStart;

    @Setup(Level.Trial)
    public void setUp() {
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(20261126);
        Init.seed(20261126);
        call = build(kernel, frames);
        System.out.println("\n# backend: " + Lavie4j.describeBackend());
        System.out.printf(Locale.ROOT, "# %s: %s, frames %d; %.2f GMAC per call; peak used %.0f GFLOPS (%s)%n", kernel, kernel.shape(),
                frames, kernel.macs(frames) / 1e9, KernelShapes.peakGflops(), KernelShapes.peakSource());
    }

    /** The module and inputs of {@code kernel}, as a call that runs one forward without gradient. */
    static Supplier<Tensor> build(Kernel kernel, int frames) {
        int b = KernelShapes.BATCH, c = KernelShapes.CHANNELS, h = KernelShapes.H, w = KernelShapes.W;
        int heads = KernelShapes.HEADS, images = b * frames, hw = h * w;
        return switch (kernel) {
            case CONV320, CONV640, CONV1280 -> {
                int level = kernel == Kernel.CONV320 ? 0 : kernel == Kernel.CONV640 ? 1 : 2;
                int ch = c << level;
                InflatedConv3d conv = new InflatedConv3d(ch, ch, 3, 1, 1);
                Tensor x = randn(b, ch, frames, h >> level, w >> level);                // (b, c, f, h, w)
                yield () -> conv.forward(x);
            }
            case SPATIAL_ATTENTION -> {
                CrossAttention attn = CrossAttention.selfAttention(c, heads, c / heads);
                Tensor x = randn(images, hw, c);                                          // (b*f, h*w, c)
                yield () -> attn.forward(x);
            }
            case CROSS_ATTENTION -> {
                CrossAttention attn = new CrossAttention(c, KernelShapes.TEXT_DIM, heads, c / heads);
                Tensor x = randn(images, hw, c);                                          // (b*f, h*w, c)
                Tensor text = randn(images, KernelShapes.TEXT_TOKENS, KernelShapes.TEXT_DIM); // (b*f, 77, 768)
                yield () -> attn.forward(x, text);
            }
            case TEMPORAL_ATTENTION -> {
                TemporalAttention attn = new TemporalAttention(c, heads, new RotaryEmbedding(32));
                Tensor x = randn((long) b * hw, frames, c);                               // (b*h*w, f, c)
                yield () -> attn.forward(x);
            }
            case GROUP_NORM -> {
                GroupNorm norm = new GroupNorm(KernelShapes.GROUPS, c, 1e-5);
                Tensor x = randn(b, c, frames, h, w);                                     // (b, c, f, h, w)
                yield () -> norm.forward(x);
            }
            case TRANSFORMER -> {
                Transformer3DModel t = new Transformer3DModel(heads, c / heads, c, KernelShapes.GROUPS, KernelShapes.TEXT_DIM,
                        new RotaryEmbedding(32));
                Tensor x = randn(b, c, frames, h, w);                                     // (b, c, f, h, w)
                Tensor text = randn(b, KernelShapes.TEXT_TOKENS, KernelShapes.TEXT_DIM);  // (b, 77, 768)
                FrameLayout layout = FrameLayout.video(frames);
                yield () -> t.forward(x, text, layout);
            }
        };
    }

    private static Tensor randn(long... shape) { return Tensor.of(Nd4j.randn(DataType.FLOAT, shape)); }

    @Setup(Level.Iteration)
    public void startIteration() { iterationStart = System.nanoTime(); }

    @Benchmark
    public double forward() {
        try (Tape off = Grad.disabled()) {
            Tensor out = call.get();
            double probe = out.data().getDouble(0);
            out.release();
            return probe;
        }
    }

    @TearDown(Level.Iteration)
    public void endIteration() {
        double s = (System.nanoTime() - iterationStart) / 1e9;
        System.out.printf(Locale.ROOT, "  [%s %.3f s: %s]", kernel, s, kernel.rate(frames, s, KernelShapes.peakGflops()));
    }

    @TearDown(Level.Trial)
    public void report() {
        System.out.println("\n# after " + kernel + ": " + ProcessMemory.describe());
    }
}
