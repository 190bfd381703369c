package org.lavie4j.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The machine's FP32 peak, measured with an FMA loop ({@link FmaLoop}) in a child JVM.
 *
 * <p>The loop uses Java's Vector API, an incubator module in Java 17-25 that a plain {@code java -jar benchmarks.jar}
 * does not load (and this class must not touch it: it runs in any JVM). {@link #measure} starts the same java with
 * {@code --add-modules jdk.incubator.vector} on the same class path, so any launcher gets a measured figure.
 */
public final class PeakFlops {
    private PeakFlops() {}

    /** The measured peak in GFLOPS with {@code threads} threads, or throws with the child JVM's complaint. */
    public static double measure(int threads) throws IOException {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), "org.lavie4j.benchmarks.FmaLoop", Integer.toString(threads)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IOException("the FMA loop did not finish in 2 minutes");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while measuring the FMA peak", e);
        }
        for (String line : out.split("\n"))
            if (line.startsWith("peak_gflops=") && p.exitValue() == 0) return Double.parseDouble(line.substring("peak_gflops=".length()).trim());
        throw new IOException("the FMA loop's JVM exited with " + p.exitValue() + ": " + out.strip());
    }

}
