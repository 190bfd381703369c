package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.*;

class Transformer3DModelTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    /** The layer_transformer3d golden module: 2 heads × 40, 80 channels, 8 groups, text width 32. */
    private static Transformer3DModel golden() throws IOException {
        Transformer3DModel m = new Transformer3DModel(2, 40, 80, 8, 32, new RotaryEmbedding(32));
        try (TensorFile w = SafeTensors.read(TestData.goldenCase("layer_transformer3d").resolve("weights.safetensors"))) {
            m.load(StateDict.of(w.path().toString(), w.asMap()));
        }
        return m;
    }

    private static INDArray run(Transformer3DModel m, INDArray x, INDArray ctx, FrameLayout layout) {
        try (Tape off = Grad.disabled()) {
            return m.forward(Tensor.of(x), Tensor.of(ctx), layout).data().dup();
        }
    }

    @Test void imageFramesSkipTemporalAttention() throws IOException {
        TestSeeds.seed(1);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 80, 5, 4, 4), ctx = Nd4j.randn(DataType.FLOAT, 2, 3, 77, 32);
        FrameLayout joint = new FrameLayout(3, 2);
        INDArray y = run(golden(), x, ctx, joint);
        // without a temporal branch (output projection zeroed) every frame is processed on its own
        Transformer3DModel noTemporal = golden();
        noTemporal.namedEntries().forEach((k, p) -> {
            if (k.contains("attn_temp.to_out.0.")) p.data().assign(0);
        });
        INDArray yNoTemporal = run(noTemporal, x, ctx, joint);
        var images = NDArrayIndex.interval(3, 5);
        var clip = NDArrayIndex.interval(0, 3);
        assertEquals(yNoTemporal.get(NDArrayIndex.all(), NDArrayIndex.all(), images), y.get(NDArrayIndex.all(), NDArrayIndex.all(), images),
                "an image frame's temporal branch is the identity");
        assertFalse(yNoTemporal.get(NDArrayIndex.all(), NDArrayIndex.all(), clip).equalsWithEps(y.get(NDArrayIndex.all(), NDArrayIndex.all(), clip), 1e-4),
                "the clip's frames do go through temporal attention");
        // and the clip part equals a plain video run of the clip with its caption
        INDArray clipOnly = run(golden(), x.get(NDArrayIndex.all(), NDArrayIndex.all(), clip).dup(),
                ctx.get(NDArrayIndex.all(), NDArrayIndex.point(0)).dup(), FrameLayout.video(3));
        assertTrue(clipOnly.equalsWithEps(y.get(NDArrayIndex.all(), NDArrayIndex.all(), clip), 1e-5));
    }

    /**
     * Two samples at once give each sample's result alone (the temporal branch reads the tokens as a permuted view and
     * writes its residual sum laid out like them, batch 1 and 2 alike), and a transformer block hands on c-contiguous
     * tokens.
     */
    @Test void aBatchOfTwoIsEachSampleAlone() throws IOException {
        TestSeeds.seed(2);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 80, 5, 4, 4), ctx = Nd4j.randn(DataType.FLOAT, 2, 77, 32);
        Transformer3DModel m = golden();
        INDArray both = run(m, x, ctx, FrameLayout.video(5));
        for (int b = 0; b < 2; b++) {
            var one = NDArrayIndex.interval(b, b + 1);
            INDArray alone = run(m, x.get(one).dup(), ctx.get(one).dup(), FrameLayout.video(5));
            assertTrue(alone.equalsWithEps(both.get(one), 1e-5), "sample " + b);
        }
        BasicTransformerBlock block = new BasicTransformerBlock(80, 2, 40, 32, new RotaryEmbedding(32));
        block.namedEntries().forEach((k, p) -> {
            if (k.contains("to_out.0.weight")) p.data().assign(Nd4j.randn(DataType.FLOAT, p.data().shape()).muli(0.1));
        });
        for (int batch = 1; batch <= 2; batch++) {
            INDArray tokens = Nd4j.randn(DataType.FLOAT, batch * 5, 16, 80), text = Nd4j.randn(DataType.FLOAT, batch * 5, 77, 32);
            INDArray kept = tokens.dup();
            try (Tape off = Grad.disabled()) {
                INDArray y = block.forward(Tensor.of(tokens), Tensor.of(text), FrameLayout.video(5)).data();
                assertArrayEquals(new long[]{batch * 5L, 16, 80}, y.shape());
                assertTrue(org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(y), "batch " + batch + ": " + java.util.Arrays.toString(y.stride()));
            }
            assertEquals(kept, tokens, "the block's input is only read");
        }
    }

    @Test void gradientCheck() throws IOException {
        Transformer3DModel m = new Transformer3DModel(1, 32, 32, 8, 6, new RotaryEmbedding(32));
        m.to(DataType.DOUBLE);
        GradAssert.assertGradients("Transformer3DModel (x, context)", t -> m.forward(t[0], t[1], new FrameLayout(2, 1)),
                GradAssert.rand(1, 1, 32, 3, 2, 2), GradAssert.rand(2, 1, 2, 5, 6));
        GradAssert.assertParameterGradients("Transformer3DModel (attn_temp.to_v)", () -> m.forward(Tensor.of(GradAssert.rand(3, 1, 32, 3, 2, 2)),
                Tensor.of(GradAssert.rand(4, 1, 5, 6)), FrameLayout.video(3)), m.namedEntries().get("transformer_blocks.0.attn_temp.to_v.weight"));
    }
}
