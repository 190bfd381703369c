package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * LaVie's {@code Downsample3D} (base/models/resnet.py): a 3×3 InflatedConv3d with stride 2 and symmetric padding
 * applied to every frame, (B, C, F, H, W) -> (B, C_out, F, ⌊(H + 2p − 3)/2⌋ + 1, ⌊(W + 2p − 3)/2⌋ + 1).
 *
 * <p>Key {@code conv}. The UNets build it with {@code name="op"}, giving only {@code conv.*}; with the reference's
 * default {@code name="conv"} the same convolution is also registered as {@code Conv2d_0} (diffusers' legacy name),
 * so the state dict holds both {@code Conv2d_0.*} and {@code conv.*}: pass {@code aliasConv2d0} for that layout.
 * The reference raises for {@code use_conv=False} and for padding 0, so neither exists here.
 */
public final class Downsample3D extends Module {
    private final InflatedConv3d conv;
    private final int channels;

    public Downsample3D(int channels, int outChannels, int padding, boolean aliasConv2d0) {
        if (padding < 1)
            throw new IllegalArgumentException("Downsample3D: padding " + padding + " is not supported (the reference raises for padding 0)");
        this.channels = channels;
        InflatedConv3d c = new InflatedConv3d(channels, outChannels, 3, 2, padding);
        if (aliasConv2d0) child("Conv2d_0", c);   // registered first, as in the reference: named_parameters lists Conv2d_0.*
        conv = child("conv", c);
    }

    /** The UNet downsampler ({@code name="op"}): key {@code conv} only. */
    public Downsample3D(int channels, int outChannels, int padding) { this(channels, outChannels, padding, false); }

    /** hidden_states: (B, C, F, H, W) -> (B, C_out, F, H', W'). */
    public Tensor forward(Tensor hiddenStates) {
        if (hiddenStates.rank() != 5 || hiddenStates.size(1) != channels)
            throw new IllegalArgumentException("Downsample3D(channels=" + channels + "): hidden_states must be (B, " + channels
                    + ", F, H, W), got " + Arrays.toString(hiddenStates.shape()));
        return conv.forward(hiddenStates);
    }

    public int channels() { return channels; }

    public int outChannels() { return conv.outChannels(); }
}
