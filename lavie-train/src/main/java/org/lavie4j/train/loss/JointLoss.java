package org.lavie4j.train.loss;

import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.FrameLayout;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * The joint image-video objective {@code L = L_video + α·L_image} (LaVie §3.2, joint fine-tuning): in a batch laid
 * out as {@link FrameLayout}{@code (F, I)} the first F frames of each sample are the clip and the I frames after them
 * are still images; each term is the mean squared error over all elements of its frames. Without images
 * ({@code I = 0}) the loss is {@code L_video}, the plain {@link DiffusionLoss#mse}.
 *
 * @param alpha weight of the image term (finite, {@code >= 0})
 */
public record JointLoss(double alpha) {
    public JointLoss {
        if (!(alpha >= 0) || Double.isInfinite(alpha)) throw new IllegalArgumentException("JointLoss: alpha must be finite and >= 0, got " + alpha);
    }

    /** The terms of one evaluation; {@code image} is null when the layout has no images. All of shape [1]. */
    public record Result(Tensor total, Tensor video, Tensor image) {}

    /**
     * prediction, target: {@code (B, C, F + I, H, W)} with the frames as {@code layout} says.
     */
    public Result compute(Tensor prediction, INDArray target, FrameLayout layout) {
        return compute(prediction, target, layout, null);
    }

    /**
     * As {@link #compute(Tensor, INDArray, FrameLayout)} with each sample's error in both terms weighted by
     * {@code weights} (b) ({@link DiffusionLoss#weightedMse}, e.g. {@link DiffusionLoss#minSnrWeights}); null: unweighted.
     */
    public Result compute(Tensor prediction, INDArray target, FrameLayout layout, INDArray weights) {
        long[] s = prediction.shape();
        if (s.length != 5) throw new IllegalArgumentException("JointLoss: prediction must be (B, C, F, H, W), got " + Arrays.toString(s));
        if (!Arrays.equals(s, target.shape()))
            throw new IllegalArgumentException("JointLoss: prediction " + Arrays.toString(s) + " and target " + Arrays.toString(target.shape())
                    + " must have the same shape");
        layout.check(s[2], "prediction " + Arrays.toString(s));
        if (layout.imageCount() == 0) {
            Tensor video = DiffusionLoss.weightedMse(prediction, target, weights);
            return new Result(video, video, null);
        }
        int f = layout.videoFrames();
        Tensor video = DiffusionLoss.weightedMse(Ops.slice(prediction, 2, 0, f), frames(target, 0, f), weights);        // (b, c, F, h, w)
        Tensor image = DiffusionLoss.weightedMse(Ops.slice(prediction, 2, f, s[2]), frames(target, f, s[2]), weights); // (b, c, I, h, w)
        return new Result(Ops.add(video, Ops.scale(image, alpha)), video, image);
    }

    private static INDArray frames(INDArray x, long from, long to) {
        INDArrayIndex[] idx = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all(), NDArrayIndex.all()};
        return x.get(idx);
    }
}
