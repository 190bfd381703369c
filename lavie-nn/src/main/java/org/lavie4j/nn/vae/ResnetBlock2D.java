package org.lavie4j.nn.vae;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;
import org.lavie4j.nn.layers.GroupNorm;

import java.util.Arrays;

/**
 * diffusers 0.16 {@code ResnetBlock2D} (models/resnet.py) as the VAE builds it: no time embedding, SiLU, dropout 0,
 * output scale 1:
 * <pre>
 * h   = conv1(silu(norm1(x)))
 * h   = conv2(silu(norm2(h)))
 * out = shortcut(x) + h            shortcut: 1×1 conv_shortcut only when the channel count changes
 * </pre>
 * Keys {@code norm1, conv1, norm2, conv2, conv_shortcut}. The reference's parameterless {@code dropout} and
 * {@code nonlinearity} modules have no field here.
 */
public final class ResnetBlock2D extends Module {
    private final GroupNorm norm1, norm2;
    private final Conv2d conv1, conv2, convShortcut;
    private final int inChannels, outChannels;

    public ResnetBlock2D(int inChannels, int outChannels, int groups, double eps) {
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        norm1 = child("norm1", new GroupNorm(groups, inChannels, eps));
        conv1 = child("conv1", new Conv2d(inChannels, outChannels, 3, 1, 1));
        norm2 = child("norm2", new GroupNorm(groups, outChannels, eps));
        conv2 = child("conv2", new Conv2d(outChannels, outChannels, 3, 1, 1));
        convShortcut = inChannels != outChannels ? child("conv_shortcut", new Conv2d(inChannels, outChannels, 1, 1, 0)) : null;
    }

    /** x: (B, C_in, H, W) -> (B, C_out, H, W). */
    public Tensor forward(Tensor x) {
        if (x.rank() != 4 || x.size(1) != inChannels)
            throw new IllegalArgumentException("ResnetBlock2D(in=" + inChannels + "): input must be (B, " + inChannels + ", H, W), got "
                    + Arrays.toString(x.shape()));
        Tensor a1 = norm1.forwardSilu(x);                        // silu(norm1(x)), one pass in inference
        Tensor c1 = conv1.forward(a1);                      // (b, c_out, h, w)
        a1.release();
        Tensor a2 = norm2.forwardSilu(c1);                  // silu(norm2(c1)), one pass in inference
        c1.release();
        Tensor c2 = conv2.forward(a2);                      // (b, c_out, h, w)
        a2.release();
        Tensor shortcut = convShortcut == null ? x : convShortcut.forward(x);
        Tensor out = Ops.add(shortcut, c2);
        c2.release();
        if (shortcut != x) shortcut.release();
        return out;
    }

    public int inChannels() { return inChannels; }

    public int outChannels() { return outChannels; }
}
