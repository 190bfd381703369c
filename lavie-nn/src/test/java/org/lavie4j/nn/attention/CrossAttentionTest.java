package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.lavie4j.core.GradAssert;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CrossAttentionTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void keysAndShapesAreDiffusers() {
        CrossAttention a = new CrossAttention(80, 32, 2, 40);
        assertEquals(List.of("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias"), List.copyOf(a.stateDict().keys()));
        Map<String, Parameter> p = a.namedEntries();
        assertArrayEquals(new long[]{80, 80}, p.get("to_q.weight").shape());
        assertArrayEquals(new long[]{80, 32}, p.get("to_k.weight").shape());
        assertArrayEquals(new long[]{80, 32}, p.get("to_v.weight").shape());
        assertArrayEquals(new long[]{80, 80}, p.get("to_out.0.weight").shape());
        CrossAttention biased = new CrossAttention(8, 8, 2, 4, true);
        assertTrue(biased.stateDict().contains("to_q.bias"));
    }

    /** Loop transcription of base-unet.md §7 in double. */
    static INDArray naive(CrossAttention a, INDArray x, INDArray ctx) {
        Map<String, Parameter> p = a.namedEntries();
        INDArray s = ctx == null ? x : ctx;
        INDArray q = linear(x, p.get("to_q.weight").data(), null), k = linear(s, p.get("to_k.weight").data(), null);
        INDArray v = linear(s, p.get("to_v.weight").data(), null);
        long b = x.size(0), l = x.size(1), lk = s.size(1);
        int h = a.heads(), d = a.dimHead();
        INDArray o = Nd4j.zeros(DataType.DOUBLE, b, l, (long) h * d);
        for (int n = 0; n < b; n++)
            for (int head = 0; head < h; head++)
                for (int i = 0; i < l; i++) {
                    double[] sc = new double[(int) lk];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < lk; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q.getDouble(n, i, head * d + c) * k.getDouble(n, j, head * d + c);
                        sc[j] = dot * Math.pow(d, -0.5);
                        max = Math.max(max, sc[j]);
                    }
                    for (int j = 0; j < lk; j++) sum += (sc[j] = Math.exp(sc[j] - max));
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int j = 0; j < lk; j++) acc += sc[j] / sum * v.getDouble(n, j, head * d + c);
                        o.putScalar(new long[]{n, i, head * d + c}, acc);
                    }
                }
        return linear(o, p.get("to_out.0.weight").data(), p.get("to_out.0.bias").data());
    }

    static INDArray linear(INDArray x, INDArray w, INDArray bias) {
        INDArray x2 = x.castTo(DataType.DOUBLE).reshape('c', x.length() / x.size(-1), x.size(-1));
        INDArray y = x2.mmul(w.castTo(DataType.DOUBLE).transpose());
        if (bias != null) y.addiRowVector(bias.castTo(DataType.DOUBLE));
        return y.reshape('c', x.size(0), x.size(1), w.size(0));
    }

    @Test void matchesNaiveLoopCrossAndSelf() {
        TestSeeds.seed(11);
        CrossAttention cross = new CrossAttention(12, 6, 3, 4);
        INDArray x = GradAssert.rand(1, 2, 5, 12), ctx = GradAssert.rand(2, 2, 7, 6);
        INDArray got = cross.forward(Tensor.of(x.castTo(DataType.FLOAT)), Tensor.of(ctx.castTo(DataType.FLOAT))).data();
        assertArrayEquals(new long[]{2, 5, 12}, got.shape());
        double err = got.castTo(DataType.DOUBLE).sub(naive(cross, x, ctx)).amaxNumber().doubleValue();
        assertTrue(err < 1e-5, "cross max error " + err);

        CrossAttention self = CrossAttention.selfAttention(12, 2, 6);
        INDArray gotSelf = self.forward(Tensor.of(x.castTo(DataType.FLOAT))).data();
        double errSelf = gotSelf.castTo(DataType.DOUBLE).sub(naive(self, x, null)).amaxNumber().doubleValue();
        System.out.printf("CrossAttention vs naive loop: cross %.3e, self %.3e%n", err, errSelf);
        assertTrue(errSelf < 1e-5, "self max error " + errSelf);
    }

    @Test void memoryBudgetChangesNothingButChunking() {
        TestSeeds.seed(12);
        CrossAttention a = new CrossAttention(8, 8, 2, 4).maxScoreBytes(1);            // one query row per chunk
        INDArray x = GradAssert.rand(3, 2, 9, 8).castTo(DataType.FLOAT);
        INDArray chunked = a.forward(Tensor.of(x)).data().dup();
        INDArray whole = a.maxScoreBytes(1L << 30).forward(Tensor.of(x)).data();
        assertEquals(0.0, chunked.sub(whole).amaxNumber().doubleValue(), 1e-6);
        assertThrows(IllegalArgumentException.class, () -> a.maxScoreBytes(0));
    }

    @Test void gradientCheckInDouble() {
        CrossAttention a = new CrossAttention(8, 6, 2, 4);
        a.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(4, 2, 5, 8), ctx = GradAssert.rand(5, 2, 3, 6);
        GradAssert.assertGradients("CrossAttention (x, context)", t -> a.forward(t[0], t[1]), x, ctx);
        Map<String, Parameter> p = a.namedEntries();
        GradAssert.assertParameterGradients("CrossAttention (to_k.weight)", () -> a.forward(Tensor.of(x), Tensor.of(ctx)), p.get("to_k.weight"));
        CrossAttention self = CrossAttention.selfAttention(8, 2, 4).maxScoreBytes(16);  // chunked backward too
        self.to(DataType.DOUBLE);
        GradAssert.assertGradients("CrossAttention self, chunked (x)", t -> self.forward(t[0]), x);
    }

    /** attn1 (self) and attn2 (text, context repeated per frame) of layer_transformer3d's trace. */
    @Test void matchesTheTransformer3dTrace() throws Exception {
        java.nio.file.Path dir = TestData.goldenCase("layer_transformer3d");
        try (TensorFile w = SafeTensors.read(dir.resolve("weights.safetensors"));
             TensorFile io = SafeTensors.read(dir.resolve("io.safetensors"));
             TensorFile trace = SafeTensors.read(dir.resolve("trace.safetensors"))) {
            StateDict sd = StateDict.of("layer_transformer3d", w.asMap());
            CrossAttention attn1 = CrossAttention.selfAttention(80, 2, 40);
            attn1.load(sd.withoutPrefix("transformer_blocks.0.attn1."));
            CrossAttention attn2 = new CrossAttention(80, 32, 2, 40);
            attn2.load(sd.withoutPrefix("transformer_blocks.0.attn2."));
            String at = "forward/transformer_blocks.0.";
            INDArray ctx = io.get("in.encoder_hidden_states").load().repeat(0, 3);   // (1, 7, 32) -> (b*f = 3, 7, 32)
            INDArray y1 = attn1.forward(Tensor.of(trace.get(at + "norm1").load())).data();
            INDArray y2 = attn2.forward(Tensor.of(trace.get(at + "norm2").load()), Tensor.of(ctx)).data();
            INDArray e1 = trace.get(at + "attn1.to_out.0").load(), e2 = trace.get(at + "attn2.to_out.0").load();
            double err1 = y1.sub(e1).amaxNumber().doubleValue(), err2 = y2.sub(e2).amaxNumber().doubleValue();
            System.out.printf("CrossAttention vs layer_transformer3d trace: attn1 %.3e, attn2 %.3e%n", err1, err2);
            assertTrue(err1 <= 1e-5 + 1e-4 * e1.amaxNumber().doubleValue(), "attn1 max error " + err1);
            assertTrue(err2 <= 1e-5 + 1e-4 * e2.amaxNumber().doubleValue(), "attn2 max error " + err2);
        }
    }

    @Test void badInputsAreNamed() {
        CrossAttention a = new CrossAttention(8, 6, 2, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> a.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 5, 7)), null));
        assertTrue(e.getMessage().contains("[2, 5, 7]") && e.getMessage().contains("8"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> a.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 5, 8)), Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 3, 5))));
        assertTrue(e.getMessage().contains("[2, 3, 5]") && e.getMessage().contains("[2, 5, 8]") && e.getMessage().contains("encoder_hidden_states"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> a.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 5, 8)), Tensor.of(Nd4j.zeros(DataType.FLOAT, 3, 3, 6))));
        assertTrue(e.getMessage().contains("[3, 3, 6]"), e.getMessage());
        // self-attention with a context width different from the query width needs a context
        assertThrows(IllegalArgumentException.class, () -> a.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 5, 8))));
    }
}
