package org.lavie4j.nn.schedulers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** The interpolation stage's guided-diffusion sampler (interpolation-unet.md §4). */
class RespacedDDIMSchedulerTest {
    private static INDArray randn(long seed, long... shape) {
        TestSeeds.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    @Test void fiftyStepsKeepTheSpecsTimesteps() {
        RespacedDDIMScheduler s = new RespacedDDIMScheduler();
        s.setTimesteps(50);
        long[] expected = {0, 20, 41, 61, 82, 102, 122, 143, 163, 183, 204, 224, 245, 265, 285, 306, 326, 347, 367, 387,
                408, 428, 449, 469, 489, 510, 530, 550, 571, 591, 612, 632, 652, 673, 693, 714, 734, 754, 775, 795,
                816, 836, 856, 877, 897, 917, 938, 958, 979, 999};
        assertArrayEquals(expected, s.timestepMap());
        long[] loop = s.timesteps().toLongVector();
        assertEquals(999, loop[0]);
        assertEquals(0, loop[49]);
        assertEquals(DataType.LONG, s.timesteps().dataType());
        // ᾱ' is the float64 cumprod of the respaced betas: equal to the base ᾱ at the kept timesteps up to rounding
        double[] ac = s.alphasCumprod(), prev = s.alphasCumprodPrev();
        assertEquals(1.0, prev[0], 0.0);
        for (int k = 1; k < 50; k++) assertEquals(ac[k - 1], prev[k], 0.0);
        double base999 = 1;
        for (double b : RespacedDDIMScheduler.linspace(1e-4, 0.02, 1000)) base999 *= 1 - b;
        assertEquals(base999, ac[49], 1e-15);
    }

    @Test void spacingStringsAsGuidedDiffusion() {
        // the docstring's example: 300 steps in three sections strided to 10, 15 and 20
        long[] t = RespacedDDIMScheduler.spaceTimesteps(300, "10,15,20");
        assertEquals(45, t.length);
        assertEquals(0, t[0]);
        assertEquals(99, t[9]);
        assertEquals(100, t[10]);
        assertEquals(299, t[44]);
        long[] ddim = RespacedDDIMScheduler.spaceTimesteps(1000, "ddim25");
        assertEquals(25, ddim.length);
        assertEquals(40, ddim[1]);
        long[] four = RespacedDDIMScheduler.spaceTimesteps(1000, "4");
        assertArrayEquals(new long[]{0, 333, 666, 999}, four);
        assertThrows(IllegalArgumentException.class, () -> RespacedDDIMScheduler.spaceTimesteps(10, "11"));
        assertThrows(IllegalArgumentException.class, () -> RespacedDDIMScheduler.spaceTimesteps(1000, "ddim3000"));
    }

    @Test void allStepsKeptGivesTheBaseProcess() {
        RespacedDDIMScheduler s = new RespacedDDIMScheduler();
        double[] base = RespacedDDIMScheduler.linspace(1e-4, 0.02, 1000), b = s.betas();
        assertEquals(1000, b.length);
        for (int i = 0; i < 1000; i++) assertEquals(base[i], b[i], 1e-15, "beta " + i);
    }

    @Test void perfectEpsilonRecoversTheCleanSampleAndTheLastStepReturnsX0() {
        RespacedDDIMScheduler s = new RespacedDDIMScheduler();
        s.setTimesteps(10);
        INDArray x0 = randn(1, 2, 4, 3, 5), eps = randn(2, 2, 4, 3, 5);
        long[] ts = s.timesteps().toLongVector();
        double[] ac = s.alphasCumprod(), prev = s.alphasCumprodPrev();
        for (int j = 0; j < ts.length; j++) {
            int k = s.indexOf(ts[j]);
            INDArray x = x0.mul(Math.sqrt(ac[k])).addi(eps.mul(Math.sqrt(1 - ac[k])));
            StepOutput r = s.step(eps, ts[j], x);
            assertTrue(r.predOriginalSample().equalsWithEps(x0, 2e-4 / Math.sqrt(ac[k])), "x0 at t=" + ts[j]);
            INDArray want = x0.mul(Math.sqrt(prev[k])).addi(eps.mul(Math.sqrt(1 - prev[k])));
            assertTrue(r.prevSample().equalsWithEps(want, 2e-4 / Math.sqrt(ac[k])), "x_prev at t=" + ts[j]);
        }
        INDArray x = randn(3, 2, 4, 3, 5);
        StepOutput last = s.step(randn(4, 2, 4, 3, 5), 0L, x);
        assertEquals(last.predOriginalSample(), last.prevSample(), "ᾱ_prev = 1 at the last step: x' = x0 exactly");
    }

    @Test void etaAddsNoiseExceptAtTheLastStep() {
        RespacedDDIMScheduler s = new RespacedDDIMScheduler();
        s.setTimesteps(5);
        INDArray x = randn(5, 1, 4, 2, 2), eps = randn(6, 1, 4, 2, 2), z = randn(7, 1, 4, 2, 2);
        long t = s.timesteps().getLong(1);
        var e = assertThrows(IllegalArgumentException.class, () -> s.step(eps, t, x, 1.0, null));
        assertTrue(e.getMessage().contains("noise"), e.getMessage());
        assertNotEquals(s.step(eps, t, x).prevSample(), s.step(eps, t, x, 1.0, z).prevSample());
        assertEquals(s.step(eps, 0L, x, 0.0, null).prevSample(), s.step(eps, 0L, x, 1.0, null).prevSample());
    }

    @Test void isASchedulerForAWrittenOutLoop() {
        Scheduler s = new RespacedDDIMScheduler();
        s.setTimesteps(4);
        assertArrayEquals(new long[]{999, 666, 333, 0}, s.timesteps().toLongVector());
        assertEquals(1f, s.initNoiseSigma());
        INDArray x = randn(8, 1, 4, 2, 2);
        assertSame(x, s.scaleModelInput(x, 999));
        for (long t : s.timesteps().toLongVector()) x = s.step(randn(9 + t, 1, 4, 2, 2), t, x, null).prevSample();
        assertEquals(SchedulerKind.DDIM, s.config().kind());
        var e = assertThrows(IllegalArgumentException.class, () -> s.step(randn(1, 1, 4, 2, 2), 500, randn(2, 1, 4, 2, 2), null));
        assertTrue(e.getMessage().contains("500") && e.getMessage().contains("[0, 333, 666, 999]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(1001));
    }

    @Test void addNoiseUsesTheBaseProcessInFloat64() {
        RespacedDDIMScheduler s = new RespacedDDIMScheduler();
        s.setTimesteps(50);                                                    // respacing does not change q(x_t | x0)
        INDArray x0 = randn(10, 2, 4, 2, 2), noise = randn(11, 2, 4, 2, 2);
        INDArray y = s.addNoise(x0, noise, Nd4j.createFromArray(250L, 999L));
        double acc = 1;
        double[] b = RespacedDDIMScheduler.linspace(1e-4, 0.02, 1000);
        for (int i = 0; i <= 250; i++) acc *= 1 - b[i];
        INDArray want0 = x0.slice(0).mul((float) Math.sqrt(acc)).addi(noise.slice(0).mul((float) Math.sqrt(1 - acc)));
        assertEquals(want0, y.slice(0));
        assertTrue(Arrays.stream(y.shape()).boxed().toList().equals(Arrays.stream(x0.shape()).boxed().toList()));
    }
}
