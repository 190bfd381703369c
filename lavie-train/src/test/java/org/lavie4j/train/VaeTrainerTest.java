package org.lavie4j.train;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.StateDict;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.lavie4j.train.data.SyntheticShapes;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link VaeTrainer}: a few steps on tiny synthetic frames lower the reconstruction loss; the scaling wither keeps the weights. */
class VaeTrainerTest {
    private static AutoencoderKL tinyVae() {
        Nd4j.getRandom().setSeed(7);
        Init.seed(7);
        return new AutoencoderKL(new VaeConfig(3, 3, List.of(8, 16), 1, 4, 4, 16, 0.18215));
    }

    private static ShapesSampleSource source() {
        return new ShapesSampleSource(SyntheticShapes.Options.of(64, 16, 2), 0);
    }

    @Test
    void trainingLowersTheReconstructionLoss() {
        VaeTrainer t = new VaeTrainer(tinyVae(), new VaeTrainer.Config(4, 3e-3, 1e-4, 1.0, 0), source());
        double first = 0, last = 0;
        for (int i = 0; i < 40; i++) {
            VaeTrainer.StepLoss l = t.trainStep();
            assertTrue(Double.isFinite(l.total()) && l.kl() >= 0 && l.gradNorm() > 0, "step " + i + ": " + l);
            assertEquals(l.reconstruction() + 1e-4 * l.kl(), l.total(), 1e-5 * Math.max(1, l.total()));
            if (i < 3) first += l.reconstruction() / 3;
            if (i >= 37) last += l.reconstruction() / 3;
        }
        assertEquals(40, t.steps());
        assertTrue(last < 0.5 * first, "reconstruction " + first + " -> " + last);
    }

    @Test
    void sameSeedSameSteps() {
        VaeTrainer a = new VaeTrainer(tinyVae(), new VaeTrainer.Config(2, 1e-3, 1e-4, 1.0, 3), source());
        VaeTrainer b = new VaeTrainer(tinyVae(), new VaeTrainer.Config(2, 1e-3, 1e-4, 1.0, 3), source());
        for (int i = 0; i < 3; i++) assertEquals(a.trainStep(), b.trainStep());
    }

    @Test
    void withScalingKeepsTheWeightsAndSetsTheFactor() {
        AutoencoderKL vae = tinyVae();
        VaeTrainer t = new VaeTrainer(vae, new VaeTrainer.Config(2, 1e-3, 1e-4, 1.0, 0), source());
        t.trainStep();
        double std = t.latentStd(2);
        assertTrue(std > 0 && Double.isFinite(std), "std " + std);
        AutoencoderKL scaled = VaeTrainer.withScaling(vae, 1 / std);
        assertEquals(1 / std, scaled.config().scalingFactor(), 1e-12);
        StateDict a = vae.stateDict(), b = scaled.stateDict();
        assertEquals(a.keys(), b.keys());
        for (String k : a.keys()) assertEquals(a.get(k).load(), b.get(k).load(), k);
    }

    @Test
    void badConfigIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new VaeTrainer.Config(0, 1e-3, 1e-4, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new VaeTrainer.Config(1, 0, 1e-4, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new VaeTrainer.Config(1, 1e-3, -1, 1, 0));
    }
}
