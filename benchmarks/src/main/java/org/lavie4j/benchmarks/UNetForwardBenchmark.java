package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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

import java.util.concurrent.TimeUnit;

/**
 * One forward of the full-size LaVie base UNet ({@link UNetConfig#lavieBase()}, random weights) at the real latent
 * shape: batch × 4 × 16 frames × 40 × 64 (a 320×512 video; batch 2 = classifier-free guidance). About 4 TMAC per
 * sample, i.e. minutes on a 2-core machine: single-shot, one iteration. Prints time, peak RSS and JavaCPP physical
 * bytes after the run.
 * <pre>java -jar benchmarks/target/benchmarks.jar UNetForwardBenchmark -p batch=1</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 0)
@Measurement(iterations = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g", "-Dorg.bytedeco.javacpp.maxphysicalbytes=22G"})
public class UNetForwardBenchmark {
    @Param({"1", "2"})
    public int batch;

    @Param({"16"})
    public int frames;

    private UNet3DConditionModel unet;
    private INDArray sample, timestep, context;

    @Setup(Level.Trial)
    public void setUp() {
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        unet = new UNet3DConditionModel(UNetConfig.lavieBase());
        unet.eval();
        sample = Nd4j.randn(DataType.FLOAT, batch, 4, frames, 40, 64);
        timestep = Nd4j.createFromArray(500L);
        context = Nd4j.randn(DataType.FLOAT, batch, 77, 768);
        System.out.println("\n# backend: " + Lavie4j.describeBackend());
        System.out.println("# parameters: " + unet.parameterCount() + "; after setup " + ProcessMemory.describe());
    }

    @Benchmark
    public INDArray forward() {
        try (Tape off = Grad.disabled()) {
            Tensor out = unet.forward(Tensor.of(sample), Tensor.of(timestep), Tensor.of(context));
            return out.data();
        }
    }

    @TearDown(Level.Trial)
    public void report() {
        System.out.println("\n# after forward: " + ProcessMemory.describe());
    }
}
