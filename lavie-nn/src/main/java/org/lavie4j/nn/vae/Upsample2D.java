package org.lavie4j.nn.vae;

import org.lavie4j.core.Module;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;

/** diffusers 0.16 {@code Upsample2D} ({@code use_conv=True}): nearest ×2, then a 3×3 conv with padding 1. Key {@code conv}. */
public final class Upsample2D extends Module {
    private final Conv2d conv;

    public Upsample2D(int channels) {
        conv = child("conv", new Conv2d(channels, channels, 3, 1, 1));
    }

    /** x: (B, C, H, W) -> (B, C, 2H, 2W). */
    public Tensor forward(Tensor x) {
        Tensor up = NnOps.upsampleNearest2x(x);             // (b, c, 2h, 2w)
        Tensor y = conv.forward(up);
        up.release();
        return y;
    }
}
