package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@link CrossAttention#forwardSparseCausal}: the interpolation UNet's attn1 (interpolation-unet.md §1.2). */
class SparseCausalAttentionTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    /** Loop transcription of §1.2 in double: frame f of sample b attends to [frame 0 ‖ frame max(f − 1, 0)] of sample b. */
    static INDArray naive(CrossAttention a, INDArray x, int frames) {
        Map<String, Parameter> p = a.namedEntries();
        INDArray q = CrossAttentionTest.linear(x, p.get("to_q.weight").data(), null);
        INDArray k = CrossAttentionTest.linear(x, p.get("to_k.weight").data(), null);
        INDArray v = CrossAttentionTest.linear(x, p.get("to_v.weight").data(), null);
        long bf = x.size(0), n = x.size(1);
        int h = a.heads(), d = a.dimHead();
        INDArray o = Nd4j.zeros(DataType.DOUBLE, bf, n, (long) h * d);
        for (int row = 0; row < bf; row++) {
            int b = row / frames, f = row % frames;
            int[] keyFrames = {b * frames, b * frames + Math.max(f - 1, 0)};   // frame 0's tokens first
            for (int head = 0; head < h; head++)
                for (int i = 0; i < n; i++) {
                    double[] sc = new double[(int) (2 * n)];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < 2 * n; j++) {
                        int kr = keyFrames[(int) (j / n)], kt = (int) (j % n);
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q.getDouble(row, i, head * d + c) * k.getDouble(kr, kt, head * d + c);
                        sc[j] = dot * Math.pow(d, -0.5);
                        max = Math.max(max, sc[j]);
                    }
                    for (int j = 0; j < 2 * n; j++) sum += (sc[j] = Math.exp(sc[j] - max));
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int j = 0; j < 2 * n; j++) acc += sc[j] / sum * v.getDouble(keyFrames[(int) (j / n)], (int) (j % n), head * d + c);
                        o.putScalar(new long[]{row, i, head * d + c}, acc);
                    }
                }
        }
        return CrossAttentionTest.linear(o, p.get("to_out.0.weight").data(), p.get("to_out.0.bias").data());
    }

    @Test void matchesNaiveLoopForSeveralSamplesAndFrameCounts() {
        CrossAttention a = CrossAttention.selfAttention(12, 3, 4);
        for (int frames : new int[]{1, 2, 4}) {
            INDArray x = GradAssert.rand(30 + frames, 2L * frames, 5, 12);            // B = 2
            INDArray got = a.forwardSparseCausal(Tensor.of(x.castTo(DataType.FLOAT)), frames).data();
            assertArrayEquals(new long[]{2L * frames, 5, 12}, got.shape());
            double err = got.castTo(DataType.DOUBLE).sub(naive(a, x, frames)).amaxNumber().doubleValue();
            System.out.printf("SparseCausalAttention vs naive loop, %d frames: %.3e%n", frames, err);
            assertTrue(err < 1e-5, frames + " frames: max error " + err);
        }
        a.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(35, 6, 5, 12);
        double errD = a.forwardSparseCausal(Tensor.of(x), 3).data().sub(naive(a, x, 3)).amaxNumber().doubleValue();
        assertTrue(errD < 1e-12, "double max error " + errD);
    }

    @Test void frameFSeesOnlyFrameZeroThePreviousFrameAndItself() {
        CrossAttention a = CrossAttention.selfAttention(8, 2, 4);
        int frames = 5;
        INDArray x = GradAssert.rand(40, frames, 6, 8).castTo(DataType.FLOAT);
        INDArray y = a.forwardSparseCausal(Tensor.of(x), frames).data().dup();
        for (int changed = 0; changed < frames; changed++) {
            INDArray x2 = x.dup();
            x2.get(NDArrayIndex.point(changed)).addi(0.5);
            INDArray y2 = a.forwardSparseCausal(Tensor.of(x2), frames).data();
            for (int f = 0; f < frames; f++) {
                boolean depends = changed == 0 || changed == f || changed == f - 1;
                boolean differs = !y.get(NDArrayIndex.point(f)).equalsWithEps(y2.get(NDArrayIndex.point(f)), 1e-6);
                assertEquals(depends, differs, "frame " + f + " after changing frame " + changed);
            }
        }
    }

    @Test void samplesOfTheBatchDoNotMix() {
        CrossAttention a = CrossAttention.selfAttention(8, 2, 4);
        INDArray x = GradAssert.rand(41, 6, 4, 8).castTo(DataType.FLOAT);       // B = 2, F = 3
        INDArray both = a.forwardSparseCausal(Tensor.of(x), 3).data().dup();
        INDArray second = a.forwardSparseCausal(Tensor.of(x.get(NDArrayIndex.interval(3, 6)).dup()), 3).data();
        assertTrue(second.equalsWithEps(both.get(NDArrayIndex.interval(3, 6)), 1e-6));
    }

    @Test void budgetChangesChunkingOnly() {
        CrossAttention a = CrossAttention.selfAttention(8, 2, 4);
        INDArray x = GradAssert.rand(42, 4, 7, 8).castTo(DataType.FLOAT);
        INDArray whole = a.forwardSparseCausal(Tensor.of(x), 2).data().dup();
        INDArray chunked = a.maxScoreBytes(1).forwardSparseCausal(Tensor.of(x), 2).data();
        assertEquals(0.0, chunked.sub(whole).amaxNumber().doubleValue(), 1e-6);
    }

    @Test void gradientCheckInDouble() {
        CrossAttention a = CrossAttention.selfAttention(8, 2, 4);
        a.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(43, 6, 3, 8).muli(3);                      // B = 2, F = 3
        GradAssert.assertGradients("SparseCausalAttention (x)", t -> a.forwardSparseCausal(t[0], 3), x);
        Map<String, Parameter> p = a.namedEntries();
        for (String key : new String[]{"to_q.weight", "to_k.weight", "to_v.weight"})
            GradAssert.assertParameterGradients("SparseCausalAttention (" + key + ")", () -> a.forwardSparseCausal(Tensor.of(x), 3), p.get(key));
        a.maxScoreBytes(16);                                                     // chunked backward too
        GradAssert.assertGradients("SparseCausalAttention chunked (x)", t -> a.forwardSparseCausal(t[0], 3), x);
    }

    @Test void badInputsAreNamed() {
        CrossAttention a = CrossAttention.selfAttention(8, 2, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> a.forwardSparseCausal(Tensor.of(Nd4j.zeros(DataType.FLOAT, 5, 3, 8)), 2));
        assertTrue(e.getMessage().contains("5") && e.getMessage().contains("2 frames"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.forwardSparseCausal(Tensor.of(Nd4j.zeros(DataType.FLOAT, 4, 3, 6)), 2));
        assertTrue(e.getMessage().contains("[4, 3, 6]"), e.getMessage());
        CrossAttention cross = new CrossAttention(8, 6, 2, 4);
        assertThrows(IllegalArgumentException.class, () -> cross.forwardSparseCausal(Tensor.of(Nd4j.zeros(DataType.FLOAT, 4, 3, 8)), 2));
    }
}
