package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Views;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The live path of LaVie's {@code TemporalModule3D} (vsr/models/temporal_module.py; vsr-unet.md §4), which follows
 * every down block, the mid block and every up block of the VSR UNet:
 * <pre>
 * h   = resblocks_3d_t(x, temb)      ResnetBlock3DCNN, temporal kernel 5, with time embedding (32 groups, eps 1e-6)
 * h   = resblocks_3d_s(h, temb)      ResnetBlock3D C→C, per-frame 3×3 convs (32 groups, eps 1e-6)
 * out = x + shift_conv(h)            InflatedConv3d 1×1, zero-initialised at construction
 * </pre>
 * With LaVie's {@code temporal_module_config} ({@code attention_block_types ["", ""]}, {@code video_condition=false},
 * {@code use_scale_shift=false}) no temporal transformer, video-condition branch or scale-shift conv is built; those
 * variants are not supported. Keys: {@code resblocks_3d_t, resblocks_3d_s, shift_conv}.
 */
public final class TemporalConvModule extends Module {
    /** The reference hard-codes these for both resnets (not the UNet's norm_num_groups / norm_eps). */
    public static final int GROUPS = 32;
    public static final double EPS = 1e-6;

    private final ResnetBlock3DCNN resblocks3dT;
    private final ResnetBlock3D resblocks3dS;
    private final InflatedConv3d shiftConv;
    private final int channels;

    public TemporalConvModule(int channels, int tembChannels) {
        if (tembChannels <= 0) throw new IllegalArgumentException("TemporalConvModule: temb_channels must be positive, got " + tembChannels);
        this.channels = channels;
        resblocks3dT = child("resblocks_3d_t", new ResnetBlock3DCNN(channels, 5, tembChannels, GROUPS, EPS));
        resblocks3dS = child("resblocks_3d_s", new ResnetBlock3D(channels, channels, tembChannels, GROUPS, EPS));
        shiftConv = child("shift_conv", new InflatedConv3d(channels, channels, 1, 1, 0));
        shiftConv.weight().data().assign(0);     // zero_module(...) as the reference: a fresh module is the identity
        shiftConv.bias().data().assign(0);
    }

    /** x: (B, C, F, H, W); temb: (B, temb_channels) -> (B, C, F, H, W). The input is not released. */
    public Tensor forward(Tensor x, Tensor temb) {
        if (x.rank() != 5 || x.size(1) != channels)
            throw new IllegalArgumentException("TemporalConvModule(" + channels + "): hidden_states must be (B, " + channels
                    + ", F, H, W), got " + Arrays.toString(x.shape()));
        if (temb == null) throw new IllegalArgumentException("TemporalConvModule: temb is required");
        Tensor t = resblocks3dT.forward(x, temb);                // (b, c, f, h, w), convolution over frames
        Tensor s = resblocks3dS.forward(t, temb);                // (b, c, f, h, w), convolution within frames
        t.release();
        Tensor shift = shiftConv.forward(s);                     // (b, c, f, h, w)
        s.release();
        Tensor out = Ops.add(x, shift);
        shift.release();
        return out;
    }

    /**
     * The same module computed slice by slice ({@link Slices}: the temporal resnet by rows, the spatial resnet and the
     * shift by frames, {@code sliceFrames} frames or as many elements per slice): holds x, two x-sized arrays and one
     * slice's temporaries. Equal to {@link #forward} up to float rounding. Inference only; x is not released.
     */
    public Tensor forwardSliced(Tensor x, Tensor temb, int sliceFrames) {
        Slices.checkInference("TemporalConvModule.forwardSliced");
        if (x.rank() != 5 || x.size(1) != channels)
            throw new IllegalArgumentException("TemporalConvModule(" + channels + "): hidden_states must be (B, " + channels
                    + ", F, H, W), got " + Arrays.toString(x.shape()));
        if (temb == null) throw new IllegalArgumentException("TemporalConvModule: temb is required");
        Tensor t = resblocks3dT.forwardSliced(x, temb, sliceFrames);
        Tensor s;
        try {
            s = resblocks3dS.forwardSliced(new Tensor[]{t}, temb, sliceFrames);
        } finally {
            t.release();
        }
        INDArray sd = s.data(), xd = x.data();
        long frames = sd.size(Slices.FRAMES), length = Slices.sliceLength(sd.shape(), Slices.FRAMES, sliceFrames);
        for (long f0 = 0; f0 < frames; f0 += length) {                 // out = x + shift_conv(s), written over s
            long f1 = Math.min(frames, f0 + length);
            INDArray ss = Views.interval(sd, Slices.FRAMES, f0, f1), a = ss.dup('c');
            Tensor shift = shiftConv.forward(Tensor.of(a));
            Memory.free(a);
            ss.assign(shift.data().addi(Views.interval(xd, Slices.FRAMES, f0, f1)));
            shift.release();
        }
        return s;
    }

    public int channels() { return channels; }
}
