package org.lavie4j.nn.vae;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Tensor;

/**
 * The levels of the VAE (diffusers 0.16 models/unet_2d_blocks.py): {@code DownEncoderBlock2D},
 * {@code UNetMidBlock2D} (resnet → single-head attention → resnet, no time embedding) and {@code UpDecoderBlock2D}.
 * Keys {@code resnets.i}, {@code attentions.0}, {@code downsamplers.0.conv}, {@code upsamplers.0.conv}.
 */
public final class VaeBlocks {
    private VaeBlocks() {}

    /** {@code layers} resnets (in→out, then out→out), then a right/bottom-padded stride-2 conv unless last. */
    public static final class DownEncoderBlock2D extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Downsample2D> downsamplers;

        public DownEncoderBlock2D(int in, int out, int layers, int groups, boolean addDownsample) {
            resnets = child("resnets", new ModuleList<>());
            for (int i = 0; i < layers; i++) resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, groups, VaeConfig.NORM_EPS));
            downsamplers = addDownsample ? child("downsamplers", new ModuleList<>(new Downsample2D(out))) : null;
        }

        /** x: (B, C_in, H, W) -> (B, C_out, H', W') with H' = H/2 when downsampling. Releases nothing it was given. */
        public Tensor forward(Tensor x) {
            Tensor h = x;
            for (ResnetBlock2D r : resnets) h = step(h, x, r.forward(h));
            if (downsamplers != null) h = step(h, x, downsamplers.get(0).forward(h));
            return h;
        }
    }

    /** {@code layers} resnets (in→out, then out→out), then nearest ×2 and a conv unless last. */
    public static final class UpDecoderBlock2D extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Upsample2D> upsamplers;

        public UpDecoderBlock2D(int in, int out, int layers, int groups, boolean addUpsample) {
            resnets = child("resnets", new ModuleList<>());
            for (int i = 0; i < layers; i++) resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, groups, VaeConfig.NORM_EPS));
            upsamplers = addUpsample ? child("upsamplers", new ModuleList<>(new Upsample2D(out))) : null;
        }

        /** x: (B, C_in, H, W) -> (B, C_out, H', W') with H' = 2H when upsampling. Releases nothing it was given. */
        public Tensor forward(Tensor x) {
            Tensor h = x;
            for (ResnetBlock2D r : resnets) h = step(h, x, r.forward(h));
            if (upsamplers != null) h = step(h, x, upsamplers.get(0).forward(h));
            return h;
        }
    }

    /** {@code UNetMidBlock2D} of the VAE: resnet, single-head {@link AttentionBlock}, resnet, all at {@code channels}. */
    public static final class UNetMidBlock2D extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<AttentionBlock> attentions;

        public UNetMidBlock2D(int channels, int groups, long maxScoreBytes) {
            attentions = child("attentions", new ModuleList<>(new AttentionBlock(channels, groups, VaeConfig.NORM_EPS, maxScoreBytes)));
            resnets = child("resnets", new ModuleList<>(new ResnetBlock2D(channels, channels, groups, VaeConfig.NORM_EPS),
                    new ResnetBlock2D(channels, channels, groups, VaeConfig.NORM_EPS)));
        }

        /** x: (B, C, H, W) -> (B, C, H, W). Releases nothing it was given. */
        public Tensor forward(Tensor x) {
            Tensor h = resnets.get(0).forward(x);
            h = step(h, x, attentions.get(0).forward(h));
            return step(h, x, resnets.get(1).forward(h));
        }
    }

    /** Releases the previous intermediate (never the block's own input) and returns the next. */
    static Tensor step(Tensor previous, Tensor input, Tensor next) {
        if (previous != input) previous.release();
        return next;
    }
}
