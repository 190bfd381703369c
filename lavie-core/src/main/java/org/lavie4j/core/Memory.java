package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Freeing ND4J native memory at once instead of waiting for the garbage collector.
 *
 * <p>Measured on ND4J 1.0.0-M2.1 (CPU): {@code INDArray.close()} on the result of an op (dup, add, mul, ...) does
 * <em>not</em> return its buffer (resident memory grows by the array's size per call), while closing the array's
 * {@code DataBuffer} does. {@link #free} closes the buffer. Only free arrays you own outright: a reshape or permute
 * of an array shares its buffer, so freeing it frees the array; a slice over part of a buffer is left alone.
 */
public final class Memory {
    private Memory() {}

    /** Frees the native buffer of an array the caller owns (null and already-freed arrays are ignored). */
    public static void free(INDArray a) {
        if (a == null || a.wasClosed()) return;
        DataBuffer d = a.data();
        if (d.closeable()) {
            d.close();
            return;
        }
        // a view's buffer wraps its parent's: a view over the whole parent (a reshape) frees it, a slice does not
        DataBuffer parent = d.originalDataBuffer();
        if (parent != null && a.offset() == 0 && a.length() == parent.length() && parent.closeable() && !parent.wasClosed())
            parent.close();
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
