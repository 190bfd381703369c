package org.lavie4j.train.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class LrScheduleTest {
    @Test void constant() {
        LrSchedule s = LrSchedule.constant(1e-4);
        assertEquals(1e-4, s.lr(0));
        assertEquals(1e-4, s.lr(1_000_000));
    }

    @Test void laviesLinearWarmupOver5000StepsThenConstant() {
        LrSchedule s = LrSchedule.lavie(1e-4);
        assertEquals(0.0, s.lr(0));                           // LambdaLR: the first step uses factor 0/5000
        assertEquals(1e-4 / 5000, s.lr(1), 1e-20);
        assertEquals(0.5e-4, s.lr(2500), 1e-20);
        assertEquals(1e-4 * 4999 / 5000, s.lr(4999), 1e-20);
        assertEquals(1e-4, s.lr(5000));
        assertEquals(1e-4, s.lr(123_456));
        assertEquals(3e-5, LrSchedule.warmupConstant(3e-5, 0).lr(0));
    }

    @Test void cosineWithWarmup() {
        LrSchedule s = LrSchedule.warmupCosine(2e-4, 100, 1100);
        assertEquals(0.0, s.lr(0));
        assertEquals(1e-4, s.lr(50), 1e-20);
        assertEquals(2e-4, s.lr(100), 1e-20);                  // progress 0
        assertEquals(1e-4, s.lr(600), 1e-18);                  // progress 1/2: ½(1 + cos π/2)
        assertEquals(2e-4 * 0.5 * (1 + Math.cos(Math.PI * 0.25)), s.lr(350), 1e-18);
        assertEquals(0.0, s.lr(1100), 1e-20);
        assertEquals(0.0, s.lr(5000), 0.0);                    // stays at 0 past the end
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupCosine(1e-4, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> s.lr(-1));
    }
}
