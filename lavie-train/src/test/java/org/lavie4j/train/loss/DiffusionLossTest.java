package org.lavie4j.train.loss;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.schedulers.NoiseSchedule;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

class DiffusionLossTest {
    private static INDArray randn(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    @Test void mseIsTheMeanOfSquaresOverAllElements() {
        INDArray p = Nd4j.createFromArray(1f, 2f, 3f, 4f).reshape(1, 1, 2, 1, 2);
        INDArray t = Nd4j.createFromArray(0f, 0f, 1f, 6f).reshape(1, 1, 2, 1, 2);
        Tensor loss;
        try (Tape off = Grad.disabled()) {
            loss = DiffusionLoss.mse(Tensor.of(p), t);
        }
        assertArrayEquals(new long[]{1}, loss.shape());
        assertEquals((1 + 4 + 4 + 4) / 4.0, loss.item(), 1e-6);
    }

    @Test void mseGradientIsTwiceTheErrorOverN() {
        INDArray p = randn(1, 2, 4, 3, 2, 2), t = randn(2, 2, 4, 3, 2, 2);
        Tensor leaf = Tensor.leaf(p, true);
        try (Tape tape = Grad.record()) {
            tape.backward(DiffusionLoss.mse(leaf, t));
        }
        INDArray expected = p.sub(t).muli(2.0 / p.length());
        assertTrue(expected.equalsWithEps(leaf.grad(), 1e-7));
        GradAssert.assertGradients("DiffusionLoss.mse", x -> DiffusionLoss.mse(x[0], t.castTo(DataType.DOUBLE)), p);
    }

    @Test void targetsFollowThePredictionType() {
        Scheduler ddpm = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDPM));
        INDArray x0 = randn(3, 2, 4, 2, 3, 3), eps = randn(4, 2, 4, 2, 3, 3);
        INDArray t = Nd4j.createFromArray(10L, 900L);
        assertSame(eps, DiffusionLoss.target(PredictionType.EPSILON, ddpm, x0, eps, t));
        assertSame(eps, DiffusionLoss.target(ddpm, x0, eps, t));        // LaVie's base model predicts epsilon
        assertSame(x0, DiffusionLoss.target(PredictionType.SAMPLE, ddpm, x0, eps, t));
        INDArray v = DiffusionLoss.target(PredictionType.V_PREDICTION, ddpm, x0, eps, t);
        // v = sqrt(abar)·eps − sqrt(1 − abar)·x0 per sample, abar from the linear schedule 1e-4..0.02
        long[] ts = {10, 900};
        for (int b = 0; b < 2; b++) {
            double abar = 1;
            for (int i = 0; i <= ts[b]; i++) abar *= 1 - (1e-4 + (0.02 - 1e-4) * i / 999.0);
            INDArray expected = eps.slice(b).mul(Math.sqrt(abar)).subi(x0.slice(b).mul(Math.sqrt(1 - abar)));
            assertTrue(expected.equalsWithEps(v.slice(b), 1e-5), "sample " + b);
        }
    }

    @Test void minSnrWeightsClipTheSignalToNoiseRatio() {
        Scheduler ddpm = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDPM));
        INDArray t = Nd4j.createFromArray(10L, 300L, 900L);
        double gamma = 5;
        double[] snr = new double[3];
        long[] ts = {10, 300, 900};
        NoiseSchedule schedule = NoiseSchedule.of(ddpm.config());   // float32 alphas_cumprod, as torch's (tested with the schedulers)
        for (int b = 0; b < 3; b++) {
            double abar = 1;
            for (int i = 0; i <= ts[b]; i++) abar *= 1 - (1e-4 + (0.02 - 1e-4) * i / 999.0);
            assertEquals(abar, schedule.alphaCumprod(ts[b]), 1e-6);
            double a = schedule.alphaCumprod(ts[b]);
            snr[b] = a / (1 - a);
        }
        assertTrue(snr[0] > gamma && snr[2] < 1, "t = 10 is above gamma, t = 900 far below");
        INDArray eps = DiffusionLoss.minSnrWeights(PredictionType.EPSILON, ddpm, t, gamma);
        INDArray v = DiffusionLoss.minSnrWeights(PredictionType.V_PREDICTION, ddpm, t, gamma);
        INDArray x0 = DiffusionLoss.minSnrWeights(PredictionType.SAMPLE, ddpm, t, gamma);
        for (int b = 0; b < 3; b++) {
            double clipped = Math.min(snr[b], gamma);
            assertEquals(clipped / snr[b], eps.getDouble(b), 1e-5 * eps.getDouble(b), "epsilon, t = " + ts[b]);
            assertEquals(clipped / (snr[b] + 1), v.getDouble(b), 1e-5 * v.getDouble(b), "v_prediction, t = " + ts[b]);
            assertEquals(clipped, x0.getDouble(b), 1e-5 * x0.getDouble(b), "sample, t = " + ts[b]);
        }
        assertEquals(1.0, eps.getDouble(2), 1e-6, "noisy steps keep their full weight under epsilon");
        assertTrue(eps.getDouble(0) < 0.1, "nearly clean steps are down-weighted: " + eps.getDouble(0));
        var e = assertThrows(IllegalArgumentException.class, () -> DiffusionLoss.minSnrWeights(PredictionType.EPSILON, ddpm, t, 0));
        assertTrue(e.getMessage().contains("gamma"), e.getMessage());
    }

    @Test void weightedMseWeighsEachSamplesMeanError() {
        INDArray p = randn(7, 3, 4, 2, 2, 2), t = randn(8, 3, 4, 2, 2, 2);
        INDArray w = Nd4j.createFromArray(0.5f, 2f, 0.25f);
        Tensor loss;
        try (Tape off = Grad.disabled()) {
            loss = DiffusionLoss.weightedMse(Tensor.of(p), t, w);
            assertEquals(DiffusionLoss.mse(Tensor.of(p), t).item(), DiffusionLoss.weightedMse(Tensor.of(p), t, null).item(), 0.0);
        }
        double expected = 0;
        for (int b = 0; b < 3; b++) {
            INDArray d = p.slice(b).sub(t.slice(b));
            expected += w.getDouble(b) * d.mul(d).meanNumber().doubleValue() / 3;
        }
        assertArrayEquals(new long[]{1}, loss.shape());
        assertEquals(expected, loss.item(), 1e-6 * expected);
        GradAssert.assertGradients("DiffusionLoss.weightedMse",
                x -> DiffusionLoss.weightedMse(x[0], t.castTo(DataType.DOUBLE), w), p);
        var e = assertThrows(IllegalArgumentException.class, () -> DiffusionLoss.weightedMse(Tensor.of(p), t, Nd4j.ones(DataType.FLOAT, 2)));
        assertTrue(e.getMessage().contains("2 weights for a batch of 3"), e.getMessage());
    }

    @Test void mismatchesAreNamed() {
        INDArray a = randn(5, 1, 4, 2, 2, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> DiffusionLoss.mse(Tensor.of(a), randn(6, 1, 4, 3, 2, 2)));
        assertTrue(e.getMessage().contains("[1, 4, 2, 2, 2]") && e.getMessage().contains("[1, 4, 3, 2, 2]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DiffusionLoss.mse(Tensor.of(a), a.castTo(DataType.DOUBLE)));
        assertTrue(e.getMessage().contains("DOUBLE"), e.getMessage());
    }
}
