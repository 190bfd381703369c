package org.lavie4j.core;

import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One-call native setup for applications that embed lavie4j: call {@link #setup()} (or {@link #setup(Options)})
 * first thing in {@code main}, before any ND4J class is touched.
 *
 * <p>What it does, and why (measured facts in the project's nd4j-notes):
 * <ul>
 *   <li>chooses the JavaCPP platform extension from the CPU flags ({@code -onednn-avx512}, {@code -onednn-avx2},
 *       or the generic build) unless {@code org.bytedeco.javacpp.platform.extension} is already set: the generic
 *       build has no oneDNN and is several times slower;</li>
 *   <li>bounds native memory with {@code org.bytedeco.javacpp.maxphysicalbytes} (default 80% of RAM) unless already
 *       set: ND4J's native buffers are otherwise only freed when the GC happens to run;</li>
 *   <li>sets the number of compute threads when asked.</li>
 * </ul>
 * It cannot change the process environment: the bundled OpenBLAS reads {@code OPENBLAS_CORETYPE} when it loads and
 * misdetects recent Xeons (5-6x slower matmul). Set it before the JVM starts (the {@code ./lavie} launcher does);
 * {@link #setup()} logs a warning when it is unset on an AVX-512 or AVX2 machine. {@code OPENBLAS_THREAD_TIMEOUT=4}
 * (the launcher's default) sends OpenBLAS's worker threads to sleep right after a product instead of letting them call
 * {@code sched_yield} for ~2^28 cycles on a core that the next op needs (0.94x the UNet forward on two cores).
 * Likewise {@code MALLOC_MMAP_THRESHOLD_=4194304} (glibc) makes freed tensor buffers above 4 MiB leave the resident
 * set at once instead of staying in glibc's cache (full-size UNet forward: 5.5 GB peak instead of 12 GB). Faster
 * still is a caching allocator preloaded into the JVM, {@code LD_PRELOAD=.../libtcmalloc_minimal.so.4} (gperftools;
 * the launcher's default where it is installed): ND4J allocates a fresh buffer for every op result, which glibc maps
 * anew and the kernel zeroes page by page, while tcmalloc reuses freed buffers (full-size UNet forward on two AVX2
 * cores: 91 s instead of 125 s at the same peak memory). {@link #nativeAllocator()} tells which one is in use. ND4J's
 * allocator also writes every byte of each buffer it hands out, on the calling thread, so the library takes its own
 * float results from {@link Memory#uninitialized} (0.885x the forward on two AVX-512 cores).
 *
 * <h2>Thread safety</h2>
 * Model weights ({@code Module}, {@code Parameter}) may be shared by threads that only run inference
 * (forward passes read the weights and allocate their own activations). Gradient recording is per thread (the tape
 * is thread-confined). Training, loading weights into a module and optimizer steps mutate weights: do them from one
 * thread while no other thread runs that module. Pipelines and schedulers hold per-run state: one instance per
 * thread. ND4J's own thread pool parallelises each op; running several inferences at once divides those threads.
 */
public final class Lavie4j {
    private static final Logger LOG = LoggerFactory.getLogger(Lavie4j.class);
    private static final String EXTENSION = "org.bytedeco.javacpp.platform.extension";
    private static final String MAX_PHYSICAL = "org.bytedeco.javacpp.maxphysicalbytes";
    private static volatile boolean done;

    private Lavie4j() {}

    /** Setup options. {@code threads <= 0} keeps ND4J's default (all cores); {@code memoryFraction} of RAM bounds native memory. */
    public record Options(int threads, double memoryFraction) {
        public Options {
            if (memoryFraction <= 0 || memoryFraction > 1)
                throw new IllegalArgumentException("memoryFraction must be in (0, 1], got " + memoryFraction);
        }

        public static Options defaults() { return new Options(0, 0.8); }

        public Options withThreads(int n) { return new Options(n, memoryFraction); }
    }

    /** {@link #setup(Options)} with defaults. Safe to call more than once; only the first call has effect on natives. */
    public static void setup() { setup(Options.defaults()); }

    public static synchronized void setup(Options options) {
        if (!done) {
            Set<String> flags = cpuFlags();
            if (System.getProperty(EXTENSION) == null) {
                String ext = platformExtension(flags);
                if (!ext.isEmpty()) System.setProperty(EXTENSION, ext);
            }
            if (System.getProperty(MAX_PHYSICAL) == null) {
                long total = totalMemoryBytes();
                if (total > 0) System.setProperty(MAX_PHYSICAL, Long.toString((long) (total * options.memoryFraction())));
            }
            String wantCore = openBlasCoreType(flags);
            if (System.getenv("OPENBLAS_CORETYPE") == null && wantCore != null)
                LOG.warn("OPENBLAS_CORETYPE is not set: the bundled OpenBLAS may misdetect this CPU and run matmul 5-6x slower. "
                        + "Start the JVM with OPENBLAS_CORETYPE={} (the ./lavie launcher does this).", wantCore);
            done = true;
        }
        if (options.threads() > 0) setThreads(options.threads());
    }

    /** Sets the number of threads ND4J uses per op. */
    public static void setThreads(int threads) {
        if (threads <= 0) throw new IllegalArgumentException("threads must be positive, got " + threads);
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
    }

    /** The JavaCPP platform extension for these CPU flags: the fastest ND4J build the CPU can run. */
    public static String platformExtension(Set<String> flags) {
        if (flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl")) return "-onednn-avx512";
        if (flags.contains("avx2") && flags.contains("fma")) return "-onednn-avx2";
        return "";
    }

    /** The OpenBLAS core type to force for these flags, or null when OpenBLAS's own detection is fine. */
    public static String openBlasCoreType(Set<String> flags) {
        if (flags.contains("avx512f")) return "SkylakeX";
        if (flags.contains("avx2")) return "Haswell";
        return null;
    }

    /** CPU feature flags from /proc/cpuinfo (empty where unavailable). */
    public static Set<String> cpuFlags() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    int colon = line.indexOf(':');
                    return new HashSet<>(Arrays.asList(line.substring(colon + 1).trim().split("\\s+")));
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("cannot read /proc/cpuinfo: {}", e.toString());
        }
        return Set.of();
    }

    private static long totalMemoryBytes() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/meminfo"));
            for (String line : lines) {
                if (line.startsWith("MemTotal:")) {
                    String[] parts = line.split("\\s+");
                    return Long.parseLong(parts[1]) * 1024L;
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("cannot read /proc/meminfo: {}", e.toString());
        }
        return -1;
    }

    /** A one-line description of the native build in use (for logs and benchmarks). */
    public static String describeBackend() {
        var env = Nd4j.getExecutioner().getEnvironmentInformation();
        return String.format(Locale.ROOT, "%s, extension=%s, threads=%d, OPENBLAS_CORETYPE=%s, OPENBLAS_THREAD_TIMEOUT=%s, malloc=%s, attention=%s, conv3x3=%s, silu=%s",
                Nd4j.getBackend().getClass().getSimpleName(), System.getProperty(EXTENSION, "(generic)"),
                Nd4j.getEnvironment().maxThreads(), System.getenv().getOrDefault("OPENBLAS_CORETYPE", "(unset)"),
                System.getenv().getOrDefault("OPENBLAS_THREAD_TIMEOUT", "(unset)"),
                nativeAllocator(), Attention.vectorKernel() ? "vector-api(" + (VectorAttention.TRANSPOSED ? "transposed" : "rows") + ")" : "nd4j", NnOps.winogradKernel() ? "winograd(tile=" + WinogradConv.Tile.setting() + ")" : "nd4j",
                Ops.vectorElementwise() ? "vector-api" : "nd4j")
                + (Kernels.VECTOR_API ? ", vector=" + Kernels.LANES * 32 + "-bit" : "")
                + (env.containsKey("blas.vendor") ? ", blas=" + env.get("blas.vendor") : "");
    }

    /**
     * The malloc that native buffers come from: "tcmalloc", "jemalloc" or "mimalloc" when such a library is mapped
     * into this process (preloaded), else "glibc" ("unknown" where {@code /proc/self/maps} cannot be read).
     */
    public static String nativeAllocator() {
        try {
            return allocatorIn(Files.readAllLines(Path.of("/proc/self/maps")));
        } catch (IOException | RuntimeException e) {
            LOG.debug("cannot read /proc/self/maps: {}", e.toString());
            return "unknown";
        }
    }

    private static final List<String> ALLOCATORS = List.of("tcmalloc", "jemalloc", "mimalloc");

    /** The allocator named by the mapped files of a {@code /proc/<pid>/maps} listing (see {@link #nativeAllocator()}). */
    static String allocatorIn(List<String> mapsLines) {
        for (String line : mapsLines) {
            int slash = line.lastIndexOf('/');
            if (slash < 0) continue;
            String file = line.substring(slash + 1);
            for (String name : ALLOCATORS)
                if (file.startsWith("lib" + name)) return name;
        }
        return "glibc";
    }
}
