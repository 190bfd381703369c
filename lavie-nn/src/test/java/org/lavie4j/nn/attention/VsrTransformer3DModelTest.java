package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.unet.VsrGolden;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The VSR transformer ({@link VsrTransformer3DModel} around a {@link VsrTransformerBlock}). */
class VsrTransformer3DModelTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261127);
    }

    private static INDArray run(VsrTransformer3DModel m, INDArray x, INDArray ctx) {
        try (Tape off = Grad.disabled()) {
            return m.forward(Tensor.of(x), Tensor.of(ctx)).data().dup();
        }
    }

    /** A golden transformer of the tiny VSR UNet: 32 channels, 1 head, 8 groups, text width 48. */
    private static VsrTransformer3DModel golden(String prefix, boolean onlyCross) {
        return VsrGolden.load(new VsrTransformer3DModel(1, 32, 32, 8, 48, onlyCross, new RotaryEmbedding(32)), prefix);
    }

    private static void assertClose(INDArray expected, INDArray actual, String what) {
        double err = expected.sub(actual).amaxNumber().doubleValue();
        System.out.printf("%s: max abs err %.3g (|expected| max %.3g)%n", what, err, expected.amaxNumber().doubleValue());
        assertTrue(err <= VsrGolden.ATOL, what + ": max abs err " + err);
    }

    @Test void keysAndShapesAreThoseOfTheReference() {
        VsrTransformer3DModel cross = new VsrTransformer3DModel(8, 64, 512, 32, 1024, true, new RotaryEmbedding(32));
        List<String> keys = List.copyOf(cross.stateDict().keys());
        assertEquals(43, keys.size());
        assertEquals(List.of("resblock_temporal.norm1.weight", "resblock_temporal.norm1.bias", "resblock_temporal.conv1.weight"), keys.subList(0, 3));
        assertEquals(List.of("proj_out.weight", "proj_out.bias"), keys.subList(41, 43));
        var sd = cross.stateDict();
        assertArrayEquals(new long[]{512, 1024}, sd.get("transformer_blocks.0.attn1.to_k.weight").shape(), "cross-only attn1 reads text");
        assertArrayEquals(new long[]{512, 512}, sd.get("proj_in.weight").shape(), "linear projection");
        assertArrayEquals(new long[]{512, 512, 3, 1, 1}, sd.get("resblock_temporal.conv1.weight").shape());
        assertArrayEquals(new long[]{32, 8}, sd.get("transformer_blocks.0.attn_temporal.time_rel_pos_bias.relative_attention_bias.weight").shape());
        assertTrue(sd.contains("transformer_blocks.0.norm_temporal.weight") && sd.contains("transformer_blocks.0.attn_temporal.rotary_emb.freqs"));
        VsrTransformer3DModel self = new VsrTransformer3DModel(8, 128, 1024, 32, 1024, false, new RotaryEmbedding(32));
        assertArrayEquals(new long[]{1024, 1024}, self.stateDict().get("transformer_blocks.0.attn1.to_k.weight").shape());
        assertFalse(self.block().onlyCrossAttention());
        assertEquals(0.0, self.block().attnTemporal().namedEntries().get("to_out.0.weight").data().amaxNumber().doubleValue(),
                "a fresh temporal attention starts with a zero output weight");
    }

    @Test void crossOnlyTransformerMatchesTheReferenceTrace() {
        VsrTransformer3DModel m = golden("down_blocks.1.attentions.0.", true);
        INDArray y = run(m, VsrGolden.trace("forward/down_blocks.1.resnets.0"), VsrGolden.io("in.encoder_hidden_states"));
        assertClose(VsrGolden.trace("forward/down_blocks.1.attentions.0.sample"), y, "down_blocks.1.attentions.0 (cross-only) vs trace");
    }

    @Test void selfAttentionTransformerMatchesTheReferenceTrace() {
        VsrTransformer3DModel m = golden("mid_block.attentions.0.", false);
        INDArray y = run(m, VsrGolden.trace("forward/mid_block.resnets.0"), VsrGolden.io("in.encoder_hidden_states"));
        assertClose(VsrGolden.trace("forward/mid_block.attentions.0.sample"), y, "mid_block.attentions.0 (self) vs trace");
    }

    @Test void withoutTemporalPartsFramesAreIndependent() {
        VsrTransformer3DModel m = new VsrTransformer3DModel(2, 16, 32, 8, 6, true, new RotaryEmbedding(16));
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 32, 3, 2, 3), ctx = Nd4j.randn(DataType.FLOAT, 2, 5, 6);
        int[] order = {2, 0, 1};
        INDArray permuted = Nd4j.concat(2, x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(2, 3)),
                x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 2)));
        INDArray y = run(m, x, ctx), yp = run(m, permuted, ctx);
        assertFalse(frame(yp, 0).equalsWithEps(frame(y, order[0]), 1e-4), "temporal conv and attention mix frames");
        // switch off both temporal paths: the temporal resblock's conv2 and the temporal attention's output projection
        m.namedEntries().forEach((k, p) -> {
            if (k.startsWith("resblock_temporal.conv2.") || k.contains("attn_temporal.to_out.0.")) p.data().assign(0);
        });
        y = run(m, x, ctx);
        yp = run(m, permuted, ctx);
        for (int f = 0; f < 3; f++) assertTrue(frame(yp, f).equalsWithEps(frame(y, order[f]), 1e-5), "frame " + f);
    }

    private static INDArray frame(INDArray video, int f) {
        return video.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(f)).dup();
    }

    @Test void gradientCheck() {
        // fewer sampled entries than GradAssert's 40: a whole transformer per evaluation (the sub-layers have their own checks)
        GradCheck.Settings settings = GradCheck.Settings.defaults().withSamples(16);
        for (boolean onlyCross : new boolean[]{true, false}) {
            VsrTransformer3DModel m = new VsrTransformer3DModel(1, 32, 32, 8, 6, onlyCross, new RotaryEmbedding(32));
            m.namedEntries().forEach((k, p) -> { if (k.contains("attn_temporal.to_out.0.weight")) p.set(Nd4j.randn(DataType.FLOAT, p.shape()).muli(0.2)); });
            m.to(DataType.DOUBLE);
            String name = onlyCross ? "VsrTransformer3D cross-only" : "VsrTransformer3D self";
            check(name + " (x, ctx)", GradCheck.check(t -> m.forward(t[0], t[1]), settings,
                    GradAssert.rand(1, 1, 32, 3, 1, 2), GradAssert.rand(2, 1, 4, 6)));
            if (!onlyCross) continue;   // the parameters specific to this model, once
            Tensor x = Tensor.of(GradAssert.rand(3, 1, 32, 3, 1, 2)), ctx = Tensor.of(GradAssert.rand(4, 1, 4, 6));
            var p = m.namedEntries();
            check(name + " (resblock_temporal.conv1, proj_in, attn1.to_k)", GradCheck.checkParameters(() -> m.forward(x, ctx), settings,
                    p.get("resblock_temporal.conv1.weight"), p.get("proj_in.weight"), p.get("transformer_blocks.0.attn1.to_k.weight")));
        }
    }

    private static void check(String name, GradCheck.Result r) {
        System.out.printf("gradcheck %-28s %s%n", name, r);
        assertTrue(r.checked() > 0 && r.maxError() < GradAssert.THRESHOLD, name + ": " + r);
    }

    @Test void wrongShapesAreNamed() {
        VsrTransformer3DModel m = new VsrTransformer3DModel(1, 32, 32, 8, 6, true, new RotaryEmbedding(32));
        var e = assertThrows(IllegalArgumentException.class, () -> run(m, Nd4j.zeros(DataType.FLOAT, 1, 32, 2, 2, 2), Nd4j.zeros(DataType.FLOAT, 1, 5, 7)));
        assertTrue(e.getMessage().contains("[1, 5, 7]") && e.getMessage().contains("6"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(m, Nd4j.zeros(DataType.FLOAT, 1, 16, 2, 2, 2), Nd4j.zeros(DataType.FLOAT, 1, 5, 6)));
        assertTrue(e.getMessage().contains("[1, 16, 2, 2, 2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new VsrTransformer3DModel(2, 32, 32, 8, 6, true, null));
    }
}
