package org.lavie4j.core;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.common.util.ArrayUtil;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.ref.Cleaner;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Arrays;

/**
 * Freeing ND4J native memory at once instead of waiting for the garbage collector.
 *
 * <p>Measured on ND4J 1.0.0-M2.1 (CPU): {@code INDArray.close()} on the result of an op (dup, add, mul, ...) does
 * <em>not</em> return its buffer (resident memory grows by the array's size per call), while closing the array's
 * {@code DataBuffer} does. {@link #free} closes the buffer. Only free arrays you own outright: a reshape or permute
 * of an array shares its buffer, so freeing it frees the array; a slice over part of a buffer is left alone.
 *
 * <p>{@link #uninitialized} allocates float arrays without ND4J's allocator, which writes every byte of a new buffer on
 * the calling thread even for {@code Nd4j.createUninitialized} (measured on ND4J 1.0.0-M2.1 with tcmalloc: 50 ms for a
 * 400 MB buffer, the same again for a buffer of the size just freed, against 0.05-0.6 ms for the same bytes from
 * {@code malloc}); a UNet forward allocates tens of gigabytes of activations, so the ops that write all of their output
 * take it from here.
 */
public final class Memory {
    private Memory() {}

    private static final Cleaner CLEANER = Cleaner.create();
    /** The {@link #uninitialized} buffers not yet given back: address -> bytes. */
    private static final Map<Long, Long> LIVE = new ConcurrentHashMap<>();

    /** Bytes held by arrays from {@link #uninitialized} that were neither freed nor collected yet. */
    public static long uninitializedBytes() {
        long total = 0;
        for (long bytes : LIVE.values()) total += bytes;
        return total;
    }

    /** Whether the {@link #uninitialized} buffer at this address is still held (neither freed nor collected). */
    static boolean holds(long address) { return LIVE.containsKey(address); }

    /**
     * A c-order array of the given type and shape whose elements are not initialised: the caller writes every element
     * before reading any. Float arrays take their memory from {@code malloc} (not from ND4J's allocator, see above) and
     * give it back at {@link #free} or, failing that, when the garbage collector finds the buffer unreachable; other
     * types come from {@code Nd4j.createUninitialized}.
     */
    public static INDArray uninitialized(DataType type, long... shape) {
        return uninitialized(type, shape, 'c');
    }

    /** {@link #uninitialized(DataType, long...)} in the given order ('c' or 'f'). */
    public static INDArray uninitialized(DataType type, long[] shape, char order) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        if (type != DataType.FLOAT || n == 0) return Nd4j.createUninitialized(type, shape, order);
        Owned floats = Owned.allocate(n);
        DataBuffer buffer = Nd4j.createBuffer(floats, DataType.FLOAT, n, FloatIndexer.create(floats));
        LIVE.put(floats.address(), n * Float.BYTES);
        floats.cleanable = CLEANER.register(buffer, new Release(floats.address()));
        long[] s = shape.clone();
        return Nd4j.create(buffer, s, order == 'f' ? ArrayUtil.calcStridesFortran(s) : ArrayUtil.calcStrides(s), 0, order);
    }

    /** The floats of one {@link #uninitialized} buffer; freed once, by {@link #free} or by the cleaner. */
    private static final class Owned extends FloatPointer {
        Cleaner.Cleanable cleanable;

        private Owned(Pointer raw, long n) {
            super(raw);
            capacity(n);
            limit(n);
        }

        static Owned allocate(long n) {
            Pointer raw = Pointer.malloc(Math.multiplyExact(n, (long) Float.BYTES));
            if (raw == null || raw.isNull())
                throw new OutOfMemoryError("malloc of " + n + " floats (" + (n * Float.BYTES >> 20) + " MiB) failed");
            return new Owned(raw, n);
        }
    }

    /** Frees an address from {@code malloc}; holds no reference to the buffer, so the cleaner can run. */
    private record Release(long address) implements Runnable {
        @Override public void run() {
            LIVE.remove(address);                               // before the free: malloc may hand the address out again
            Pointer.free(new Pointer() { { address = Release.this.address; } });
        }
    }

    /** Frees the native buffer of an array the caller owns (null and already-freed arrays are ignored). */
    public static void free(INDArray a) {
        if (a == null || a.wasClosed()) return;
        DataBuffer d = a.data();
        if (d.closeable()) {
            release(d);
            return;
        }
        // a view's buffer wraps its parent's: a view over the whole parent (a reshape) frees it, a slice does not
        DataBuffer parent = d.originalDataBuffer();
        if (parent != null && a.offset() == 0 && a.length() == parent.length() && parent.closeable() && !parent.wasClosed())
            release(parent);
    }

    /** Closes a buffer, and gives its memory back where it came from {@link #uninitialized}. */
    private static void release(DataBuffer d) {
        Pointer p = d.pointer();                                 // before the close, after which the buffer refuses it
        d.close();
        if (p instanceof Owned owned && owned.cleanable != null) owned.cleanable.clean();
    }

    /** Frees several arrays (see {@link #free(INDArray)}). */
    public static void free(INDArray... arrays) {
        for (INDArray a : arrays) free(a);
    }

    /**
     * Keeps a loop of repeated steps (denoising, training) from growing the process's memory step after step.
     *
     * <p>Measured on ND4J 1.0.0-M2.1: freeing a buffer below glibc's mmap threshold ({@code MALLOC_MMAP_THRESHOLD_}, 4 MiB
     * in the launcher) does not give its memory back at once; it comes back when the garbage collector has collected
     * the array's Java objects. A sampling loop whose tensors are all freed explicitly still grew by ~175 MB per
     * step (full-size base UNet at 4 frames of 16 x 16 latents, 30 steps: 4.6 -> 9.7 GB resident; JavaCPP's own bound,
     * {@code maxphysicalbytes}, only collects near 80-90% of RAM). The guard takes the resident size after the first
     * step as the baseline and runs the collector after any later step that ends more than {@code headroom} above it,
     * which measured flat (a collection costs tens of milliseconds against a step's seconds).
     */
    public static final class StepGuard {
        /** Default headroom: the larger of 256 MiB and 10% of the baseline. */
        public static final long MIN_HEADROOM = 256L << 20;

        private final long headroom;
        private long baseline = -1;
        private int collections;

        /** A guard with the default headroom. */
        public StepGuard() { this(-1); }

        /** @param headroomBytes growth above the first step's resident size that triggers a collection; < 0 for the default */
        public StepGuard(long headroomBytes) { this.headroom = headroomBytes; }

        /** Call after every step. Returns true when it ran the collector. */
        public boolean afterStep() {
            long rss = org.bytedeco.javacpp.Pointer.physicalBytes();
            if (baseline < 0) {
                baseline = rss;
                return false;
            }
            long limit = baseline + (headroom >= 0 ? headroom : Math.max(MIN_HEADROOM, baseline / 10));
            if (rss <= limit) return false;
            System.gc();
            collections++;
            return true;
        }

        /** How many collections this guard has run. */
        public int collections() { return collections; }

        /** The resident size after the first step, or -1 before it. */
        public long baselineBytes() { return baseline; }
    }
}
