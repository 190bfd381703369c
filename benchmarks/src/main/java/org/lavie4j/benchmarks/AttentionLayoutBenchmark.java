package org.lavie4j.benchmarks;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Tensor;
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
import org.openjdk.jmh.annotations.Warmup;

import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The fused attention kernel's two layouts on the attention products of a LaVie base forward (16 frames × 8 heads,
 * float32, no projections, no gradient), each in a fork of its own because the layout is read once per JVM:
 * {@link #transposed} (Sᵀ = K·Qᵀ, the softmax down columns, Oᵀ = Vᵀ·Pᵀ; the default for problems without a bias on
 * AVX-512) against {@link #rows} ({@code -Dlavie.attention.layout=rows}, the layout of biased problems and of AVX2).
 * On a CPU without AVX-512 both forks run the row layout: the setup line prints the backend, whose
 * {@code attention=vector-api(…)} names the layout in use, and the multiply-adds of one call (QKᵀ and PV): GFLOP/s =
 * 2 · MAC / time.
 * <pre>
 * OPENBLAS_CORETYPE=SkylakeX java -jar benchmarks.jar AttentionLayoutBenchmark [-p problem=SPATIAL_L0]
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 5)
public class AttentionLayoutBenchmark {
    /** (queries, keys, head size) of one frame's head. */
    public enum Problem {
        /** Spatial self-attention at 40 × 64 latents, heads of 40. */
        SPATIAL_L0(2560, 2560, 40),
        /** Spatial self-attention at 20 × 32, heads of 80. */
        SPATIAL_L1(640, 640, 80),
        /** Text cross-attention at 40 × 64: 77 keys. */
        CROSS_L0(2560, 77, 40);

        final int queries, keys, head;

        Problem(int queries, int keys, int head) {
            this.queries = queries;
            this.keys = keys;
            this.head = head;
        }

        double macs() { return 2.0 * FRAMES * HEADS * queries * keys * head; }
    }

    static final int FRAMES = 16, HEADS = 8;

    @Param({"SPATIAL_L0", "SPATIAL_L1", "CROSS_L0"})
    public Problem problem;

    private Tensor q, k, v;
    private double scale;

    @Setup(Level.Trial)
    public void setUp() {
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(20261128);
        q = Tensor.of(Nd4j.randn(DataType.FLOAT, FRAMES, HEADS, problem.queries, problem.head));
        k = Tensor.of(Nd4j.randn(DataType.FLOAT, FRAMES, HEADS, problem.keys, problem.head));
        v = Tensor.of(Nd4j.randn(DataType.FLOAT, FRAMES, HEADS, problem.keys, problem.head));
        scale = 1 / Math.sqrt(problem.head);
        System.out.println("\n# backend: " + Lavie4j.describeBackend());
        System.out.printf(Locale.ROOT, "# %s: %d frames x %d heads, %d queries, %d keys, heads of %d; %.2f GMAC per call%n",
                problem, FRAMES, HEADS, problem.queries, problem.keys, problem.head, problem.macs() / 1e9);
    }

    private double run() {
        Tensor o = Attention.scaledDotProduct(q, k, v, null, scale);
        double first = o.data().getDouble(0);
        o.release();
        return first;
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g", "-Dlavie.attention.layout=transposed"})
    public double transposed() { return run(); }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g", "-Dlavie.attention.layout=rows"})
    public double rows() { return run(); }
}
