package org.lavie4j.nn.vae;

import org.lavie4j.core.Module;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;

/**
 * diffusers 0.16 {@code Downsample2D} as the VAE encoder builds it ({@code use_conv=True, padding=0}): pad one zero
 * column on the right and one zero row at the bottom ({@code F.pad(x, (0, 1, 0, 1))}), then a 3×3 conv with stride 2
 * and no padding. Key {@code conv}.
 */
public final class Downsample2D extends Module {
    private final Conv2d conv;

    public Downsample2D(int channels) {
        conv = child("conv", new Conv2d(channels, channels, 3, 2, 0));
    }

    /** x: (B, C, H, W) -> (B, C, ⌊(H − 1)/2⌋ + 1, ⌊(W − 1)/2⌋ + 1) (H/2 × W/2 for even sizes). */
    public Tensor forward(Tensor x) {
        Tensor padded = NnOps.pad(x, 0, 1, 0, 1);           // (b, c, h+1, w+1): right and bottom only
        Tensor y = conv.forward(padded);
        padded.release();
        return y;
    }
}
