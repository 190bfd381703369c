package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.*;

/** Seeded initial weights ({@link Init}): the same seed gives the same arrays, with the right distributions. */
class InitTest {
    @Test void aSeedRepeatsTheWholeStream() {
        Init.seed(42);
        INDArray u1 = Init.uniform(0.1, 64, 33), n1 = Init.normal(0.02, 1000);
        Init.seed(42);
        INDArray u2 = Init.uniform(0.1, 64, 33), n2 = Init.normal(0.02, 1000);
        assertEquals(u1, u2);
        assertEquals(n1, n2);
        Init.seed(43);
        assertNotEquals(u1, Init.uniform(0.1, 64, 33));
    }

    @Test void distributions() {
        Init.seed(7);
        INDArray u = Init.uniform(0.25, 200_000), n = Init.normal(0.02, 200_000);
        assertEquals(DataType.FLOAT, u.dataType());
        assertEquals(DataType.FLOAT, n.dataType());
        assertTrue(u.minNumber().doubleValue() >= -0.25 && u.maxNumber().doubleValue() <= 0.25);
        assertEquals(0, u.meanNumber().doubleValue(), 0.002);
        assertEquals(0.25 / Math.sqrt(3), u.stdNumber().doubleValue(), 0.002);                 // U(-b, b): std b/√3
        assertEquals(0, n.meanNumber().doubleValue(), 3e-4);
        assertEquals(0.02, n.stdNumber().doubleValue(), 3e-4);
    }
}
