package org.lavie4j.core;

import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * What the hand-written CPU kernels ({@code VectorAttention}, {@code WinogradConv}) share: whether the Vector API is
 * there, and a range of independent work items split over Java threads (the calling thread takes the first share, a
 * shared pool of daemon threads the others).
 */
final class Kernels {
    private Kernels() {}

    /**
     * Whether the Java runtime resolved the Vector API module (the launcher, the tests and the benchmarks add
     * {@code --add-modules jdk.incubator.vector}); the kernels are only loaded when it did.
     */
    static final boolean VECTOR_API = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    /**
     * Floats per vector of the kernels ({@link VectorWidth}: 16 on AVX-512, else 8), and 8 without the Vector API: the
     * partial sums of the kernels' scalar twins ({@code Fused.sumOf}) follow it.
     */
    static final int LANES = VECTOR_API ? VectorWidth.LANES : 8;

    /** A gather's index map over {@code lanes} lanes, elements {@code stride} apart: lane i at i·stride. */
    static int[] laneOffsets(int lanes, int stride) {
        int[] offsets = new int[lanes];
        for (int i = 0; i < lanes; i++) offsets[i] = i * stride;
        return offsets;
    }

    /**
     * Whether the kernels can address x as one run of floats from its buffer pointer (a view's pointer starts at its
     * first element): float32, c-order with default strides, under 2³¹ elements.
     */
    static boolean denseFloat(INDArray x) {
        return x.dataType() == DataType.FLOAT && x.ordering() == 'c' && Shape.hasDefaultStridesForShape(x)
                && x.length() < Integer.MAX_VALUE;
    }

    /** One past the largest element index of the view x, counted from its first element. */
    static long extent(INDArray x) {
        long last = 0;
        for (int i = 0; i < x.rank(); i++) last += (x.size(i) - 1) * Math.abs(x.stride(i));
        return last + 1;
    }

    /**
     * The floats of the view x (float32, {@link #extent} within int indices) as a buffer that starts at its first
     * element (a view's pointer does) and ends after its last, for bulk reads without JNI calls: element (i₀, …) is at
     * Σ i_k·stride_k.
     */
    static FloatBuffer viewBuffer(INDArray x) {
        FloatPointer p = new FloatPointer(x.data().addressPointer());
        p.position(0).limit(extent(x));
        return p.asBuffer();
    }

    /** Threads for the kernels: ND4J's (OMP_NUM_THREADS, else the cores). */
    static int threads() { return Math.max(1, Nd4j.getEnvironment().maxThreads()); }

    /** Work on items [i0, i1), in order, on the calling thread. */
    @FunctionalInterface
    interface Range {
        void run(long i0, long i1);
    }

    /**
     * Runs {@code body} over items [0, items) in at most {@code threads} contiguous shares (one when there are fewer
     * items), and returns when all are done. The first failure is rethrown, {@code what} naming the kernel.
     */
    static void forRange(long items, int threads, String what, Range body) {
        int n = (int) Math.max(1, Math.min(threads, items));
        if (n == 1) {
            body.run(0, items);
            return;
        }
        List<Future<?>> parts = new ArrayList<>(n - 1);
        ExecutorService pool = pool(n - 1);
        for (int t = 1; t < n; t++) {
            long i0 = items * t / n, i1 = items * (t + 1) / n;
            parts.add(pool.submit(() -> body.run(i0, i1)));
        }
        RuntimeException failure = null;
        try {
            body.run(0, items / n);
        } catch (RuntimeException e) {
            failure = e;
        }
        for (Future<?> f : parts) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) failure = new IllegalStateException(what + " failed", e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) failure = new IllegalStateException("interrupted while " + what + " ran", e);
            }
        }
        if (failure != null) throw failure;
    }

    private static ExecutorService pool;
    private static int poolThreads;

    /** A shared pool of at least {@code n} daemon threads (grown, never shrunk, when more are asked for). */
    private static synchronized ExecutorService pool(int n) {
        if (pool == null || poolThreads < n) {
            if (pool != null) pool.shutdown();
            pool = Executors.newFixedThreadPool(n, r -> {
                Thread t = new Thread(r, "lavie-kernels");
                t.setDaemon(true);
                return t;
            });
            poolThreads = n;
        }
        return pool;
    }
}
