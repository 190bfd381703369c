package org.lavie4j.benchmarks;

import org.junit.jupiter.api.Test;
import org.lavie4j.benchmarks.KernelShapes.Kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The multiply-adds and bytes of the kernel benchmarks, written out by hand from LaVie base's shapes. */
class KernelShapesTest {
    private static final double EXACT = 0;

    @Test
    void convolutionsAtTheThreeLevels() {
        // batch 32 = 2 × 16 frames; outC·inC·3·3 per output position
        assertEquals(32.0 * 40 * 64 * 320 * 320 * 9, Kernel.CONV320.macs(16), EXACT);
        assertEquals(75_497_472_000.0, Kernel.CONV320.macs(16), EXACT);
        assertEquals(32.0 * 20 * 32 * 640 * 640 * 9, Kernel.CONV640.macs(16), EXACT);
        assertEquals(32.0 * 10 * 16 * 1280 * 1280 * 9, Kernel.CONV1280.macs(16), EXACT);
        // halving the resolution and doubling the channels keeps the work: the three levels are equal
        assertEquals(Kernel.CONV320.macs(16), Kernel.CONV640.macs(16), EXACT);
        assertEquals(Kernel.CONV320.macs(16), Kernel.CONV1280.macs(16), EXACT);
        assertEquals(8.0 * 40 * 64 * 320 * 320 * 9, Kernel.CONV320.macs(4), EXACT);
    }

    @Test
    void spatialSelfAttention() {
        double projections = 4.0 * 32 * 2560 * 320 * 320;                 // to_q, to_k, to_v, to_out over 32·2560 tokens
        double products = 2.0 * 32 * 8 * 2560 * 2560 * 40;                 // QKᵀ and PV, 8 heads of 40
        assertEquals(projections + products, Kernel.SPATIAL_ATTENTION.macs(16), EXACT);
        assertEquals(134_217_728_000.0, products, EXACT);
    }

    @Test
    void crossAttention() {
        double q = 32.0 * 2560 * 320 * 320, kv = 2 * 32.0 * 77 * 768 * 320, out = 32.0 * 2560 * 320 * 320;
        double products = 2.0 * 32 * 8 * 2560 * 77 * 40;
        assertEquals(q + kv + out + products, Kernel.CROSS_ATTENTION.macs(16), EXACT);
    }

    @Test
    void temporalAttention() {
        // 2 · 2560 = 5120 positions, each attending over its 16 frames
        double projections = 4.0 * 5120 * 16 * 320 * 320;
        double products = 2.0 * 5120 * 8 * 16 * 16 * 40;
        assertEquals(projections + products, Kernel.TEMPORAL_ATTENTION.macs(16), EXACT);
    }

    @Test
    void transformerIsItsParts() {
        double tokens = 32.0 * 2560;
        double projInOut = 2 * tokens * 320 * 320;
        double feedForward = tokens * 320 * 2560 + tokens * 1280 * 320;     // GEGLU proj 320 -> 2·1280, net.2 1280 -> 320
        double expected = projInOut + Kernel.SPATIAL_ATTENTION.macs(16) + Kernel.CROSS_ATTENTION.macs(16)
                + Kernel.TEMPORAL_ATTENTION.macs(16) + feedForward;
        assertEquals(expected, Kernel.TRANSFORMER.macs(16), EXACT);
    }

    @Test
    void groupNormMovesItsInputAndOutputOnce() {
        long elements = 2L * 320 * 16 * 40 * 64;
        assertEquals(2.0 * elements * 4, Kernel.GROUP_NORM.bytes(16), EXACT);
        assertEquals(0, Kernel.GROUP_NORM.macs(16), EXACT);
        assertEquals(0, Kernel.CONV320.bytes(16), EXACT);
    }

    @Test
    void rateIsTwoFlopsPerMultiplyAdd() {
        // 75.497472 GMAC in 1 s = 150.994944 GFLOP/s, 45.8% of 330
        assertEquals("151.0 GFLOP/s (45.8% of 330)", Kernel.CONV320.rate(16, 1.0, 330));
        assertEquals("2.1 GB/s", Kernel.GROUP_NORM.rate(16, 0.1, 330));
    }

    @Test
    void peakIsMeasuredUnlessGiven() {
        String old = System.getProperty("lavie.peakGflops");
        try {
            System.clearProperty("lavie.peakGflops");
            double measured = KernelShapes.peakGflops();
            assertTrue(measured > 0 && Double.isFinite(measured), "measured " + measured);
            assertTrue(KernelShapes.peakSource().startsWith("measured: FMA loop, "), KernelShapes.peakSource());
            assertEquals(measured, KernelShapes.peakGflops(), EXACT, "measured once per JVM");
            System.setProperty("lavie.peakGflops", "500");
            assertEquals(500.0, KernelShapes.peakGflops(), EXACT);
            assertEquals("-Dlavie.peakGflops", KernelShapes.peakSource());
            System.setProperty("lavie.peakGflops", "fast");
            assertThrows(IllegalArgumentException.class, KernelShapes::peakGflops);
        } finally {
            if (old == null) System.clearProperty("lavie.peakGflops");
            else System.setProperty("lavie.peakGflops", old);
        }
    }
}
