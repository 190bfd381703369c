package org.lavie4j.benchmarks;

import org.bytedeco.javacpp.Pointer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Memory figures a benchmark reports: process peak RSS (VmHWM), current RSS and JavaCPP's physical bytes. */
final class ProcessMemory {
    private ProcessMemory() {}

    /** Peak resident set size of this process in bytes (Linux VmHWM), or -1 where unavailable. */
    static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024L;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Current resident set size (Linux VmRSS) in bytes, or -1 where unavailable. */
    static long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024L;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Resets the peak RSS (VmHWM) to the current RSS (Linux {@code clear_refs} 5); false where that is not possible. */
    static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static String describe() {
        return String.format(Locale.ROOT, "peak_rss_gb=%.2f physical_gb=%.2f heap_used_gb=%.2f",
                peakRssBytes() / 1e9, Pointer.physicalBytes() / 1e9,
                (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory()) / 1e9);
    }
}
