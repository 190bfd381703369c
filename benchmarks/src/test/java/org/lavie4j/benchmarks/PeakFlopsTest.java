package org.lavie4j.benchmarks;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The FMA loop runs in its child JVM (with the Vector API's module), checks its own arithmetic and reports a figure. */
class PeakFlopsTest {
    @Test
    void theFmaLoopReportsAPeakFromItsOwnJvm() throws Exception {
        double gflops = PeakFlops.measure(1);
        System.out.printf("FMA loop, one thread: %.1f GFLOPS%n", gflops);
        assertTrue(gflops > 0 && Double.isFinite(gflops), "a positive figure, got " + gflops);
        assertThrows(IllegalArgumentException.class, () -> PeakFlops.measure(0));
    }
}
