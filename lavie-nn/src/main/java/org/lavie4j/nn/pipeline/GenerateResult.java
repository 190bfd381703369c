package org.lavie4j.nn.pipeline;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * What {@link TextToVideoPipeline#generate} and {@link InterpolationPipeline} return.
 *
 * @param latents final latents (B, C, F, h, w) after the last denoising step (float32)
 * @param video   decoded video (B, C, F, H, W), nominally in [-1, 1] (not clamped); null for {@link OutputType#LATENTS}
 */
public record GenerateResult(INDArray latents, INDArray video) {
    public GenerateResult {
        if (latents == null) throw new IllegalArgumentException("GenerateResult: latents must not be null");
    }

    public boolean hasVideo() { return video != null; }

    /** clamp(video/2 + 0.5, 0, 1), (B, C, F, H, W) float32. */
    public INDArray video01() {
        INDArray x = requireVideo().div(2.0).addi(0.5);
        return clampInPlace(x, 0.0, 1.0);
    }

    /**
     * The reference pipeline's own output: (B, F, H, W, C) uint8 = trunc(clamp((x/2 + 0.5)·255 + 0.5, 0, 255)),
     * i.e. round half up, computed in float32 in the reference's order.
     */
    public INDArray videoUint8() {
        INDArray x = requireVideo().castTo(DataType.FLOAT).div(2.0).addi(0.5).muli(255.0).addi(0.5);
        x = clampInPlace(x, 0.0, 255.0);
        x = Transforms.floor(x, false);                                  // >= 0 after the clamp: floor == truncation
        INDArray u8 = x.permute(0, 2, 3, 4, 1).dup('c').castTo(DataType.UBYTE);   // (b, f, h, w, c)
        return u8;
    }

    private static INDArray clampInPlace(INDArray x, double lo, double hi) {
        return Transforms.min(Transforms.max(x, lo, false), hi, false);
    }

    private INDArray requireVideo() {
        if (video == null) throw new IllegalStateException("GenerateResult: no video (output type LATENTS); latents "
                + Arrays.toString(latents.shape()));
        return video;
    }
}
