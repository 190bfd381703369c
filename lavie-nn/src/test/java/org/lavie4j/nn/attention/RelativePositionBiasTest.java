package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.lavie4j.core.GradAssert;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class RelativePositionBiasTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    /** base-unet.md §8.2: T[|j − i|] for |j − i| = 0..15. */
    private static final int[] T = {0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11};

    @Test void bucketTableMatchesTheSpec() {
        long[][] table = RelativePositionBias.bucketTable(16, 32, 32);
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                long expected = j <= i ? T[i - j] : 16 + T[j - i];   // past/current keys 0..15, future keys 16..31
                assertEquals(expected, table[i][j], "bucket(j − i) at i=" + i + ", j=" + j);
            }
    }

    @Test void farDistancesFollowTheLogFormulaAndCap() {
        // n = 16 sits exactly on log(2)/log(4)·8 = 4 -> 12 (float32); 31 -> 15; beyond max_distance the cap 15
        assertEquals(12, RelativePositionBias.bucket(-16, 32, 32));
        assertEquals(16 + 12, RelativePositionBias.bucket(16, 32, 32));
        assertEquals(15, RelativePositionBias.bucket(-31, 32, 32));
        assertEquals(15, RelativePositionBias.bucket(-100, 32, 32));
        assertEquals(31, RelativePositionBias.bucket(100, 32, 32));
        int previous = 0;
        for (int n = 0; n < 64; n++) {
            int b = RelativePositionBias.bucket(-n, 32, 32);
            assertTrue(b >= previous && b <= 15, "monotone in distance, n=" + n);
            previous = b;
        }
    }

    @Test void forwardLooksUpTheTablePerHead() {
        RelativePositionBias rel = new RelativePositionBias(3);
        assertEquals(List.of("relative_attention_bias.weight"), List.copyOf(rel.stateDict().keys()));
        assertArrayEquals(new long[]{32, 3}, rel.weight().shape());
        INDArray w = rel.weight().data();
        INDArray bias = rel.forward(5).data();
        assertArrayEquals(new long[]{3, 5, 5}, bias.shape());
        long[][] table = RelativePositionBias.bucketTable(5, 32, 32);
        for (int h = 0; h < 3; h++)
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 5; j++) assertEquals(w.getFloat(table[i][j], h), bias.getFloat(h, i, j), 0f);
    }

    @Test void gradientCheckOfTheTable() {
        RelativePositionBias rel = new RelativePositionBias(2);
        rel.to(DataType.DOUBLE);
        GradAssert.assertParameterGradients("RelativePositionBias (weight)", () -> rel.forward(6), rel.weight());
    }

    @Test void badArgumentsAreNamed() {
        RelativePositionBias rel = new RelativePositionBias(2);
        var e = assertThrows(IllegalArgumentException.class, () -> rel.forward(0));
        assertTrue(e.getMessage().contains("0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new RelativePositionBias(0));
        assertThrows(IllegalArgumentException.class, () -> new RelativePositionBias(2, 31, 32));
    }
}
