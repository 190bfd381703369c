package org.lavie4j.nn.unet;

import org.lavie4j.core.Checkpoint;
import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.BasicTransformerBlock;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.Transformer3DModel;
import org.lavie4j.nn.layers.Downsample3D;
import org.lavie4j.nn.layers.ResnetBlock3D;
import org.lavie4j.nn.layers.Upsample3D;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The resolution levels of LaVie's base and interpolation UNets (base/ and interpolation/models/unet_blocks.py, the same
 * apart from the transformer blocks they build): {@code CrossAttnDownBlock3D} /
 * {@code DownBlock3D} (one class, attentions present or not), {@code UNetMidBlock3DCrossAttn}, and
 * {@code CrossAttnUpBlock3D} / {@code UpBlock3D}. Keys: {@code resnets.i}, {@code attentions.i},
 * {@code downsamplers.0.conv}, {@code upsamplers.0.conv}. With {@code checkpoint} set, each resnet and each transformer
 * runs under {@link Checkpoint} (diffusers' per-module gradient checkpointing in these blocks).
 */
public final class UNetBlocks {
    private UNetBlocks() {}

    /**
     * What a level needs to build its transformers: base blocks share {@code rotary}; interpolation blocks have no
     * positional module and a sparse-causal {@code attn1} when {@code sparseCausal}; {@code framePositions} > 0 gives
     * base blocks a learned absolute frame position table (an extension, {@code frame_position_embeddings}).
     */
    record AttentionSpec(int heads, int contextDim, int groups, BlockVariant variant, RotaryEmbedding rotary, boolean sparseCausal,
                         int framePositions) {
        Transformer3DModel build(int channels) {
            int dimHead = channels / heads;
            BasicTransformerBlock block = variant == BlockVariant.BASE
                    ? new BasicTransformerBlock(channels, heads, dimHead, contextDim, rotary, framePositions)
                    : BasicTransformerBlock.interpolation(channels, heads, dimHead, contextDim, sparseCausal);
            return new Transformer3DModel(channels, groups, block);
        }
    }

    /** A down level: {@code layers} resnets (each followed by a transformer when {@code attention != null}), then an optional stride-2 conv. */
    public static final class DownBlock extends Module {
        private final ModuleList<ResnetBlock3D> resnets;
        private final ModuleList<Transformer3DModel> attentions;
        private final ModuleList<Downsample3D> downsamplers;

        DownBlock(int in, int out, int temb, int layers, int groups, double eps, AttentionSpec attention, boolean downsample, int padding) {
            List<ResnetBlock3D> r = new ArrayList<>();
            List<Transformer3DModel> a = new ArrayList<>();
            for (int i = 0; i < layers; i++) {
                r.add(new ResnetBlock3D(i == 0 ? in : out, out, temb, groups, eps));
                if (attention != null) a.add(attention.build(out));
            }
            resnets = child("resnets", new ModuleList<>(r));
            attentions = attention == null ? null : child("attentions", new ModuleList<>(a));
            downsamplers = downsample ? child("downsamplers", new ModuleList<>(new Downsample3D(out, out, padding))) : null;
        }

        /** Runs the level; every intermediate output is pushed on {@code skips} (the up path pops them). */
        Tensor forward(Tensor x, Tensor temb, Tensor context, FrameLayout layout, Deque<Tensor> skips, boolean checkpoint) {
            for (int i = 0; i < resnets.size(); i++) {
                Tensor h = resnet(resnets.get(i), x, temb, checkpoint);
                if (attentions != null) {
                    Tensor t = attention(attentions.get(i), h, context, layout, checkpoint);
                    h.release();
                    h = t;
                }
                skips.push(h);
                x = h;
            }
            if (downsamplers != null) {
                x = downsamplers.get(0).forward(x);
                skips.push(x);
            }
            return x;
        }

        public boolean downsamples() { return downsamplers != null; }
    }

    /** The middle: resnet, transformer, resnet (output scale {@code mid_block_scale_factor}). */
    public static final class MidBlock extends Module {
        private final ModuleList<ResnetBlock3D> resnets;
        private final ModuleList<Transformer3DModel> attentions;

        MidBlock(int channels, int temb, int groups, double eps, double outputScale, AttentionSpec attention) {
            ResnetBlock3D.Config config = ResnetBlock3D.Config.of(channels, channels, temb, groups, eps).withOutputScaleFactor(outputScale);
            resnets = child("resnets", new ModuleList<>(new ResnetBlock3D(config), new ResnetBlock3D(config)));
            attentions = child("attentions", new ModuleList<>(attention.build(channels)));
        }

        Tensor forward(Tensor x, Tensor temb, Tensor context, FrameLayout layout, boolean checkpoint) {
            Tensor h = resnet(resnets.get(0), x, temb, checkpoint);
            Tensor t = attention(attentions.get(0), h, context, layout, checkpoint);
            h.release();
            Tensor out = resnet(resnets.get(1), t, temb, checkpoint);
            t.release();
            return out;
        }
    }

    /**
     * An up level: {@code layers} resnets, each on [current features, popped skip] concatenated on channels (current
     * first), each followed by a transformer when {@code attention != null}, then an optional nearest ×2 + conv.
     */
    public static final class UpBlock extends Module {
        private final ModuleList<ResnetBlock3D> resnets;
        private final ModuleList<Transformer3DModel> attentions;
        private final ModuleList<Upsample3D> upsamplers;

        UpBlock(int in, int prevOut, int out, int temb, int layers, int groups, double eps, AttentionSpec attention, boolean upsample) {
            List<ResnetBlock3D> r = new ArrayList<>();
            List<Transformer3DModel> a = new ArrayList<>();
            for (int i = 0; i < layers; i++) {
                int skip = i == layers - 1 ? in : out;
                int resIn = i == 0 ? prevOut : out;
                r.add(new ResnetBlock3D(resIn + skip, out, temb, groups, eps));
                if (attention != null) a.add(attention.build(out));
            }
            resnets = child("resnets", new ModuleList<>(r));
            attentions = attention == null ? null : child("attentions", new ModuleList<>(a));
            upsamplers = upsample ? child("upsamplers", new ModuleList<>(new Upsample3D(out, out))) : null;
        }

        Tensor forward(Tensor x, Tensor temb, Tensor context, FrameLayout layout, Deque<Tensor> skips, boolean checkpoint) {
            for (int i = 0; i < resnets.size(); i++) {
                Tensor skip = skips.pop();
                Tensor cat = Ops.concat(1, x, skip);                  // (b, c + c_skip, f, h, w): current first
                Tensor.release(x, skip);
                Tensor h = resnet(resnets.get(i), cat, temb, checkpoint);
                cat.release();
                if (attentions != null) {
                    Tensor t = attention(attentions.get(i), h, context, layout, checkpoint);
                    h.release();
                    h = t;
                }
                x = h;
            }
            if (upsamplers != null) {
                Tensor up = upsamplers.get(0).forward(x);
                x.release();
                x = up;
            }
            return x;
        }

        int layers() { return resnets.size(); }
    }

    static Deque<Tensor> stack() { return new ArrayDeque<>(); }

    /** {@code resnet.forward(x, temb)}, checkpointed when {@code checkpoint}. */
    static Tensor resnet(ResnetBlock3D resnet, Tensor x, Tensor temb, boolean checkpoint) {
        return checkpoint ? Checkpoint.run(resnet, in -> resnet.forward(in[0], in[1]), x, temb) : resnet.forward(x, temb);
    }

    /** {@code attention.forward(x, context, layout)}, checkpointed when {@code checkpoint}. */
    static Tensor attention(Transformer3DModel attention, Tensor x, Tensor context, FrameLayout layout, boolean checkpoint) {
        return checkpoint ? Checkpoint.run(attention, in -> attention.forward(in[0], in[1], layout), x, context)
                : attention.forward(x, context, layout);
    }
}
