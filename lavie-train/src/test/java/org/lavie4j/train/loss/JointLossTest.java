package org.lavie4j.train.loss;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.FrameLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.*;

class JointLossTest {
    private static INDArray randn(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
        return Nd4j.randn(DataType.DOUBLE, shape);
    }

    private static INDArray frames(INDArray x, long from, long to) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all(), NDArrayIndex.all());
    }

    private static double meanSquare(INDArray a, INDArray b) {
        INDArray d = a.sub(b);
        return d.mul(d).meanNumber().doubleValue();
    }

    @Test void videoOnlyIsThePlainMse() {
        INDArray p = randn(1, 2, 4, 3, 2, 2), t = randn(2, 2, 4, 3, 2, 2);
        JointLoss.Result r;
        try (Tape off = Grad.disabled()) {
            r = new JointLoss(0.7).compute(Tensor.of(p), t, FrameLayout.video(3));
        }
        assertNull(r.image());
        assertSame(r.video(), r.total());
        assertEquals(meanSquare(p, t), r.total().item(), 1e-12);
    }

    @Test void jointLossIsVideoPlusAlphaTimesImages() {
        // 3 video frames + 2 images per sample
        INDArray p = randn(3, 2, 4, 5, 2, 3), t = randn(4, 2, 4, 5, 2, 3);
        double alpha = 0.4;
        Tensor leaf = Tensor.leaf(p, true);
        JointLoss.Result r;
        try (Tape tape = Grad.record()) {
            r = new JointLoss(alpha).compute(leaf, t, new FrameLayout(3, 2));
            double lv = meanSquare(frames(p, 0, 3), frames(t, 0, 3)), li = meanSquare(frames(p, 3, 5), frames(t, 3, 5));
            assertEquals(lv, r.video().item(), 1e-12);
            assertEquals(li, r.image().item(), 1e-12);
            assertEquals(lv + alpha * li, r.total().item(), 1e-12);
            tape.backward(r.total());
        }
        // dL/dp = 2(p − t)/N_video on clip frames, α·2(p − t)/N_image on image frames
        long nv = 2 * 4 * 3 * 2 * 3, ni = 2 * 4 * 2 * 2 * 3;
        assertTrue(frames(p, 0, 3).sub(frames(t, 0, 3)).muli(2.0 / nv).equalsWithEps(frames(leaf.grad(), 0, 3), 1e-12));
        assertTrue(frames(p, 3, 5).sub(frames(t, 3, 5)).muli(2.0 * alpha / ni).equalsWithEps(frames(leaf.grad(), 3, 5), 1e-12));
        GradAssert.assertGradients("JointLoss (3 + 2 frames)", x -> new JointLoss(alpha).compute(x[0], t, new FrameLayout(3, 2)).total(), p);
    }

    @Test void alphaZeroIgnoresImagesAndBadInputIsNamed() {
        INDArray p = randn(5, 1, 4, 3, 2, 2), t = randn(6, 1, 4, 3, 2, 2);
        try (Tape off = Grad.disabled()) {
            assertEquals(meanSquare(frames(p, 0, 2), frames(t, 0, 2)), new JointLoss(0).compute(Tensor.of(p), t, new FrameLayout(2, 1)).total().item(), 1e-12);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> new JointLoss(1).compute(Tensor.of(p), t, new FrameLayout(2, 2)));
        assertTrue(e.getMessage().contains("2 video frames + 2 images"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new JointLoss(1).compute(Tensor.of(p), randn(7, 1, 4, 4, 2, 2), FrameLayout.video(3)));
        assertTrue(e.getMessage().contains("[1, 4, 4, 2, 2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new JointLoss(-0.1));
        assertThrows(IllegalArgumentException.class, () -> new JointLoss(Double.NaN));
    }
}
