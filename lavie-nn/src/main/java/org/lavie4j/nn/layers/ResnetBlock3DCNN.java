package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * LaVie's {@code ResnetBlock3DCNN} (vsr/models/resnet.py; vsr-unet.md §5), the temporal-convolution residual block of
 * the VSR UNet:
 * <pre>
 * h   = conv1(silu(norm1(x)))                  norm1: GroupNorm over C/G × F × H × W; conv1: Conv3d (k, 1, 1), pad ((k−1)/2, 0, 0)
 * h   = h + time_emb_proj(silu(temb))[:, :, None, None, None]        only when built with a time embedding
 * h   = conv2(silu(norm2(h)))                  conv2: Conv3d (3, 1, 1), pad (1, 0, 0)
 * out = x + h
 * </pre>
 * As used by LaVie: {@code out_channels = in_channels} (so no {@code conv_shortcut}), "default" time embedding,
 * output scale 1, dropout 0; the reference's defaults {@code groups = 32}, {@code eps = 1e-6} (the callers never pass
 * the UNet's {@code norm_num_groups}). Keys: {@code norm1, conv1, [time_emb_proj], norm2, conv2}.
 */
public final class ResnetBlock3DCNN extends Module {
    private final GroupNorm norm1;
    private final TemporalConv conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Dropout dropout;
    private final TemporalConv conv2;
    private final int channels, tembChannels;

    /**
     * @param kernel       temporal kernel of conv1 (3 in {@code resblock_temporal}, 5 in {@code resblocks_3d_t})
     * @param tembChannels width of the time embedding, or 0 for none ({@code temb_channels=None}: no {@code time_emb_proj})
     */
    public ResnetBlock3DCNN(int channels, int kernel, int tembChannels, int groups, double eps) {
        if (channels <= 0 || tembChannels < 0)
            throw new IllegalArgumentException("ResnetBlock3DCNN: invalid channels " + channels + " / temb " + tembChannels);
        this.channels = channels;
        this.tembChannels = tembChannels;
        norm1 = child("norm1", new GroupNorm(groups, channels, eps));
        conv1 = child("conv1", new TemporalConv(channels, channels, kernel));
        timeEmbProj = tembChannels > 0 ? child("time_emb_proj", new Linear(tembChannels, channels)) : null;
        norm2 = child("norm2", new GroupNorm(groups, channels, eps));
        dropout = child("dropout", new Dropout());
        conv2 = child("conv2", new TemporalConv(channels, channels, 3));
    }

    /** LaVie's settings: 32 groups, eps 1e-6. */
    public ResnetBlock3DCNN(int channels, int kernel, int tembChannels) {
        this(channels, kernel, tembChannels, 32, 1e-6);
    }

    /** x: (B, C, F, H, W); temb: (B, temb_channels) or (1, temb_channels), or null -> (B, C, F, H, W). */
    public Tensor forward(Tensor x, Tensor temb) {
        checkInputs(x.shape(), temb);
        Tensor a1 = norm1.forwardSilu(x);                        // silu(norm1(x)), one pass in inference
        Tensor h = conv1.forward(a1);                            // (b, c, f, h, w), mixes frames only
        a1.release();
        if (temb != null) {
            Tensor act = Ops.silu(temb);
            Tensor proj = timeEmbProj.forward(act);              // (b, c)
            act.release();
            Tensor t = Ops.reshape(proj, proj.size(0), proj.size(1), 1, 1, 1); // (b, c, 1, 1, 1), a view of proj
            Tensor ht = Ops.add(h, t);                           // broadcast over f, h, w
            Tensor.release(h, proj);
            h = ht;
        }
        Tensor s2 = norm2.forwardSilu(h);                        // silu(norm2(h)), one pass in inference
        h.release();
        Tensor a2 = dropout.forward(s2);                         // dropout p = 0: the identity
        Tensor c2 = conv2.forward(a2);                           // (b, c, f, h, w)
        a2.release();
        Tensor out = Ops.add(x, c2);                             // identity shortcut (in = out channels)
        c2.release();
        return out;
    }

    private void checkInputs(long[] xs, Tensor temb) {
        if (xs.length != 5 || xs[1] != channels)
            throw new IllegalArgumentException("ResnetBlock3DCNN(" + channels + "): input_tensor must be (B, " + channels + ", F, H, W), got "
                    + Arrays.toString(xs));
        if (temb != null) {
            if (timeEmbProj == null)
                throw new IllegalArgumentException("ResnetBlock3DCNN was built without time_emb_proj (temb_channels=None) but got temb "
                        + Arrays.toString(temb.shape()));
            long[] ts = temb.shape();
            if (ts.length != 2 || (ts[0] != xs[0] && ts[0] != 1) || ts[1] != tembChannels)
                throw new IllegalArgumentException("ResnetBlock3DCNN: temb must be (B, temb_channels) = (" + xs[0] + ", " + tembChannels
                        + ") for input_tensor " + Arrays.toString(xs) + ", got " + Arrays.toString(ts));
        }
    }

    /**
     * The same block computed a slice of rows at a time ({@link Slices}; its convolutions mix frames only), with slices
     * about as large as {@code sliceFrames} frames: it holds the input, the output and one slice's temporaries. Equal to
     * {@link #forward} up to float rounding. Inference only.
     */
    public Tensor forwardSliced(Tensor x, Tensor temb, int sliceFrames) {
        Slices.checkInference("ResnetBlock3DCNN.forwardSliced");
        checkInputs(x.shape(), temb);
        Tensor proj = null;
        if (temb != null) {
            Tensor act = Ops.silu(temb);
            proj = timeEmbProj.forward(act);                     // (b, c)
            act.release();
        }
        try {
            return Slices.resnet(new INDArray[]{x.data()}, Slices.ROWS, Slices.sliceLength(x.shape(), Slices.ROWS, sliceFrames), norm1,
                    conv1::forward, proj == null ? null : proj.data(), norm2, conv2::forward, null, 1.0);
        } finally {
            if (proj != null) proj.release();
        }
    }

    public int channels() { return channels; }

    /** Temporal kernel of conv1. */
    public int kernel() { return conv1.kernel(); }
}
