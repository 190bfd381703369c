package org.lavie4j.train.loss;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
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

    @Test void mismatchesAreNamed() {
        INDArray a = randn(5, 1, 4, 2, 2, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> DiffusionLoss.mse(Tensor.of(a), randn(6, 1, 4, 3, 2, 2)));
        assertTrue(e.getMessage().contains("[1, 4, 2, 2, 2]") && e.getMessage().contains("[1, 4, 3, 2, 2]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DiffusionLoss.mse(Tensor.of(a), a.castTo(DataType.DOUBLE)));
        assertTrue(e.getMessage().contains("DOUBLE"), e.getMessage());
    }
}
