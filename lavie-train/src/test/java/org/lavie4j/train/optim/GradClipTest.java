package org.lavie4j.train.optim;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class GradClipTest {
    @Test void globalNormCoversAllGradientsAndSkipsMissingOnes() {
        Toy toy = new Toy(DataType.FLOAT);
        Toy.setGrad(toy.bias, Nd4j.createFromArray(3f, 0f, 0f));
        Toy.setGrad(toy.inner.scale, Nd4j.createFromArray(0f, 4f, 12f));
        // weight has no gradient
        assertEquals(13.0, GradClip.globalNorm(toy.parameters()), 1e-6);
    }

    @Test void clipsByMaxNormOverTotalNormPlusEpsilonAndReturnsTheNormBeforeClipping() {
        Toy toy = new Toy(DataType.DOUBLE);
        Toy.setGrad(toy.bias, Nd4j.createFromArray(3.0, 0.0, 0.0));
        Toy.setGrad(toy.inner.scale, Nd4j.createFromArray(0.0, 4.0, 0.0));
        double norm = GradClip.clipGradNorm(toy.parameters(), 1.0);
        assertEquals(5.0, norm, 1e-12);
        double coef = 1.0 / (5.0 + 1e-6);                             // torch: max_norm / (total_norm + 1e-6)
        assertEquals(3 * coef, toy.bias.grad().getDouble(0), 1e-15);
        assertEquals(4 * coef, toy.inner.scale.grad().getDouble(1), 1e-15);
        assertEquals(1.0, GradClip.globalNorm(toy.parameters()), 1e-6);
    }

    @Test void smallGradientsAreLeftAlone() {
        Toy toy = new Toy(DataType.DOUBLE);
        Toy.setGrad(toy.bias, Nd4j.createFromArray(0.3, 0.0, 0.4));
        assertEquals(0.5, GradClip.clipGradNorm(toy.parameters(), 0.5 + 2e-6), 1e-12);   // coef > 1: unchanged
        assertEquals(Nd4j.createFromArray(0.3, 0.0, 0.4), toy.bias.grad());
        assertEquals(0.5, GradClip.clipGradNorm(List.of(toy.bias), 0.5), 1e-12);         // coef = 0.5/(0.5+1e-6) < 1: scaled
        assertEquals(0.3 * 0.5 / (0.5 + 1e-6), toy.bias.grad().getDouble(0), 1e-15);
    }

    @Test void nonFiniteNormIsReturnedWithGradientsUntouched() {
        Toy toy = new Toy(DataType.FLOAT);
        Toy.setGrad(toy.bias, Nd4j.createFromArray(Float.NaN, 1f, 1f));
        assertTrue(Double.isNaN(GradClip.clipGradNorm(toy.parameters(), 1.0)));
        assertEquals(1f, toy.bias.grad().getFloat(1));
        assertThrows(IllegalArgumentException.class, () -> GradClip.clipGradNorm(toy.parameters(), 0));
    }
}
