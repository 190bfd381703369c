package org.lavie4j.train.data;

/**
 * Seeds derived from a run's seed and a few integers (stream, index, attempt), so that every random choice of the data
 * pipeline is a pure function of where it is made: sample {@code i} is the same whether it is drawn first, after a
 * {@code seek}, or on another worker thread. SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014) mixes each part in.
 */
final class Seeds {
    /** Streams: each use of randomness draws from its own, so adding one never shifts another. */
    static final long VIDEO_ORDER = 1, IMAGE_ORDER = 2, CLIP = 3, IMAGE = 4, AUGMENT = 5, FALLBACK = 6,
            SYNTHETIC_ROUND = 101, SYNTHETIC_CLIP = 102, SYNTHETIC_STILL = 103;

    private Seeds() {}

    /** A 64-bit seed from {@code seed} and {@code parts}. */
    static long mix(long seed, long... parts) {
        long h = stafford(seed ^ 0x9E3779B97F4A7C15L);
        for (long p : parts) h = stafford(h ^ stafford(p + 0x9E3779B97F4A7C15L));
        return h;
    }

    private static long stafford(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
