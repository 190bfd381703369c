package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Module;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tensor;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

import static org.junit.jupiter.api.Assertions.*;

class RotaryEmbeddingTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void freqsAreTheLangDefaults() {
        RotaryEmbedding r = new RotaryEmbedding(32);
        assertEquals(List.of("freqs"), List.copyOf(r.stateDict().keys()));
        INDArray f = r.freqs().data();
        assertArrayEquals(new long[]{16}, f.shape());
        assertEquals(DataType.FLOAT, f.dataType());
        for (int m = 0; m < 16; m++) assertEquals(Math.pow(10000, -2.0 * m / 32), f.getDouble(m), 1e-7 * Math.max(1, f.getDouble(m)));
        assertEquals(0.56234133f, f.getFloat(1), 0f);
        assertTrue(r.freqs().isBuffer(), "freqs must be a buffer (never trained)");
        assertTrue(r.parameters().isEmpty());
    }

    /** Direct transcription of base-unet.md §8.1: interleaved pairs of the first 32 channels, angle p·θ_m. */
    static INDArray naiveRotate(INDArray t, INDArray freqs) {
        INDArray x = t.castTo(DataType.DOUBLE).dup('c');
        long[] s = x.shape();
        int r = s.length;
        long length = s[r - 2], d = s[r - 1];
        long rows = x.length() / (length * d);
        INDArray flat = x.reshape('c', rows, length, d);
        INDArray out = flat.dup('c');
        int half = (int) freqs.length();
        for (long n = 0; n < rows; n++)
            for (long p = 0; p < length; p++)
                for (int m = 0; m < half; m++) {
                    // the angle is rounded in the dtype of freqs (float32 in the reference), the rotation is in double
                    double angle = freqs.dataType() == DataType.FLOAT ? (double) (float) (p * freqs.getFloat(m)) : p * freqs.getDouble(m);
                    double a = flat.getDouble(n, p, 2L * m), b = flat.getDouble(n, p, 2L * m + 1);
                    out.putScalar(new long[]{n, p, 2L * m}, a * Math.cos(angle) - b * Math.sin(angle));
                    out.putScalar(new long[]{n, p, 2L * m + 1}, b * Math.cos(angle) + a * Math.sin(angle));
                }
        return out.reshape('c', s);
    }

    @Test void matchesNaiveLoopFloatAndDouble() {
        RotaryEmbedding r = new RotaryEmbedding(32);
        INDArray x = GradAssert.rand(5, 3, 2, 7, 40);                       // (n, h, f, d), d = 40 > 32
        INDArray expected = naiveRotate(x, r.freqs().data());
        INDArray gotF = r.rotateQueriesOrKeys(Tensor.of(x.castTo(DataType.FLOAT))).data();
        assertArrayEquals(x.shape(), gotF.shape());
        assertEquals(DataType.FLOAT, gotF.dataType());
        double errF = gotF.castTo(DataType.DOUBLE).sub(expected).amaxNumber().doubleValue();
        assertTrue(errF < 2e-6, "float max error " + errF);
        INDArray gotD = r.rotateQueriesOrKeys(Tensor.of(x)).data();
        double errD = gotD.sub(expected).amaxNumber().doubleValue();
        System.out.printf("rope vs naive loop: float %.3e, double %.3e%n", errF, errD);
        assertTrue(errD < 1e-12, "double max error " + errD);
        // channels 32..39 pass through, position 0 is the identity
        assertEquals(x.get(all(), all(), all(), interval(32, 40)), gotD.get(all(), all(), all(), interval(32, 40)));
        assertEquals(x.get(all(), all(), point(0), all()), gotD.get(all(), all(), point(0), all()));
    }

    @Test void kernelEqualsTheComposedOpsBitForBitForwardAndBackward() {
        RotaryEmbedding r = new RotaryEmbedding(32);
        // LaVie's temporal q/k: (b*h*w, heads, frames, 40); also a permuted (non-contiguous) input and d = 32
        INDArray x = GradAssert.rand(11, 64, 8, 16, 40).castTo(DataType.FLOAT);
        INDArray[] inputs = {x, GradAssert.rand(12, 16, 64, 8, 40).castTo(DataType.FLOAT).permute(1, 2, 0, 3),
                GradAssert.rand(13, 3, 5, 32).castTo(DataType.FLOAT)};
        for (INDArray in : inputs) {
            String name = java.util.Arrays.toString(in.shape());
            INDArray fused = r.rotateQueriesOrKeys(Tensor.of(in)).data();
            INDArray composed = r.rotateQueriesOrKeysComposed(Tensor.of(in)).data();
            assertArrayEquals(composed.shape(), fused.shape());
            assertArrayEquals(composed.dup('c').data().asFloat(), fused.dup('c').data().asFloat(), name + ": the same floats");
            // recorded: the same floats again, and the same gradient (upstream gradient also strided)
            INDArray go = GradAssert.rand(14, in.shape()).muli(3).castTo(DataType.FLOAT);
            INDArray goStrided = go.dup('f');
            Tensor a = Tensor.leaf(in.dup('c'), true), b = Tensor.leaf(in.dup('c'), true);
            try (org.lavie4j.core.Tape tape = org.lavie4j.core.Grad.record()) {
                Tensor y = r.rotateQueriesOrKeys(a);
                assertArrayEquals(composed.dup('c').data().asFloat(), y.data().dup('c').data().asFloat(), name + ": recorded forward");
                tape.backward(y, goStrided);
            }
            try (org.lavie4j.core.Tape tape = org.lavie4j.core.Grad.record()) {
                tape.backward(r.rotateQueriesOrKeysComposed(b), go);
            }
            assertArrayEquals(b.grad().dup('c').data().asFloat(), a.grad().dup('c').data().asFloat(), 0f, name + ": the same gradient");
        }
    }

    /** The kernel reads a permuted view of a column slice in place: the composed twin's floats, bit for bit. */
    @Test void kernelReadsStridedViewsInPlace() {
        RotaryEmbedding rope = new RotaryEmbedding(8);
        INDArray qkv = GradAssert.rand(7, 3, 5, 3 * 24).castTo(DataType.FLOAT);        // (b, f, 3·h·d), h = 2, d = 12
        Tensor k = org.lavie4j.core.Attention.splitHeads(
                org.lavie4j.core.Ops.slice(Tensor.of(qkv), 2, 24, 48), 2);               // (b, h, f, d): strided, offset
        assertEquals(72, k.data().stride(2), "the test needs a strided view");
        assertArrayEquals(rope.rotateQueriesOrKeysComposed(Tensor.of(k.data().dup('c'))).data().dup('c').data().asFloat(),
                rope.rotateQueriesOrKeys(k).data().dup('c').data().asFloat(), 0f);
    }

    @Test void exactlyRotaryDimChannels() {
        RotaryEmbedding r = new RotaryEmbedding(32);
        INDArray x = GradAssert.rand(6, 4, 5, 32);
        INDArray got = r.rotateQueriesOrKeys(Tensor.of(x)).data();
        assertTrue(got.sub(naiveRotate(x, r.freqs().data())).amaxNumber().doubleValue() < 1e-12);
    }

    @Test void usesLoadedFreqs() {
        RotaryEmbedding r = new RotaryEmbedding(4);
        r.load(new StateDict("test").put("freqs", Nd4j.createFromArray(0.5f, 0.25f)));
        INDArray x = GradAssert.rand(7, 1, 3, 4);
        INDArray got = r.rotateQueriesOrKeys(Tensor.of(x)).data();
        assertTrue(got.sub(naiveRotate(x, Nd4j.createFromArray(0.5f, 0.25f))).amaxNumber().doubleValue() < 1e-12);
    }

    @Test void gradientCheckInDouble() {
        RotaryEmbedding r = new RotaryEmbedding(32);
        r.to(DataType.DOUBLE);
        GradAssert.assertGradients("RotaryEmbedding (input)", t -> r.rotateQueriesOrKeys(t[0]), GradAssert.rand(8, 2, 2, 5, 36));
    }

    @Test void badInputsAreNamed() {
        RotaryEmbedding r = new RotaryEmbedding(32);
        var e = assertThrows(IllegalArgumentException.class, () -> r.rotateQueriesOrKeys(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 3, 16))));
        assertTrue(e.getMessage().contains("[2, 3, 16]") && e.getMessage().contains("32"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new RotaryEmbedding(31));
    }

    /** Two owners of one rotary module, as LaVie's UNet shares one RoPE across its temporal attentions. */
    static final class TwoOwners extends Module {
        final TemporalAttention a, b;

        TwoOwners(RotaryEmbedding shared) {
            a = child("a", new TemporalAttention(64, 2, 32, shared));
            b = child("b", new TemporalAttention(64, 2, 32, shared));
        }
    }

    @Test void sharedModuleEmitsItsKeyUnderEveryOwner() {
        RotaryEmbedding shared = new RotaryEmbedding(32);
        TwoOwners m = new TwoOwners(shared);
        StateDict sd = m.stateDict();
        assertTrue(sd.contains("a.rotary_emb.freqs") && sd.contains("b.rotary_emb.freqs"), sd.keys().toString());
        assertSame(m.a.rotaryEmb(), m.b.rotaryEmb());
        assertFalse(m.namedParameters().keySet().stream().anyMatch(k -> k.contains("rotary_emb")), "freqs is not trainable");

        // loading: both copies agreeing set the one shared table; disagreeing copies are reported, nothing changes
        StateDict ok = copy(sd);
        INDArray f = Nd4j.createFromArray(new float[16]).addi(0.125f);
        ok.put("a.rotary_emb.freqs", f).put("b.rotary_emb.freqs", f.dup());
        m.load(ok);
        assertEquals(0.125f, shared.freqs().data().getFloat(3), 0f);
        StateDict bad = copy(sd);
        bad.put("b.rotary_emb.freqs", f.add(1f));
        assertThrows(LoadReport.CheckpointMismatchException.class, () -> m.load(bad));
        assertEquals(0.125f, shared.freqs().data().getFloat(3), 0f);
    }

    private static StateDict copy(StateDict sd) {
        StateDict out = new StateDict("copy");
        for (String k : sd.keys()) out.put(k, sd.get(k).load().dup());
        return out;
    }
}
