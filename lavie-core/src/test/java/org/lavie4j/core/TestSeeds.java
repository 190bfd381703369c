package org.lavie4j.core;

import org.nd4j.linalg.factory.Nd4j;

/**
 * Test helper: seeds both generators a test's modules and inputs draw from, ND4J's global one and {@link Init}'s
 * weight stream (which starts from a random seed unless told), so a test builds the same weights in every run.
 */
public final class TestSeeds {
    private TestSeeds() {}

    public static void seed(long seed) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
    }
}
