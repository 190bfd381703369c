package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.unet.VsrGolden;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The VSR temporal-convolution layers: {@link TemporalConv}, {@link ResnetBlock3DCNN}, {@link TemporalConvModule}. */
class TemporalConvModuleTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261126);
    }

    private static INDArray run(java.util.function.Supplier<Tensor> f) {
        try (Tape off = Grad.disabled()) {
            return f.get().data().dup();
        }
    }

    private static void assertClose(INDArray expected, INDArray actual, double atol, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        double err = expected.sub(actual).amaxNumber().doubleValue();
        System.out.printf("%s: max abs err %.3g%n", what, err);
        assertTrue(err <= atol, what + ": max abs err " + err + " > " + atol);
    }

    @Test void temporalConvIsAZeroPaddedConvolutionOverFrames() {
        TemporalConv conv = new TemporalConv(2, 3, 5);
        assertEquals(List.of("weight", "bias"), List.copyOf(conv.stateDict().keys()));
        assertArrayEquals(new long[]{3, 2, 5, 1, 1}, conv.weight().shape());
        conv.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(1, 2, 2, 4, 3, 2);                       // (b, c, f, h, w), 4 frames < kernel 5
        INDArray y = conv.forward(Tensor.of(x)).data();
        assertArrayEquals(new long[]{2, 3, 4, 3, 2}, y.shape());
        INDArray w = conv.weight().data(), bias = conv.bias().data();
        for (int b = 0; b < 2; b++)
            for (int o = 0; o < 3; o++)
                for (int f = 0; f < 4; f++)
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 2; j++) {
                            double s = bias.getDouble(o);
                            for (int c = 0; c < 2; c++)
                                for (int k = 0; k < 5; k++) {
                                    int src = f + k - 2;
                                    if (src >= 0 && src < 4) s += w.getDouble(o, c, k, 0, 0) * x.getDouble(b, c, src, i, j);
                                }
                            assertEquals(s, y.getDouble(b, o, f, i, j), 1e-12, "y[" + b + "," + o + "," + f + "," + i + "," + j + "]");
                        }
        assertThrows(IllegalArgumentException.class, () -> new TemporalConv(2, 2, 4));
        var e = assertThrows(IllegalArgumentException.class, () -> conv.forward(Tensor.of(Nd4j.zeros(DataType.DOUBLE, 1, 3, 2, 2, 2))));
        assertTrue(e.getMessage().contains("[1, 3, 2, 2, 2]"), e.getMessage());
    }

    @Test void resnetBlock3DCNNKeysAreThoseOfTheReference() {
        ResnetBlock3DCNN withTemb = new ResnetBlock3DCNN(32, 5, 64);
        assertEquals(List.of("norm1.weight", "norm1.bias", "conv1.weight", "conv1.bias", "time_emb_proj.weight", "time_emb_proj.bias",
                "norm2.weight", "norm2.bias", "conv2.weight", "conv2.bias"), List.copyOf(withTemb.stateDict().keys()));
        assertArrayEquals(new long[]{32, 32, 5, 1, 1}, withTemb.stateDict().get("conv1.weight").shape());
        assertArrayEquals(new long[]{32, 32, 3, 1, 1}, withTemb.stateDict().get("conv2.weight").shape());
        ResnetBlock3DCNN noTemb = new ResnetBlock3DCNN(32, 3, 0);
        assertFalse(noTemb.stateDict().keys().stream().anyMatch(k -> k.startsWith("time_emb_proj")));
        var e = assertThrows(IllegalArgumentException.class,
                () -> noTemb.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 32, 2, 2, 2)), Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 64))));
        assertTrue(e.getMessage().contains("time_emb_proj"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> withTemb.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 32, 2, 2, 2)), Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 63))));
        assertTrue(e.getMessage().contains("[1, 63]") && e.getMessage().contains("64"), e.getMessage());
    }

    @Test void resnetBlock3DCNNMatchesTheReferenceTrace() {
        // down_blocks.1.attentions.0.resblock_temporal: kernel 3, no time embedding, 32 groups, eps 1e-6
        ResnetBlock3DCNN block = VsrGolden.load(new ResnetBlock3DCNN(32, 3, 0), "down_blocks.1.attentions.0.resblock_temporal.");
        INDArray x = VsrGolden.trace("forward/down_blocks.1.resnets.0");
        assertClose(VsrGolden.trace("forward/down_blocks.1.attentions.0.resblock_temporal"), run(() -> block.forward(Tensor.of(x), null)),
                VsrGolden.ATOL, "resblock_temporal vs trace");
    }

    @Test void temporalConvModuleMatchesTheReferenceTrace() {
        INDArray emb = VsrGolden.emb();
        TemporalConvModule down = VsrGolden.load(new TemporalConvModule(32, 128), "down_temporal_blocks.0.");
        INDArray x = VsrGolden.trace("forward/down_blocks.0.downsamplers.0.conv");
        assertClose(VsrGolden.trace("forward/down_temporal_blocks.0"), run(() -> down.forward(Tensor.of(x), Tensor.of(emb))),
                VsrGolden.ATOL, "down_temporal_blocks.0 vs trace");
        TemporalConvModule mid = VsrGolden.load(new TemporalConvModule(32, 128), "mid_temporal_block.");
        INDArray m = VsrGolden.trace("forward/mid_block");
        assertClose(VsrGolden.trace("forward/mid_temporal_block"), run(() -> mid.forward(Tensor.of(m), Tensor.of(emb))),
                VsrGolden.ATOL, "mid_temporal_block vs trace");
    }

    @Test void freshModuleIsTheIdentityAndHasTheReferenceKeys() {
        TemporalConvModule m = new TemporalConvModule(32, 16);
        List<String> keys = List.copyOf(m.stateDict().keys());
        assertEquals(22, keys.size());
        assertEquals("resblocks_3d_t.norm1.weight", keys.get(0));
        assertTrue(keys.containsAll(List.of("resblocks_3d_t.time_emb_proj.weight", "resblocks_3d_s.conv1.weight", "shift_conv.weight", "shift_conv.bias")));
        assertArrayEquals(new long[]{32, 32, 1, 1}, m.stateDict().get("shift_conv.weight").shape());
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 32, 3, 2, 2);
        assertEquals(x, run(() -> m.forward(Tensor.of(x), Tensor.of(Nd4j.randn(DataType.FLOAT, 2, 16)))), "zero-initialised shift_conv");
    }

    @Test void gradientCheckTemporalConv() {
        TemporalConv conv = new TemporalConv(2, 3, 3);
        conv.to(DataType.DOUBLE);
        GradAssert.assertGradients("TemporalConv (x)", t -> conv.forward(t[0]), GradAssert.rand(1, 1, 2, 3, 2, 2));
        Tensor x = Tensor.of(GradAssert.rand(2, 1, 2, 3, 2, 2));
        GradAssert.assertParameterGradients("TemporalConv (w, b)", () -> conv.forward(x), conv.weight(), conv.bias());
    }

    @Test void gradientCheckResnetBlock3DCNN() {
        ResnetBlock3DCNN block = new ResnetBlock3DCNN(4, 5, 6, 2, 1e-6);
        block.namedEntries().forEach((k, p) -> { if (k.startsWith("norm")) p.set(Nd4j.rand(7L + k.hashCode(), p.shape()).castTo(DataType.FLOAT).addi(0.5)); });
        block.to(DataType.DOUBLE);
        GradAssert.assertGradients("ResnetBlock3DCNN (x, temb)", t -> block.forward(t[0], t[1]),
                GradAssert.rand(3, 2, 4, 3, 2, 2), GradAssert.rand(4, 2, 6));
        Tensor x = Tensor.of(GradAssert.rand(5, 2, 4, 3, 2, 2)), temb = Tensor.of(GradAssert.rand(6, 2, 6));
        for (String key : List.of("norm1.weight", "conv1.weight", "time_emb_proj.weight", "norm2.bias", "conv2.weight", "conv2.bias"))
            GradAssert.assertParameterGradients("ResnetBlock3DCNN " + key, () -> block.forward(x, temb), block.namedEntries().get(key));
    }

    @Test void gradientCheckTemporalConvModule() {
        // 64 channels: 2 per group (with one channel per group GroupNorm removes the per-channel time embedding exactly)
        TemporalConvModule m = new TemporalConvModule(64, 4);
        m.namedEntries().get("shift_conv.weight").set(Nd4j.randn(DataType.FLOAT, 64, 64, 1, 1).muli(0.2));   // trained, not zero
        m.to(DataType.DOUBLE);
        GradAssert.assertGradients("TemporalConvModule (x, temb)", t -> m.forward(t[0], t[1]),
                GradAssert.rand(7, 1, 64, 3, 1, 2), GradAssert.rand(8, 1, 4));
        Tensor x = Tensor.of(GradAssert.rand(9, 1, 64, 3, 1, 2)), temb = Tensor.of(GradAssert.rand(10, 1, 4));
        for (String key : List.of("resblocks_3d_t.conv1.weight", "resblocks_3d_s.time_emb_proj.bias", "shift_conv.weight"))
            GradAssert.assertParameterGradients("TemporalConvModule " + key, () -> m.forward(x, temb), m.namedEntries().get(key));
    }

    @Test void embeddingLooksUpRowsAndIsDifferentiable() {
        Embedding e = new Embedding(5, 3);
        assertEquals(List.of("weight"), List.copyOf(e.stateDict().keys()));
        INDArray ids = Nd4j.createFromArray(4L, 0L, 4L);
        INDArray y = e.forward(ids).data();
        assertArrayEquals(new long[]{3, 3}, y.shape());
        assertEquals(e.weight().data().getRow(4), y.getRow(0));
        assertEquals(e.weight().data().getRow(0), y.getRow(1));
        assertThrows(IndexOutOfBoundsException.class, () -> e.forward(Nd4j.createFromArray(5L)));
        e.to(DataType.DOUBLE);
        GradAssert.assertParameterGradients("Embedding (weight, repeated id)", () -> e.forward(ids), e.weight());
    }
}
