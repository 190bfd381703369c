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

    @Test void gradientCheck() throws IOException {
        Transformer3DModel m = new Transformer3DModel(1, 32, 32, 8, 6, new RotaryEmbedding(32));
        m.to(DataType.DOUBLE);
        GradAssert.assertGradients("Transformer3DModel (x, context)", t -> m.forward(t[0], t[1], new FrameLayout(2, 1)),
                GradAssert.rand(1, 1, 32, 3, 2, 2), GradAssert.rand(2, 1, 2, 5, 6));
        GradAssert.assertParameterGradients("Transformer3DModel (attn_temp.to_v)", () -> m.forward(Tensor.of(GradAssert.rand(3, 1, 32, 3, 2, 2)),
                Tensor.of(GradAssert.rand(4, 1, 5, 6)), FrameLayout.video(3)), m.namedEntries().get("transformer_blocks.0.attn_temp.to_v.weight"));
    }
}
