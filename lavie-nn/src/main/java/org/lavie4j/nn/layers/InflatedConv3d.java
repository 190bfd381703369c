package org.lavie4j.nn.layers;

import org.lavie4j.core.NnOps;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Pointwise;
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
        boolean pointwise = kernel() == 1 && stride() == 1 && padding() == 0;
        if (!isTraining() && (kernel() > 1 || pointwise)) {
            // inference: the video's frames are read in place (no fold copy) and the result is written as a video,
            // c-contiguous where the kernel allows (Winograd 3×3, the 1×1 GEMMs), so later layers read one run of floats
            Tensor w = weight().tensor(), b = bias() == null ? null : bias().tensor();
            if (x.size(1) != inChannels())
                throw new IllegalArgumentException("InflatedConv3d(in=" + inChannels() + "): expected input (B, " + inChannels()
                        + ", F, H, W), got " + Arrays.toString(x.shape()));
            Tensor y = pointwise ? Pointwise.video(x, w, b)                 // b c' f h w
                    : NnOps.conv2dVideo(x, w, b, stride(), padding());      // b c' f h' w'
            Tensor.release(w, b);                                  // frees FLOAT copies of half-stored weights
            return y;
        }
        Tensor folded = Rearrange.framesToBatch(x);               // (b f) c h w
        Tensor y = conv(folded);                                   // (b f) c' h' w'
        if (!folded.sharesMemoryWith(x)) folded.release();        // a copy (a view when the fold needs no move)
        return Rearrange.batchToFrames(y, frames);             // b c' f h' w': a view of y, releasing it frees y
    }

    /**
     * {@code forward(x) + addend}: the addend (B, C_out, 1, 1, 1), e.g. a resnet's time embedding, or shaped as the
     * output, e.g. its shortcut. In inference a 3×3 convolution adds it as the Winograd kernel writes each value
     * ({@link NnOps#conv2dVideoAdd}: the same floats, no second pass over the output); otherwise forward, then the add.
     */
    public Tensor forwardAdd(Tensor x, Tensor addend) {
        if (!isTraining() && kernel() > 1 && x.rank() == 5 && x.size(1) == inChannels()) {
            Tensor w = weight().tensor(), b = bias() == null ? null : bias().tensor();
            Tensor y = NnOps.conv2dVideoAdd(x, w, b, stride(), padding(), addend);   // b c' f h' w'
            Tensor.release(w, b);                                  // frees FLOAT copies of half-stored weights
            return y;
        }
        Tensor y = forward(x);
        Tensor sum = Ops.addInto(y, addend);                       // into y when nothing records
        if (sum != y) y.release();
        return sum;
    }
}
