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

import java.util.Map;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

class TemporalAttentionTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void keysAreThoseOfTheGoldenCheckpoint() throws Exception {
        TemporalAttention a = new TemporalAttention(80, 2, 40, new RotaryEmbedding(32));
        try (TensorFile f = SafeTensors.read(TestData.goldenCase("layer_temporal_attention").resolve("weights.safetensors"))) {
            assertEquals(new TreeSet<>(f.keys()), new TreeSet<>(a.stateDict().keys()));
            for (String k : f.keys()) assertArrayEquals(f.get(k).shape(), a.namedEntries().get(k).shape(), k);
        }
        TemporalAttention plain = new TemporalAttention(64, 2, null);
        assertFalse(plain.stateDict().keys().stream().anyMatch(k -> k.startsWith("rotary_emb")));
        assertEquals(32, plain.dimHead());
    }

    /** Loop transcription of base-unet.md §8 in double: q scaled, then RoPE on q and k, + bias, max-subtracted softmax. */
    static INDArray naive(TemporalAttention a, INDArray x) {
        Map<String, Parameter> p = a.namedEntries();
        INDArray q = CrossAttentionTest.linear(x, p.get("to_q.weight").data(), null);
        INDArray k = CrossAttentionTest.linear(x, p.get("to_k.weight").data(), null);
        INDArray v = CrossAttentionTest.linear(x, p.get("to_v.weight").data(), null);
        long n = x.size(0), f = x.size(1);
        int h = a.heads(), d = a.dimHead();
        double scale = Math.pow(d, -0.5);
        // (n, f, h*d) -> (n, h, f, d)
        INDArray qh = q.reshape('c', n, f, h, d).permute(0, 2, 1, 3).dup('c').muli(scale);
        INDArray kh = k.reshape('c', n, f, h, d).permute(0, 2, 1, 3).dup('c');
        INDArray freqs = p.get("rotary_emb.freqs").data();
        qh = RotaryEmbeddingTest.naiveRotate(qh, freqs);
        kh = RotaryEmbeddingTest.naiveRotate(kh, freqs);
        long[][] buckets = RelativePositionBias.bucketTable((int) f, 32, 32);
        INDArray table = p.get("time_rel_pos_bias.relative_attention_bias.weight").data();
        INDArray o = Nd4j.zeros(DataType.DOUBLE, n, f, (long) h * d);
        for (int s = 0; s < n; s++)
            for (int head = 0; head < h; head++)
                for (int i = 0; i < f; i++) {
                    double[] sc = new double[(int) f];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < f; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += qh.getDouble(s, head, i, c) * kh.getDouble(s, head, j, c);
                        sc[j] = dot + table.getDouble(buckets[i][j], head);
                        max = Math.max(max, sc[j]);
                    }
                    for (int j = 0; j < f; j++) sum += (sc[j] = Math.exp(sc[j] - max));
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int j = 0; j < f; j++) acc += sc[j] / sum * v.getDouble(s, j, head * d + c);
                        o.putScalar(new long[]{s, i, head * d + c}, acc);
                    }
                }
        return CrossAttentionTest.linear(o, p.get("to_out.0.weight").data(), p.get("to_out.0.bias").data());
    }

    @Test void matchesNaiveLoop() {
        TestSeeds.seed(21);
        TemporalAttention a = new TemporalAttention(80, 2, 40, new RotaryEmbedding(32));
        INDArray x = GradAssert.rand(22, 4, 6, 80);
        INDArray got = a.forward(Tensor.of(x.castTo(DataType.FLOAT))).data();
        assertArrayEquals(new long[]{4, 6, 80}, got.shape());
        double err = got.castTo(DataType.DOUBLE).sub(naive(a, x)).amaxNumber().doubleValue();
        a.to(DataType.DOUBLE);
        double errD = a.forward(Tensor.of(x)).data().sub(naive(a, x)).amaxNumber().doubleValue();
        System.out.printf("TemporalAttention vs naive loop: float %.3e, double %.3e%n", err, errD);
        assertTrue(err < 1e-5, "float max error " + err);
        assertTrue(errD < 1e-12, "double max error " + errD);
    }

    @Test void chunkedScoresGiveTheSameResult() {
        TestSeeds.seed(23);
        TemporalAttention a = new TemporalAttention(64, 2, new RotaryEmbedding(32)).maxScoreBytes(1);
        INDArray x = GradAssert.rand(24, 3, 5, 64).castTo(DataType.FLOAT);
        INDArray chunked = a.forward(Tensor.of(x)).data().dup();
        INDArray whole = a.maxScoreBytes(1L << 30).forward(Tensor.of(x)).data();
        assertEquals(0.0, chunked.sub(whole).amaxNumber().doubleValue(), 1e-6);
    }

    @Test void gradientCheckInDouble() {
        RotaryEmbedding rope = new RotaryEmbedding(32);
        TemporalAttention a = new TemporalAttention(68, 2, 34, rope);
        a.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(25, 3, 4, 68).muli(4);                // peaked attention: key gradients well above rounding
        GradAssert.assertGradients("TemporalAttention (x)", t -> a.forward(t[0]), x);
        Map<String, Parameter> p = a.namedEntries();
        for (String key : new String[]{"to_q.weight", "to_k.weight", "time_rel_pos_bias.relative_attention_bias.weight"})
            GradAssert.assertParameterGradients("TemporalAttention (" + key + ")", () -> a.forward(Tensor.of(x)), p.get(key));
        assertNull(p.get("rotary_emb.freqs").grad(), "freqs is a buffer");
    }

    @Test void goldenWeightsLoadStrictly() throws Exception {
        try (TensorFile f = SafeTensors.read(TestData.goldenCase("layer_temporal_attention").resolve("weights.safetensors"))) {
            TemporalAttention a = new TemporalAttention(80, 2, 40, new RotaryEmbedding(32));
            a.load(StateDict.of("golden", f.asMap()));
            assertEquals(f.get("rotary_emb.freqs").load().getFloat(15), a.rotaryEmb().freqs().data().getFloat(15), 0f);
        }
    }

    /** The attn_temp of layer_transformer3d's trace: input norm_temp, output to_out.0, and the rel-pos bias itself. */
    @Test void matchesTheTransformer3dTrace() throws Exception {
        java.nio.file.Path dir = TestData.goldenCase("layer_transformer3d");
        try (TensorFile w = SafeTensors.read(dir.resolve("weights.safetensors"));
             TensorFile trace = SafeTensors.read(dir.resolve("trace.safetensors"))) {
            TemporalAttention a = new TemporalAttention(80, 2, 40, new RotaryEmbedding(32));
            a.load(StateDict.of("layer_transformer3d", w.asMap()).withoutPrefix("transformer_blocks.0.attn_temp."));
            String at = "forward/transformer_blocks.0.attn_temp";
            INDArray bias = trace.get(at + ".time_rel_pos_bias").load();
            assertEquals(0.0, a.timeRelPosBias().forward(3).data().sub(bias).amaxNumber().doubleValue(), 0.0);
            INDArray expected = trace.get(at + ".to_out.0").load();
            INDArray got = a.forward(Tensor.of(trace.get("forward/transformer_blocks.0.norm_temp").load())).data();
            double err = got.sub(expected).amaxNumber().doubleValue();
            System.out.printf("TemporalAttention vs layer_transformer3d trace: %.3e (max |ref| %.3f)%n", err, expected.amaxNumber().doubleValue());
            assertTrue(err <= 1e-5 + 1e-4 * expected.amaxNumber().doubleValue(), "max error " + err);
        }
    }

    @Test void badInputsAreNamed() {
        TemporalAttention a = new TemporalAttention(64, 2, 32, new RotaryEmbedding(32));
        var e = assertThrows(IllegalArgumentException.class, () -> a.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 4, 3, 60))));
        assertTrue(e.getMessage().contains("[4, 3, 60]") && e.getMessage().contains("64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 3, 64))));
        assertTrue(e.getMessage().contains("[3, 64]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.forwardAdd(Tensor.of(Nd4j.zeros(DataType.FLOAT, 4, 3, 64)),
                Tensor.of(Nd4j.zeros(DataType.FLOAT, 4, 4, 64))));
        assertTrue(e.getMessage().contains("[4, 4, 64]") && e.getMessage().contains("[4, 3, 64]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new TemporalAttention(48, 2, 24, new RotaryEmbedding(32)));
        assertTrue(e.getMessage().contains("32") && e.getMessage().contains("24"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TemporalAttention(66, 4, null));
    }

    /**
     * Leading axes are sequences: (b, n, f, c) gives the ((b·n), f, c) result, and with the transformer block's permuted
     * view of its (b, f, n, c) tokens as the residual, the sum comes out laid out like the tokens, the same floats as
     * the attention then an add.
     */
    @Test void leadingAxesAreSequencesAndTheSumIsLaidOutLikeTheResidual() {
        TestSeeds.seed(33);
        TemporalAttention a = new TemporalAttention(64, 2, 32, new RotaryEmbedding(32));
        a.namedEntries().get("to_out.0.bias").data().assign(Nd4j.rand(DataType.FLOAT, 64));
        INDArray tokens = Nd4j.randn(DataType.FLOAT, 2, 5, 6, 64);                       // (b, f, n, c)
        INDArray view = tokens.permute(0, 2, 1, 3);                                       // (b, n, f, c)
        INDArray h = Nd4j.randn(DataType.FLOAT, 2, 6, 5, 64);
        INDArray flat = a.forward(Tensor.of(h.reshape('c', 12, 5, 64))).data();
        INDArray four = a.forward(Tensor.of(h)).data();
        assertArrayEquals(new long[]{2, 6, 5, 64}, four.shape());
        assertArrayEquals(flat.dup('c').data().asFloat(), four.dup('c').data().asFloat(), 0f);
        INDArray sum = a.forwardAdd(Tensor.of(h), Tensor.of(view)).data();
        assertArrayEquals(flat.reshape('c', 2, 6, 5, 64).add(view).data().asFloat(), sum.dup('c').data().asFloat(), 0f);
        assertArrayEquals(view.stride(), sum.stride(), "laid out like the tokens");
        assertTrue(org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(sum.permute(0, 2, 1, 3)));
    }

    // ------------------------------------------------------------------ frame position tables (this port's extension)

    /** The LaVie attention and one with a frame position table, holding the same LaVie weights. */
    private static TemporalAttention[] pair(int frames) {
        TestSeeds.seed(31);
        TemporalAttention plain = new TemporalAttention(64, 2, 32, new RotaryEmbedding(32));
        TemporalAttention tabled = new TemporalAttention(64, 2, 32, new RotaryEmbedding(32), frames);
        StateDict sd = plain.stateDict();
        var report = tabled.load(sd, false);
        assertEquals(java.util.List.of("frame_position_embedding"), report.missing());
        assertTrue(report.unexpected().isEmpty() && report.shapeMismatches().isEmpty(), report.toString());
        return new TemporalAttention[]{plain, tabled};
    }

    @Test void aZeroFramePositionTableChangesNothing() {
        TemporalAttention[] a = pair(8);
        assertArrayEquals(new long[]{8, 64}, a[1].framePositionEmbedding().shape());
        assertEquals(0.0, a[1].framePositionEmbedding().data().amaxNumber().doubleValue(), 0.0, "zero-initialised");
        assertEquals(8, a[1].framePositions());
        assertEquals(0, a[0].framePositions());
        assertNull(a[0].framePositionEmbedding());
        INDArray x = GradAssert.rand(32, 3, 5, 64).castTo(DataType.FLOAT);
        INDArray want = a[0].forward(Tensor.of(x)).data().dup();
        assertArrayEquals(want.data().asFloat(), a[1].forward(Tensor.of(x)).data().data().asFloat(), 0f, "bit for bit");
    }

    @Test void theTableIsAddedToTheInputOfEveryFrame() {
        TemporalAttention[] a = pair(8);
        a[1].framePositionEmbedding().set(GradAssert.rand(33, 8, 64).castTo(DataType.FLOAT));
        INDArray x = GradAssert.rand(34, 3, 5, 64).castTo(DataType.FLOAT);
        INDArray rows = a[1].framePositionEmbedding().data().get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 5),
                org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray shifted = x.add(rows.reshape(1, 5, 64).broadcast(3, 5, 64));
        INDArray want = a[0].forward(Tensor.of(shifted)).data().dup();
        INDArray got = a[1].forward(Tensor.of(x)).data();
        assertEquals(0.0, got.sub(want).amaxNumber().doubleValue(), 1e-6);
    }

    /**
     * Why the table exists: on frames that are all the same (what a clip of pure noise is, on average) LaVie's attention
     * gives every frame the same output, RoPE and relative bias notwithstanding, so it cannot place a frame in the clip;
     * with a table the outputs differ from frame to frame.
     */
    @Test void onlyTheTableTellsIdenticalFramesApart() {
        TemporalAttention[] a = pair(8);
        a[0].namedEntries().get("time_rel_pos_bias.relative_attention_bias.weight").set(GradAssert.rand(35, 32, 2).castTo(DataType.FLOAT));
        a[1].namedEntries().get("time_rel_pos_bias.relative_attention_bias.weight").set(a[0].timeRelPosBias().weight().data().dup());
        a[1].framePositionEmbedding().set(GradAssert.rand(36, 8, 64).castTo(DataType.FLOAT));
        INDArray frame = GradAssert.rand(37, 2, 1, 64).castTo(DataType.FLOAT);
        INDArray x = frame.broadcast(2, 6, 64).dup();                          // 6 identical frames per position
        INDArray plain = a[0].forward(Tensor.of(x)).data();
        INDArray tabled = a[1].forward(Tensor.of(x)).data();
        double plainSpread = 0, tabledSpread = 0;
        for (int f = 1; f < 6; f++) {
            plainSpread = Math.max(plainSpread, frameDiff(plain, f));
            tabledSpread = Math.max(tabledSpread, frameDiff(tabled, f));
        }
        System.out.printf("identical frames: largest output difference to frame 0: LaVie %.2e, with table %.2e%n", plainSpread, tabledSpread);
        assertTrue(plainSpread < 1e-5, "LaVie's attention tells identical frames apart by " + plainSpread);
        assertTrue(tabledSpread > 1e-2, "the table does not tell identical frames apart: " + tabledSpread);
    }

    private static double frameDiff(INDArray y, int f) {
        var all = org.nd4j.linalg.indexing.NDArrayIndex.all();
        return y.get(all, org.nd4j.linalg.indexing.NDArrayIndex.point(f), all)
                .sub(y.get(all, org.nd4j.linalg.indexing.NDArrayIndex.point(0), all)).amaxNumber().doubleValue();
    }

    @Test void framePositionTableGradientCheckInDouble() {
        TemporalAttention[] a = pair(6);
        TemporalAttention t = a[1];
        t.framePositionEmbedding().set(GradAssert.rand(38, 6, 64).castTo(DataType.FLOAT));
        t.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(39, 2, 4, 64).muli(3);                   // 4 of the 6 rows are used
        GradAssert.assertGradients("TemporalAttention with table (x)", u -> t.forward(u[0]), x);
        GradAssert.assertParameterGradients("TemporalAttention (frame_position_embedding)", () -> t.forward(Tensor.of(x)),
                t.framePositionEmbedding());
    }

    @Test void tooManyFramesForTheTableIsNamed() {
        TemporalAttention t = new TemporalAttention(64, 2, 32, new RotaryEmbedding(32), 4);
        var e = assertThrows(IllegalArgumentException.class, () -> t.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 5, 64))));
        assertTrue(e.getMessage().contains("5 frames") && e.getMessage().contains("4") && e.getMessage().contains("frame_position_embeddings"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TemporalAttention(64, 2, 32, null, -1));
        assertEquals(4, t.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 4, 64))).shape()[1]);
    }
}
