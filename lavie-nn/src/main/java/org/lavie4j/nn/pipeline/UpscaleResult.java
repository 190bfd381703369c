package org.lavie4j.nn.pipeline;

import org.lavie4j.core.media.Video;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * What {@link SuperResolutionPipeline#upscale} returns.
 *
 * @param latents final latents of all chunks, concatenated along frames (1, C, T, h, w) float32
 * @param video   the decoded ×f video (1, 3, T, f·h, f·w), clamped to [−1, 1] as the reference's {@code decode_latents_vsr};
 *                null for {@link OutputType#LATENTS}
 */
public record UpscaleResult(INDArray latents, INDArray video) {
    public UpscaleResult {
        if (latents == null) throw new IllegalArgumentException("UpscaleResult: latents must not be null");
    }

    public boolean hasVideo() { return video != null; }

    /**
     * The original's saved frames (1, T, H, W, 3) uint8: {@code uint8(clamp(x/2 + 0.5, 0, 1)·255)}, i.e. TRUNCATION
     * toward zero with no +0.5 (vsr/sample.py; unlike the base and interpolation stages), computed in float32.
     */
    public INDArray videoUint8() {
        INDArray x = requireVideo().castTo(DataType.FLOAT).div(2.0).addi(0.5);
        x = Transforms.min(Transforms.max(x, 0.0, false), 1.0, false).muli(255.0);
        x = Transforms.floor(x, false);                                  // in [0, 255]: floor == truncation
        return x.permute(0, 2, 3, 4, 1).dup('c').castTo(DataType.UBYTE); // (b, t, h, w, c)
    }

    /** The video as 8-bit frames at {@code fps} (the original writes the input's), truncated as {@link #videoUint8()}. */
    public Video toVideo(double fps) {
        return Video.fromTensor(requireVideo(), fps, Video.Rounding.TRUNCATE);
    }

    private INDArray requireVideo() {
        if (video == null) throw new IllegalStateException("UpscaleResult: no video (output type LATENTS); latents "
                + Arrays.toString(latents.shape()));
        return video;
    }
}
