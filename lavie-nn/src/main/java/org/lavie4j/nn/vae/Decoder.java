package org.lavie4j.nn.vae;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;
import org.lavie4j.nn.layers.GroupNorm;

import java.util.List;

/**
 * diffusers 0.16 {@code Decoder} (models/vae.py):
 * <pre>
 * conv_in 3×3 latent→ch_last → mid_block → up_blocks over reversed channels (layers+1 resnets + Upsample2D except the
 *   last) → conv_norm_out (GN eps 1e-6) → SiLU → conv_out 3×3 to out_channels
 * </pre>
 */
public final class Decoder extends Module {
    private final Conv2d convIn, convOut;
    private final VaeBlocks.UNetMidBlock2D midBlock;
    private final ModuleList<VaeBlocks.UpDecoderBlock2D> upBlocks;
    private final GroupNorm convNormOut;

    public Decoder(VaeConfig config, long maxScoreBytes) {
        List<Integer> ch = config.blockOutChannels();
        int groups = config.normNumGroups(), n = ch.size(), last = ch.get(n - 1);
        convIn = child("conv_in", new Conv2d(config.latentChannels(), last, 3, 1, 1));
        midBlock = child("mid_block", new VaeBlocks.UNetMidBlock2D(last, groups, maxScoreBytes));
        upBlocks = child("up_blocks", new ModuleList<>());
        int prev = last;
        for (int i = 0; i < n; i++) {
            int out = ch.get(n - 1 - i);
            upBlocks.add(new VaeBlocks.UpDecoderBlock2D(prev, out, config.layersPerBlock() + 1, groups, i < n - 1));
            prev = out;
        }
        convNormOut = child("conv_norm_out", new GroupNorm(groups, ch.get(0), VaeConfig.NORM_EPS));
        convOut = child("conv_out", new Conv2d(ch.get(0), config.outChannels(), 3, 1, 1));
    }

    /** z: latent after post_quant_conv (B, latent, h, w) -> (B, C_out, h·f, w·f). */
    public Tensor forward(Tensor z) {
        Tensor h = convIn.forward(z);                                   // (b, ch_last, h, w)
        h = VaeBlocks.step(h, z, midBlock.forward(h));
        for (VaeBlocks.UpDecoderBlock2D block : upBlocks) h = VaeBlocks.step(h, z, block.forward(h));
        h = VaeBlocks.step(h, z, convNormOut.forward(h));               // (b, ch0, H, W)
        h = VaeBlocks.step(h, z, Ops.silu(h));
        return VaeBlocks.step(h, z, convOut.forward(h));                // (b, c_out, H, W)
    }
}
