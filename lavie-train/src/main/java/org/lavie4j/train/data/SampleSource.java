package org.lavie4j.train.data;

/**
 * An endless, deterministic stream of training samples. Given the same construction arguments (data, seed), the
 * sequence of samples is always the same, and {@link #position()} / {@link #seek(long)} let a resumed run continue
 * exactly where a checkpoint left off (bit-exact resume): after {@code seek(p)} the source returns what it returned
 * after {@code p} samples in the original run. Implementations may prefetch on worker threads, but must hand samples
 * out in that fixed order. Unreadable items are skipped (logged and counted in {@link #skipped()}), never fatal.
 */
public interface SampleSource extends AutoCloseable {
    /** The next sample (blocks while it is being prepared). */
    TrainingSample next();

    /** Number of samples handed out so far (the position to store in a checkpoint). */
    long position();

    /** Continues as if {@code position} samples had been handed out. */
    void seek(long position);

    /** Items skipped so far because they could not be read. */
    default long skipped() { return 0; }

    @Override
    default void close() {}
}
