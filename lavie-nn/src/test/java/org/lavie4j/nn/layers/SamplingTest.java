package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** Downsample3D and Upsample3D. */
class SamplingTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void downsampleKeys() throws Exception {
        assertEquals(List.of("conv.weight", "conv.bias"), List.copyOf(new Downsample3D(32, 32, 1).stateDict().keys()));
        Downsample3D aliased = new Downsample3D(32, 32, 1, true);
        assertEquals(List.of("Conv2d_0.weight", "Conv2d_0.bias", "conv.weight", "conv.bias"), List.copyOf(aliased.stateDict().keys()));
        assertEquals(2, aliased.parameters().size());
        try (TensorFile golden = TensorFile.open(TestData.goldenCase("layer_downsample3d").resolve("weights.safetensors"))) {
            assertEquals(golden.keys(), Set.copyOf(aliased.stateDict().keys()));
        }
    }

    @Test void upsampleKeys() throws Exception {
        Upsample3D up = new Upsample3D(32, 32);
        assertEquals(List.of("conv.weight", "conv.bias"), List.copyOf(up.stateDict().keys()));
        assertEquals(0, new Upsample3D(32, 32, false).stateDict().size());
        try (TensorFile golden = TensorFile.open(TestData.goldenCase("layer_upsample3d").resolve("weights.safetensors"))) {
            assertEquals(golden.keys(), Set.copyOf(up.stateDict().keys()));
        }
    }

    @Test void downsampleHalvesHeightAndWidthOnly() {
        Downsample3D down = new Downsample3D(3, 5, 1);
        assertArrayEquals(new long[]{2, 5, 4, 3, 4}, down.forward(Tensor.of(Nd4j.rand(DataType.FLOAT, 2, 3, 4, 6, 8))).shape());
        assertArrayEquals(new long[]{1, 5, 2, 3, 4}, down.forward(Tensor.of(Nd4j.rand(DataType.FLOAT, 1, 3, 2, 5, 7))).shape());
    }

    @Test void upsampleIsNearestOnHeightAndWidth() {
        TestSeeds.seed(2);
        Upsample3D up = new Upsample3D(2, 2, false);
        INDArray x = Nd4j.rand(DataType.FLOAT, 1, 2, 3, 2, 3);
        INDArray y = up.forward(Tensor.of(x)).data();
        assertArrayEquals(new long[]{1, 2, 3, 4, 6}, y.shape());
        for (int c = 0; c < 2; c++)
            for (int f = 0; f < 3; f++)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 6; j++)
                        assertEquals(x.getFloat(0, c, f, i / 2, j / 2), y.getFloat(0, c, f, i, j));
        // an explicit size of 2H x 2W equals the x2 path; another size follows torch's floor(dst * in / out)
        assertEquals(y, up.forward(Tensor.of(x), 4, 6).data());
        INDArray z = up.forward(Tensor.of(x), 3, 5).data();
        assertArrayEquals(new long[]{1, 2, 3, 3, 5}, z.shape());
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
                assertEquals(x.getFloat(0, 1, 2, (int) Math.floor(i * (2f / 3f)), (int) Math.floor(j * (3f / 5f))), z.getFloat(0, 1, 2, i, j));
    }

    @Test void upsampleWithConvShapes() {
        Upsample3D up = new Upsample3D(4, 6);
        assertArrayEquals(new long[]{1, 6, 2, 6, 8}, up.forward(Tensor.of(Nd4j.rand(DataType.FLOAT, 1, 4, 2, 3, 4))).shape());
        assertArrayEquals(new long[]{1, 6, 2, 5, 7}, up.forward(Tensor.of(Nd4j.rand(DataType.FLOAT, 1, 4, 2, 3, 4)), 5, 7).shape());
    }

    @Test void gradientChecks() {
        TestSeeds.seed(9);
        Downsample3D down = new Downsample3D(2, 3, 1);
        down.to(DataType.DOUBLE);
        GradAssert.assertGradients("Downsample3D (input)", t -> down.forward(t[0]), GradAssert.rand(1, 1, 2, 2, 5, 4));
        Tensor xd = Tensor.of(GradAssert.rand(2, 1, 2, 2, 5, 4));
        GradAssert.assertParameterGradients("Downsample3D conv.weight", () -> down.forward(xd), down.namedEntries().get("conv.weight"));

        Upsample3D up = new Upsample3D(2, 3);
        up.to(DataType.DOUBLE);
        GradAssert.assertGradients("Upsample3D (input)", t -> up.forward(t[0]), GradAssert.rand(3, 1, 2, 2, 3, 2));
        GradAssert.assertGradients("Upsample3D sized (input)", t -> up.forward(t[0], 5, 3), GradAssert.rand(4, 1, 2, 2, 3, 2));
        Tensor xu = Tensor.of(GradAssert.rand(5, 1, 2, 2, 3, 2));
        GradAssert.assertParameterGradients("Upsample3D conv.weight", () -> up.forward(xu), up.namedEntries().get("conv.weight"));
    }

    @Test void wrongChannelCountIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> new Downsample3D(4, 4, 1).forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 3, 2, 4, 4))));
        assertTrue(e.getMessage().contains("[1, 3, 2, 4, 4]") && e.getMessage().contains("4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Upsample3D(4, 4).forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 4, 4, 4))));
        assertTrue(e.getMessage().contains("[1, 4, 4, 4]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Downsample3D(4, 4, 0));
    }
}
