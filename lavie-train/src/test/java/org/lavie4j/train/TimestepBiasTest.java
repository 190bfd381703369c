package org.lavie4j.train;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** {@link TimestepBias}: diffusers' timestep weights, uniform draws unchanged, biased draws at the weights' rates. */
class TimestepBiasTest {
    private static TimestepBias bias(TimestepBias.Strategy s, double multiplier, double portion, int begin, int end) {
        return new TimestepBias(s, multiplier, portion, begin, end);
    }

    @Test void weightsAreDiffusers() {
        double[] later = bias(TimestepBias.Strategy.LATER, 2, 0.25, 0, 1000).weights(1000);
        assertEquals(1.0 / 1250, later[0], 1e-15);
        assertEquals(1.0 / 1250, later[749], 1e-15);
        assertEquals(2.0 / 1250, later[750], 1e-15, "the last 250 timesteps weigh double");
        assertEquals(2.0 / 1250, later[999], 1e-15);
        double[] earlier = bias(TimestepBias.Strategy.EARLIER, 0.5, 0.1, 0, 1000).weights(1000);
        assertEquals(0.5 / 950, earlier[99], 1e-15);
        assertEquals(1.0 / 950, earlier[100], 1e-15);
        double[] range = bias(TimestepBias.Strategy.RANGE, 3, 0.25, 700, 1000).weights(1000);
        assertEquals(1.0 / 1600, range[699], 1e-15);
        assertEquals(3.0 / 1600, range[700], 1e-15);
        for (double[] w : new double[][]{later, earlier, range, TimestepBias.none().weights(1000)}) {
            double sum = 0;
            for (double v : w) sum += v;
            assertEquals(1.0, sum, 1e-12);
        }
    }

    @Test void uniformDrawsAreExactlyTheUnbiasedOnes() {
        for (TimestepBias b : new TimestepBias[]{TimestepBias.none(), bias(TimestepBias.Strategy.LATER, 1, 0.5, 0, 1000)}) {
            assertTrue(b.uniform());
            long[] got = b.draw(new SplittableRandom(7), 1000, 64).toLongVector();
            assertArrayEquals(StepRandom.randint(new SplittableRandom(7), 1000, 64).toLongVector(), got, b.toString());
        }
    }

    @Test void biasedDrawsFollowTheWeights() {
        TimestepBias b = bias(TimestepBias.Strategy.RANGE, 4, 0.25, 800, 1000);
        assertFalse(b.uniform());
        int n = 40_000;
        long[] t = b.draw(new SplittableRandom(3), 1000, n).toLongVector();
        int inRange = 0;
        for (long v : t) {
            assertTrue(v >= 0 && v < 1000, "timestep " + v);
            if (v >= 800) inRange++;
        }
        // P(t in [800, 1000)) = 4·200 / (800 + 4·200) = 0.5; the binomial's standard deviation at 40,000 draws is 0.0025
        assertEquals(0.5, inRange / (double) n, 0.01, inRange + " of " + n);
        assertArrayEquals(t, b.draw(new SplittableRandom(3), 1000, n).toLongVector(), "the same generator, the same draws");
        // the extremes are reachable
        long min = Long.MAX_VALUE, max = Long.MIN_VALUE;
        for (long v : t) { min = Math.min(min, v); max = Math.max(max, v); }
        assertEquals(0, min, 3);
        assertEquals(999, max, 3);
    }

    @Test void badSettingsAreNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> bias(TimestepBias.Strategy.RANGE, 2, 0.25, 900, 1200).weights(1000));
        assertTrue(e.getMessage().contains("'timestep_bias.end' must be at most the schedule's 1000 timesteps, got 1200"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> bias(TimestepBias.Strategy.LATER, 2, 0.0005, 0, 1000).weights(1000));
        assertTrue(e.getMessage().contains("biases none of them"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> bias(TimestepBias.Strategy.LATER, Double.NaN, 0.25, 0, 1000));
        assertTrue(e.getMessage().contains("'timestep_bias.multiplier' must be a number > 0"), e.getMessage());
    }
}
