package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.Tiling;
import org.lavie4j.nn.vae.VaeConfig;
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
 * VAE decode of one frame with random weights, single shot: the SD 1.4 VAE at 320×512 (the base stage's output,
 * latent 40×64, untiled) and the x4-upscaler VAE at 1280×2048 (the VSR stage's output, latent 320×512, tiled with the
 * default 64-latent tiles and 25% overlap; untiled its mid-block attention alone would be ~27 TMAC). Prints time,
 * peak RSS and JavaCPP physical bytes.
 * <pre>java -jar benchmarks/target/benchmarks.jar VaeDecodeBenchmark -p variant=x4_1280x2048_tiled</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 0)
@Measurement(iterations = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g", "-Dorg.bytedeco.javacpp.maxphysicalbytes=20G"})
public class VaeDecodeBenchmark {
    @Param({"sd14_320x512", "x4_1280x2048_tiled"})
    public String variant;

    private AutoencoderKL vae;
    private INDArray latent;
    private Tiling tiling;

    @Setup(Level.Trial)
    public void setUp() {
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        boolean x4 = variant.startsWith("x4");
        VaeConfig config = x4 ? VaeConfig.x4Upscaler() : VaeConfig.sd14();
        vae = new AutoencoderKL(config);
        vae.eval();
        latent = x4 ? Nd4j.randn(DataType.FLOAT, 1, 4, 320, 512) : Nd4j.randn(DataType.FLOAT, 1, 4, 40, 64);
        tiling = x4 ? Tiling.defaults(config) : null;
        System.out.println("\n# backend: " + Lavie4j.describeBackend());
        System.out.println("# " + variant + ": parameters " + vae.parameterCount() + (tiling == null ? "" : ", " + tiling)
                + "; after setup " + ProcessMemory.describe());
    }

    @Benchmark
    public INDArray decode() {
        try (Tape off = Grad.disabled()) {
            Tensor z = Tensor.of(latent);
            return (tiling == null ? vae.decode(z) : vae.decodeTiled(z, tiling)).data();
        }
    }

    @TearDown(Level.Trial)
    public void report() {
        System.out.println("\n# after decode: " + ProcessMemory.describe());
    }
}
