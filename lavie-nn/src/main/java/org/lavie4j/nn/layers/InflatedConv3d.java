package org.lavie4j.nn.layers;

import org.lavie4j.core.NnOps;
import org.lavie4j.core.Rearrange;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * LaVie's {@code InflatedConv3d} (base/models/resnet.py): a 2-D convolution applied to every frame of a video.
 * It subclasses Conv2d in the original, so its keys are {@code weight} and {@code bias} directly, shaped like the
 * Stable Diffusion Conv2d it was inflated from.
 */
public final class InflatedConv3d extends Conv2d {
    public InflatedConv3d(int inChannels, int outChannels, int kernel, int stride, int padding) {
        super(inChannels, outChannels, kernel, stride, padding, true);
    }

    /** x: (B, C_in, F, H, W) -> (B, C_out, F, H', W'). */
    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 5)
            throw new IllegalArgumentException("InflatedConv3d expects a video (B, C, F, H, W), got " + Arrays.toString(x.shape()));
        long frames = x.size(2);
        Tensor y;
        if (!isTraining() && kernel() > 1) {
            // inference: the frames of a row-major video go to the convolution as strided views, no fold copy
            Tensor w = weight().tensor(), b = bias() == null ? null : bias().tensor();
            y = NnOps.conv2dFrames(x, w, b, stride(), padding());  // (b f) c' h' w'
            Tensor.release(w, b);                                  // frees FLOAT copies of half-stored weights
        } else {
            Tensor folded = Rearrange.framesToBatch(x);           // (b f) c h w
            y = conv(folded);                                      // (b f) c' h' w'
            if (!folded.sharesMemoryWith(x)) folded.release();    // a copy (a view when the fold needs no move)
        }
        return Rearrange.batchToFrames(y, frames);             // b c' f h' w': a view of y, releasing it frees y
    }
}
