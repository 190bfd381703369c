package org.lavie4j.nn.vae;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;
import org.lavie4j.nn.layers.GroupNorm;

import java.util.List;

/**
 * diffusers 0.16 {@code Encoder} (models/vae.py, {@code double_z=True}):
 * <pre>
 * conv_in 3×3 → down_blocks[i] (layers resnets + Downsample2D except the last) → mid_block
 *   → conv_norm_out (GN eps 1e-6) → SiLU → conv_out 3×3 to 2·latent_channels
 * </pre>
 */
public final class Encoder extends Module {
    private final Conv2d convIn, convOut;
    private final ModuleList<VaeBlocks.DownEncoderBlock2D> downBlocks;
    private final VaeBlocks.UNetMidBlock2D midBlock;
    private final GroupNorm convNormOut;

    public Encoder(VaeConfig config, long maxScoreBytes) {
        List<Integer> ch = config.blockOutChannels();
        int groups = config.normNumGroups(), last = ch.get(ch.size() - 1);
        convIn = child("conv_in", new Conv2d(config.inChannels(), ch.get(0), 3, 1, 1));
        downBlocks = child("down_blocks", new ModuleList<>());
        for (int i = 0; i < ch.size(); i++)
            downBlocks.add(new VaeBlocks.DownEncoderBlock2D(i == 0 ? ch.get(0) : ch.get(i - 1), ch.get(i), config.layersPerBlock(), groups,
                    i < ch.size() - 1));
        midBlock = child("mid_block", new VaeBlocks.UNetMidBlock2D(last, groups, maxScoreBytes));
        convNormOut = child("conv_norm_out", new GroupNorm(groups, last, VaeConfig.NORM_EPS));
        convOut = child("conv_out", new Conv2d(last, 2 * config.latentChannels(), 3, 1, 1));
    }

    /** x: (B, C_in, H, W) -> moments before quant_conv (B, 2·latent, H/f, W/f). */
    public Tensor forward(Tensor x) {
        Tensor h = convIn.forward(x);                                   // (b, ch0, H, W)
        for (VaeBlocks.DownEncoderBlock2D block : downBlocks) h = VaeBlocks.step(h, x, block.forward(h));
        h = VaeBlocks.step(h, x, midBlock.forward(h));                  // (b, ch_last, h, w)
        h = VaeBlocks.step(h, x, convNormOut.forward(h));
        h = VaeBlocks.step(h, x, Ops.silu(h));
        return VaeBlocks.step(h, x, convOut.forward(h));                // (b, 2*latent, h, w)
    }
}
