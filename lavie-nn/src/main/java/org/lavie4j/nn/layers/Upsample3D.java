package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * LaVie's {@code Upsample3D} (base/models/resnet.py): nearest-neighbour resize of H and W (frames untouched), by 2
 * ({@code F.interpolate(scale_factor=[1, 2, 2])}) or to an explicit output size (the UNet forwards the next skip
 * tensor's size when the latent is not a multiple of the total down factor), then a 3×3 InflatedConv3d, padding 1.
 *
 * <p>Key {@code conv} (the reference's default {@code name="conv"}). With {@code use_conv=False} there is no
 * convolution and no key. The reference raises for {@code use_conv_transpose}, so it does not exist here.
 */
public final class Upsample3D extends Module {
    private final InflatedConv3d conv;
    private final int channels;

    /** {@code useConv}: whether the 3×3 convolution (key {@code conv}) follows the resize. */
    public Upsample3D(int channels, int outChannels, boolean useConv) {
        if (channels <= 0) throw new IllegalArgumentException("Upsample3D: invalid channels " + channels);
        if (!useConv && outChannels != channels)
            throw new IllegalArgumentException("Upsample3D: without a conv the output has the input's " + channels
                    + " channels, not " + outChannels);
        this.channels = channels;
        conv = useConv ? child("conv", new InflatedConv3d(channels, outChannels, 3, 1, 1)) : null;
    }

    /** The UNet upsampler: nearest ×2 and a 3×3 conv. */
    public Upsample3D(int channels, int outChannels) { this(channels, outChannels, true); }

    /** hidden_states: (B, C, F, H, W) -> (B, C_out, F, 2H, 2W). */
    public Tensor forward(Tensor hiddenStates) {
        check(hiddenStates);
        return convolve(NnOps.upsampleNearest2x(hiddenStates));              // (b, c, f, 2h, 2w)
    }

    /**
     * hidden_states: (B, C, F, H, W) -> (B, C_out, F, outH, outW): {@code F.interpolate(size=(F, outH, outW),
     * mode="nearest")} (the UNet passes the next skip tensor's size, whose frame count equals F).
     */
    public Tensor forward(Tensor hiddenStates, int outH, int outW) {
        check(hiddenStates);
        return convolve(NnOps.interpolateNearest(hiddenStates, outH, outW));  // (b, c, f, outH, outW)
    }

    private Tensor convolve(Tensor resized) {
        if (conv == null) return resized;
        Tensor y = conv.forward(resized);                                      // (b, c_out, f, h', w')
        resized.release();
        return y;
    }

    private void check(Tensor x) {
        if (x.rank() != 5 || x.size(1) != channels)
            throw new IllegalArgumentException("Upsample3D(channels=" + channels + "): hidden_states must be (B, " + channels
                    + ", F, H, W), got " + Arrays.toString(x.shape()));
    }

    public int channels() { return channels; }
}
