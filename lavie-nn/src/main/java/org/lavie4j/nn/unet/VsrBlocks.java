package org.lavie4j.nn.unet;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.VsrTransformer3DModel;
import org.lavie4j.nn.layers.Downsample3D;
import org.lavie4j.nn.layers.ResnetBlock3D;
import org.lavie4j.nn.layers.Upsample3D;

import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The resolution levels of LaVie's VSR UNet (vsr/models/unet_blocks.py): {@code CrossAttnDownBlock3D} /
 * {@code DownBlock3D}, {@code UNetMidBlock3DCrossAttn}, {@code CrossAttnUpBlock3D} / {@code UpBlock3D}, with
 * {@link VsrTransformer3DModel}s. Same topology, keys and skip handling as {@link UNetBlocks}; the temporal modules
 * that follow each block belong to the UNet ({@code down_temporal_blocks}, ...), not to the blocks.
 */
// TODO merge with UNetBlocks (the same levels around another transformer class) once the interpolation port has landed
public final class VsrBlocks {
    private VsrBlocks() {}

    /** What a level needs to build its transformers. */
    record AttentionSpec(int heads, int contextDim, int groups, boolean onlyCrossAttention, RotaryEmbedding rotary) {
        VsrTransformer3DModel build(int channels) {
            return new VsrTransformer3DModel(heads, channels / heads, channels, groups, contextDim, onlyCrossAttention, rotary);
        }
    }

    /** A down level: {@code layers} resnets (each followed by a transformer when {@code attention != null}), then an optional stride-2 conv. */
    public static final class DownBlock extends Module {
        private final ModuleList<ResnetBlock3D> resnets;
        private final ModuleList<VsrTransformer3DModel> attentions;
        private final ModuleList<Downsample3D> downsamplers;

        DownBlock(int in, int out, int temb, int layers, int groups, double eps, AttentionSpec attention, boolean downsample, int padding) {
            List<ResnetBlock3D> r = new ArrayList<>();
            List<VsrTransformer3DModel> a = new ArrayList<>();
            for (int i = 0; i < layers; i++) {
                r.add(new ResnetBlock3D(i == 0 ? in : out, out, temb, groups, eps));
                if (attention != null) a.add(attention.build(out));
            }
            resnets = child("resnets", new ModuleList<>(r));
            attentions = attention == null ? null : child("attentions", new ModuleList<>(a));
            downsamplers = downsample ? child("downsamplers", new ModuleList<>(new Downsample3D(out, out, padding))) : null;
        }

        /** Runs the level; every intermediate output is pushed on {@code skips} (the up path pops them), the last one is returned. */
        Tensor forward(Tensor x, Tensor temb, Tensor context, Deque<Tensor> skips) {
            for (int i = 0; i < resnets.size(); i++) {
                Tensor h = resnets.get(i).forward(x, temb);
                if (attentions != null) {
                    Tensor t = attentions.get(i).forward(h, context);
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

        public ModuleList<VsrTransformer3DModel> attentions() { return attentions; }
    }

    /** The middle: resnet, transformer (spatial self-attention), resnet (output scale {@code mid_block_scale_factor}). */
    public static final class MidBlock extends Module {
        private final ModuleList<ResnetBlock3D> resnets;
        private final ModuleList<VsrTransformer3DModel> attentions;

        MidBlock(int channels, int temb, int groups, double eps, double outputScale, AttentionSpec attention) {
            ResnetBlock3D.Config config = ResnetBlock3D.Config.of(channels, channels, temb, groups, eps).withOutputScaleFactor(outputScale);
            resnets = child("resnets", new ModuleList<>(new ResnetBlock3D(config), new ResnetBlock3D(config)));
            attentions = child("attentions", new ModuleList<>(attention.build(channels)));
        }

        Tensor forward(Tensor x, Tensor temb, Tensor context) {
            Tensor h = resnets.get(0).forward(x, temb);
            Tensor t = attentions.get(0).forward(h, context);
            h.release();
            Tensor out = resnets.get(1).forward(t, temb);
            t.release();
            return out;
        }

        public ModuleList<VsrTransformer3DModel> attentions() { return attentions; }
    }

    /**
     * An up level: {@code layers} resnets, each on [current features, popped skip] concatenated on channels (current
     * first), each followed by a transformer when {@code attention != null}, then an optional nearest ×2 + conv.
     */
    public static final class UpBlock extends Module {
        private final ModuleList<ResnetBlock3D> resnets;
        private final ModuleList<VsrTransformer3DModel> attentions;
        private final ModuleList<Upsample3D> upsamplers;

        UpBlock(int in, int prevOut, int out, int temb, int layers, int groups, double eps, AttentionSpec attention, boolean upsample) {
            List<ResnetBlock3D> r = new ArrayList<>();
            List<VsrTransformer3DModel> a = new ArrayList<>();
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

        /** Consumes (releases) {@code x} and the popped skips. */
        Tensor forward(Tensor x, Tensor temb, Tensor context, Deque<Tensor> skips) {
            for (int i = 0; i < resnets.size(); i++) {
                Tensor skip = skips.pop();
                Tensor cat = Ops.concat(1, x, skip);                  // (b, c + c_skip, f, h, w): current first
                Tensor.release(x, skip);
                Tensor h = resnets.get(i).forward(cat, temb);
                cat.release();
                if (attentions != null) {
                    Tensor t = attentions.get(i).forward(h, context);
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

        public ModuleList<VsrTransformer3DModel> attentions() { return attentions; }
    }
}
