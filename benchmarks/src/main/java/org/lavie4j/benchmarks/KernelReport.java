package org.lavie4j.benchmarks;

import org.lavie4j.benchmarks.KernelShapes.Kernel;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/**
 * Runs {@link KernelBenchmark} through JMH and prints a table: kernel, shape, time, GFLOP/s (GB/s for GroupNorm) and
 * the fraction of the FP32 peak used (printed; {@code -Dlavie.peakGflops}, default
 * {@value KernelShapes#DEFAULT_PEAK_GFLOPS}), with the load average before and after (the machine is shared).
 * <pre>
 * OPENBLAS_CORETYPE=SkylakeX java -cp benchmarks.jar org.lavie4j.benchmarks.KernelReport [KERNEL...]
 *     [--frames 16] [--warmup 2] [--iterations 3]
 * </pre>
 * KERNEL: any of {@link Kernel} (e.g. CONV320 TRANSFORMER); none = all.
 */
public final class KernelReport {
    private KernelReport() {}

    public static void main(String[] args) throws RunnerException {
        List<String> kernels = new ArrayList<>();
        int frames = KernelShapes.FRAMES, warmup = 2, iterations = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--frames" -> frames = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                default -> kernels.add(Kernel.valueOf(args[i].toUpperCase(Locale.ROOT)).name());
            }
        }
        if (kernels.isEmpty()) for (Kernel k : Kernel.values()) kernels.add(k.name());
        double peak = KernelShapes.peakGflops();
        String loadBefore = loadAverage();
        ChainedOptionsBuilder opt = new OptionsBuilder()
                .include(KernelBenchmark.class.getSimpleName())
                .param("kernel", kernels.toArray(new String[0]))
                .param("frames", Integer.toString(frames))
                .warmupIterations(warmup)
                .measurementIterations(iterations)
                .forks(1)
                // these replace the benchmark's @Fork arguments: the Vector API module (the fused attention and Winograd
                // kernels) again, and lavie.attention.kernel / lavie.conv.kernel / lavie.elementwise.kernel=nd4j passed on to
                // compare with ND4J's ops (lavie.conv.winogradTile=2|4 to compare the Winograd tiles)
                .jvmArgsAppend("--add-modules", "jdk.incubator.vector", "-Dlavie.peakGflops=" + peak,
                        "-Dlavie.attention.kernel=" + System.getProperty("lavie.attention.kernel", "vector"),
                        "-Dlavie.conv.kernel=" + System.getProperty("lavie.conv.kernel", "winograd"),
                        "-Dlavie.conv.winogradTile=" + System.getProperty("lavie.conv.winogradTile", "auto"),
                        "-Dlavie.elementwise.kernel=" + System.getProperty("lavie.elementwise.kernel", "vector"));
        Collection<RunResult> results = new Runner(opt.build()).run();

        System.out.printf(Locale.ROOT, "%n# KernelReport %s; java %s; peak %.0f GFLOPS (FP32, %s); load average before %s, after %s%n",
                Instant.now(), System.getProperty("java.version"), peak, KernelShapes.peakSource(), loadBefore, loadAverage());
        System.out.printf(Locale.ROOT, "%-20s | %-48s | %12s | %10s | %s%n", "kernel", "shape", "time (s)", "GMAC", "rate");
        for (RunResult r : results) {
            Kernel k = Kernel.valueOf(r.getParams().getParam("kernel"));
            int f = Integer.parseInt(r.getParams().getParam("frames"));
            double seconds = r.getPrimaryResult().getScore() / 1e3;   // OutputTimeUnit: ms
            double err = r.getPrimaryResult().getScoreError() / 1e3;
            System.out.printf(Locale.ROOT, "%-20s | %-48s | %6.3f ± %.3f | %10.2f | %s%n", k, k.shape() + (f == KernelShapes.FRAMES ? "" : " (" + f + " frames)"),
                    seconds, Double.isNaN(err) ? 0 : err, k.macs(f) / 1e9, k.rate(f, seconds, peak));
        }
        if (!"nd4j".equals(System.getProperty("lavie.conv.kernel")) && kernels.stream().anyMatch(k -> k.startsWith("CONV")))
            System.out.println("# CONV rates count the direct convolution's multiply-adds; the Winograd F(2x2, 3x3) kernel executes 1/2.25 of them"
                    + " (-Dlavie.conv.kernel=nd4j runs ND4J's direct convolution)");
    }

    static String loadAverage() {
        try {
            String[] p = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return p[0] + " " + p[1] + " " + p[2];
        } catch (IOException | RuntimeException e) {
            return "n/a";
        }
    }
}
