package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The sliced (memory-bounded) inference paths of {@link Slices} against their whole-tensor twins, in double precision
 * so that only summation order can differ.
 */
class SlicesTest {
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    /** Every parameter random (GroupNorm's γ around 1, β around 0; the zero-initialised shift conv non-zero). */
    private static <M extends Module> M randomised(M m) {
        m.to(DataType.DOUBLE);
        long seed = 1;
        for (var e : m.namedParameters().entrySet()) {
            Parameter p = e.getValue();
            INDArray r = GradAssert.rand(seed++, p.shape()).muli(0.3);
            if (e.getKey().startsWith("norm") && e.getKey().endsWith("weight")) r.addi(1);
            p.data().assign(r);
        }
        return m;
    }

    private static INDArray run(Supplier<Tensor> f) {
        try (Tape off = Grad.disabled()) {
            return f.get().data().dup();
        }
    }

    private static void assertSame(INDArray whole, INDArray sliced, String what) {
        assertArrayEquals(whole.shape(), sliced.shape(), what);
        double diff = whole.sub(sliced).amaxNumber().doubleValue(), scale = whole.amaxNumber().doubleValue();
        System.out.printf("%s: max abs diff %.3e (output max %.3e)%n", what, diff, scale);
        assertTrue(scale > 0.1, what + ": a degenerate output");
        assertTrue(diff <= 1e-12 * scale, what + ": sliced differs from whole by " + diff);
    }

    @Test void resnetOnChannelPartsEqualsTheResnetOnTheirConcatenation() {
        // 20 + 12 channels in 4 groups of 8: the first part ends inside group 2; a shortcut conv; output scale 2;
        // temb (1, C) broadcast to the batch of 2; 5 frames in slices of 2 (the last one shorter)
        ResnetBlock3D.Config config = ResnetBlock3D.Config.of(32, 16, 24, 4, 1e-5).withOutputScaleFactor(2.0);
        ResnetBlock3D r = randomised(new ResnetBlock3D(config));
        INDArray a = GradAssert.rand(11, 2, 20, 5, 6, 4).addi(0.7), b = GradAssert.rand(12, 2, 12, 5, 6, 4).muli(3);
        INDArray temb = GradAssert.rand(13, 1, 24);
        INDArray whole = run(() -> r.forward(Ops.concat(1, Tensor.of(a), Tensor.of(b)), Tensor.of(temb)));
        for (int slice : new int[]{1, 2, 5, 9})
            assertSame(whole, run(() -> r.forwardSliced(new Tensor[]{Tensor.of(a), Tensor.of(b)}, Tensor.of(temb), slice)),
                    "ResnetBlock3D, parts 20 + 12, slices of " + slice);
        ResnetBlock3D plain = randomised(new ResnetBlock3D(16, 16, 24, 4, 1e-6));   // identity shortcut, batch temb
        INDArray x = GradAssert.rand(14, 2, 16, 3, 4, 4), temb2 = GradAssert.rand(15, 2, 24);
        assertSame(run(() -> plain.forward(Tensor.of(x), Tensor.of(temb2))),
                run(() -> plain.forwardSliced(new Tensor[]{Tensor.of(x)}, Tensor.of(temb2), 1)), "ResnetBlock3D, identity shortcut");
    }

    @Test void temporalLayersSlicedByRowsEqualTheWholeTensor() {
        ResnetBlock3DCNN cnn = randomised(new ResnetBlock3DCNN(16, 5, 24, 4, 1e-6));
        INDArray x = GradAssert.rand(21, 2, 16, 6, 5, 3), temb = GradAssert.rand(22, 2, 24);
        INDArray whole = run(() -> cnn.forward(Tensor.of(x), Tensor.of(temb)));
        for (int slice : new int[]{1, 2, 6})
            assertSame(whole, run(() -> cnn.forwardSliced(Tensor.of(x), Tensor.of(temb), slice)), "ResnetBlock3DCNN, " + slice + " frames' worth of rows");

        TemporalConvModule module = randomised(new TemporalConvModule(32, 24));
        INDArray y = GradAssert.rand(23, 2, 32, 4, 4, 6);
        INDArray expected = run(() -> module.forward(Tensor.of(y), Tensor.of(temb)));
        for (int slice : new int[]{1, 3})
            assertSame(expected, run(() -> module.forwardSliced(Tensor.of(y), Tensor.of(temb), slice)), "TemporalConvModule, slices of " + slice);
    }

    @Test void perFrameLayersAndTheOutputHead() {
        Upsample3D up = randomised(new Upsample3D(8, 4));
        Downsample3D down = randomised(new Downsample3D(8, 4, 1));
        INDArray x = GradAssert.rand(31, 2, 8, 3, 4, 6);
        assertSame(run(() -> up.forward(Tensor.of(x))), run(() -> Slices.map(Tensor.of(x), Slices.FRAMES, 2, up::forward)), "Upsample3D");
        assertSame(run(() -> down.forward(Tensor.of(x))), run(() -> Slices.map(Tensor.of(x), Slices.FRAMES, 1, down::forward)), "Downsample3D");
        GroupNorm norm = randomised(new GroupNorm(4, 8, 1e-5));
        InflatedConv3d conv = randomised(new InflatedConv3d(8, 3, 3, 1, 1));
        INDArray head = run(() -> conv.forward(Ops.silu(norm.forward(Tensor.of(x)))));
        assertSame(head, run(() -> Slices.normSiluConv(norm, Tensor.of(x), 2, conv::forward)), "norm -> silu -> conv");
    }

    @Test void statisticsSpanAllFramesNotOneSlice() {
        // a frame far from the others: per-slice statistics would normalise it differently
        ResnetBlock3D r = randomised(new ResnetBlock3D(8, 8, 0, 2, 1e-5));
        INDArray x = GradAssert.rand(41, 1, 8, 3, 4, 4);
        x.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.point(2)).addi(10);
        INDArray whole = run(() -> r.forward(Tensor.of(x), null));
        assertSame(whole, run(() -> r.forwardSliced(new Tensor[]{Tensor.of(x)}, null, 1)), "one frame shifted by 10");
        INDArray lastFrameAlone = run(() -> r.forward(Tensor.of(x.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 3)).dup()), null));
        INDArray lastFrame = whole.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 3));
        assertTrue(lastFrame.sub(lastFrameAlone).amaxNumber().doubleValue() > 0.1, "the statistics of one frame alone differ (the test can tell)");
    }

    @Test void slicingRefusesToRunUnderATapeAndBadSlices() {
        ResnetBlock3D r = new ResnetBlock3D(8, 8, 0, 2, 1e-5);
        Tensor x = Tensor.leaf(Nd4j.rand(DataType.FLOAT, 1, 8, 2, 4, 4), true);
        try (Tape tape = Grad.record()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> r.forwardSliced(new Tensor[]{x}, null, 1));
            assertTrue(e.getMessage().contains("inference"), e.getMessage());
        }
        try (Tape off = Grad.disabled()) {
            assertThrows(IllegalArgumentException.class, () -> r.forwardSliced(new Tensor[]{x}, null, 0));
            Tensor wrong = Tensor.of(Nd4j.rand(DataType.FLOAT, 1, 8, 3, 4, 4));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.forwardSliced(new Tensor[]{x, wrong}, null, 1));
            assertTrue(e.getMessage().contains("equal B, F, H, W"), e.getMessage());
        }
    }
}
