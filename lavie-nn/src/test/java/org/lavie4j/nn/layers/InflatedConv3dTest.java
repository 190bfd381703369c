package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class InflatedConv3dTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void keysAreThoseOfTheInflatedConv2d() {
        InflatedConv3d conv = new InflatedConv3d(4, 8, 3, 1, 1);
        assertEquals(List.of("weight", "bias"), List.copyOf(conv.stateDict().keys()));
        assertArrayEquals(new long[]{8, 4, 3, 3}, conv.weight().shape());
    }

    @Test void equalsConv2dAppliedToEachFrame() {
        TestSeeds.seed(3);
        InflatedConv3d conv = new InflatedConv3d(3, 5, 3, 2, 1);
        INDArray video = Nd4j.rand(DataType.FLOAT, 2, 3, 4, 7, 6);
        INDArray y = conv.forward(Tensor.of(video)).data();
        assertArrayEquals(new long[]{2, 5, 4, 4, 3}, y.shape());
        for (int b = 0; b < 2; b++) {
            for (int f = 0; f < 4; f++) {
                INDArray frame = video.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(f)).dup().reshape(1, 3, 7, 6);
                INDArray expected = conv.conv(Tensor.of(frame)).data();
                INDArray got = y.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(f)).dup().reshape(1, 5, 4, 3);
                assertTrue(expected.equalsWithEps(got, 1e-6), "frame " + b + "," + f);
            }
        }
    }

    @Test void gradientCheck() {
        InflatedConv3d conv = new InflatedConv3d(2, 3, 3, 1, 1);
        conv.to(DataType.DOUBLE);
        GradCheck.Result r = GradCheck.check(t -> conv.forward(t[0]), Nd4j.rand(DataType.DOUBLE, 1, 2, 3, 4, 5));
        System.out.println("gradcheck InflatedConv3d (input) " + r);
        assertTrue(r.maxError() < 1e-5, r.toString());
    }

    @Test void wrongInputShapeIsNamed() {
        InflatedConv3d conv = new InflatedConv3d(4, 8, 3, 1, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> conv.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 3, 2, 4, 4))));
        assertTrue(e.getMessage().contains("[2, 3, 4, 4]") || e.getMessage().contains("3"), e.getMessage());
    }
}
