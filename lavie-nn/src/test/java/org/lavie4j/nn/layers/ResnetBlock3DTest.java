package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

class ResnetBlock3DTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void keysAreThoseOfTheReference() throws Exception {
        ResnetBlock3D block = new ResnetBlock3D(32, 64, 128, 8, 1e-5);
        assertEquals(List.of("norm1.weight", "norm1.bias", "conv1.weight", "conv1.bias", "time_emb_proj.weight", "time_emb_proj.bias",
                "norm2.weight", "norm2.bias", "conv2.weight", "conv2.bias", "conv_shortcut.weight", "conv_shortcut.bias"),
                List.copyOf(block.stateDict().keys()));
        try (TensorFile golden = TensorFile.open(TestData.goldenCase("layer_resnet3d").resolve("weights.safetensors"))) {
            assertEquals(golden.keys(), Set.copyOf(block.stateDict().keys()));
            block.stateDict().asMap().forEach((k, v) -> assertArrayEquals(golden.get(k).shape(), v.shape(), k));
        }
    }

    @Test void noShortcutWhenChannelsAreEqualAndNoProjectionWithoutTemb() {
        ResnetBlock3D same = new ResnetBlock3D(8, 8, 16, 4, 1e-5);
        assertFalse(same.stateDict().keys().stream().anyMatch(k -> k.startsWith("conv_shortcut")));
        ResnetBlock3D noTemb = new ResnetBlock3D(ResnetBlock3D.Config.of(8, 8, 0, 4, 1e-5));
        assertFalse(noTemb.stateDict().keys().stream().anyMatch(k -> k.startsWith("time_emb_proj")));
        Tensor y = noTemb.forward(Tensor.of(Nd4j.rand(DataType.FLOAT, 1, 8, 2, 3, 3)), null);
        assertArrayEquals(new long[]{1, 8, 2, 3, 3}, y.shape());
    }

    @Test void outputScaleFactorDividesTheSum() {
        TestSeeds.seed(5);
        ResnetBlock3D one = new ResnetBlock3D(4, 8, 6, 2, 1e-5);
        ResnetBlock3D two = new ResnetBlock3D(one.config().withOutputScaleFactor(2.0));
        two.load(one.stateDict());
        Tensor x = Tensor.of(Nd4j.rand(DataType.FLOAT, 2, 4, 2, 3, 3)), temb = Tensor.of(Nd4j.rand(DataType.FLOAT, 2, 6));
        INDArray a = one.forward(x, temb).data(), b = two.forward(x, temb).data();
        assertTrue(a.div(2).equalsWithEps(b, 1e-6));
    }

    @Test void gradientCheckInputsAndTemb() {
        ResnetBlock3D block = doubleBlock(ResnetBlock3D.TimeEmbeddingNorm.DEFAULT);
        GradAssert.assertGradients("ResnetBlock3D (x, temb)", t -> block.forward(t[0], t[1]),
                GradAssert.rand(1, 2, 4, 2, 3, 3), GradAssert.rand(2, 2, 6));
    }

    @Test void gradientCheckScaleShiftVariant() {
        ResnetBlock3D block = doubleBlock(ResnetBlock3D.TimeEmbeddingNorm.SCALE_SHIFT);
        GradAssert.assertGradients("ResnetBlock3D scale_shift", t -> block.forward(t[0], t[1]),
                GradAssert.rand(3, 1, 4, 2, 3, 3), GradAssert.rand(4, 1, 6));
    }

    @Test void gradientCheckParameters() {
        ResnetBlock3D block = doubleBlock(ResnetBlock3D.TimeEmbeddingNorm.DEFAULT);
        Tensor x = Tensor.of(GradAssert.rand(5, 2, 4, 2, 3, 3)), temb = Tensor.of(GradAssert.rand(6, 2, 6));
        for (String key : List.of("norm1.weight", "conv1.weight", "time_emb_proj.weight", "norm2.bias", "conv_shortcut.weight")) {
            GradAssert.assertParameterGradients("ResnetBlock3D " + key, () -> block.forward(x, temb), block.namedEntries().get(key));
        }
    }

    @Test void wrongChannelCountIsNamed() {
        ResnetBlock3D block = new ResnetBlock3D(8, 16, 12, 4, 1e-5);
        var e = assertThrows(IllegalArgumentException.class,
                () -> block.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 6, 2, 4, 4)), Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 12))));
        assertTrue(e.getMessage().contains("[1, 6, 2, 4, 4]") && e.getMessage().contains("8"), e.getMessage());
    }

    @Test void wrongTembWidthIsNamed() {
        ResnetBlock3D block = new ResnetBlock3D(8, 16, 12, 4, 1e-5);
        var e = assertThrows(IllegalArgumentException.class,
                () -> block.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 8, 2, 4, 4)), Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 10))));
        assertTrue(e.getMessage().contains("[1, 10]") && e.getMessage().contains("[1, 8, 2, 4, 4]") && e.getMessage().contains("12"), e.getMessage());
    }

    @Test void invalidConfigsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new ResnetBlock3D(10, 16, 12, 4, 1e-5));
        assertThrows(IllegalArgumentException.class, () -> ResnetBlock3D.TimeEmbeddingNorm.parse("ada_group"));
        assertThrows(IllegalArgumentException.class, () -> new ResnetBlock3D.Config(8, 16, 12, 4, 4, 1e-5,
                ResnetBlock3D.TimeEmbeddingNorm.DEFAULT, 1.0, false));
    }

    private static ResnetBlock3D doubleBlock(ResnetBlock3D.TimeEmbeddingNorm norm) {
        TestSeeds.seed(11);
        ResnetBlock3D block = new ResnetBlock3D(new ResnetBlock3D.Config(4, 8, 6, 2, 4, 1e-5, norm, 1.0, true));
        // non-trivial norm affines so that their gradients are exercised
        block.namedEntries().forEach((k, p) -> { if (k.startsWith("norm")) p.set(Nd4j.rand(7L + k.hashCode(), p.shape()).castTo(DataType.FLOAT).addi(0.5)); });
        block.to(DataType.DOUBLE);
        return block;
    }

}
