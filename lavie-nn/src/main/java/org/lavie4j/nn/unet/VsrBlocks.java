package org.lavie4j.nn.unet;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.VsrTransformer3DModel;
import org.lavie4j.nn.layers.Downsample3D;
import org.lavie4j.nn.layers.ResnetBlock3D;
import org.lavie4j.nn.layers.Slices;
import org.lavie4j.nn.layers.Upsample3D;

import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The resolution levels of LaVie's VSR UNet (vsr/models/unet_blocks.py): {@code CrossAttnDownBlock3D} /
 * {@code DownBlock3D}, {@code UNetMidBlock3DCrossAttn}, {@code CrossAttnUpBlock3D} / {@code UpBlock3D}, with
 * {@link VsrTransformer3DModel}s. Same topology, keys and skip handling as {@link UNetBlocks}; the temporal modules
 * that follow each block belong to the UNet ({@code down_temporal_blocks}, ...), not to the blocks.
 */
// TODO merge with UNetBlocks (the same levels around another transformer class) once the interpolation port has landed
public final class VsrBlocks {
    private VsrBlocks() {}

    /**
     * A resnet on x (skip null, x not released), or on [x ‖ skip], releasing both as soon as they are not needed;
     * {@code slice} > 0 computes it that many frames at a time without building the concatenation.
     */
    static Tensor resnet(ResnetBlock3D r, Tensor x, Tensor skip, Tensor temb, int slice) {
        if (skip == null) return slice > 0 ? r.forwardSliced(new Tensor[]{x}, temb, slice) : r.forward(x, temb);
        if (slice > 0) {
            Tensor h = r.forwardSliced(new Tensor[]{x, skip}, temb, slice);
            Tensor.release(x, skip);
            return h;
        }
        Tensor cat = Ops.concat(1, x, skip);                          // (b, c + c_skip, f, h, w)
        Tensor.release(x, skip);
        Tensor h = r.forward(cat, temb);
        cat.release();
        return h;
    }

    /** A per-frame layer on x, {@code slice} frames at a time when slice > 0. x is not released. */
    static Tensor perFrame(UnaryOperator<Tensor> layer, Tensor x, int slice) {
        return slice > 0 ? Slices.map(x, Slices.FRAMES, Slices.sliceLength(x.shape(), Slices.FRAMES, slice), layer) : layer.apply(x);
    }

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

        /**
         * Runs the level; every intermediate output is pushed on {@code skips} (the up path pops them), the last one is
         * returned. {@code slice} > 0: resnets and down-sampler run that many frames at a time ({@link Slices}).
         */
        Tensor forward(Tensor x, Tensor temb, Tensor context, Deque<Tensor> skips, int slice) {
            for (int i = 0; i < resnets.size(); i++) {
                Tensor h = resnet(resnets.get(i), x, null, temb, slice);
                if (attentions != null) {
                    Tensor t = attentions.get(i).forward(h, context);
                    h.release();
                    h = t;
                }
                skips.push(h);
                x = h;
            }
            if (downsamplers != null) {
                x = perFrame(downsamplers.get(0)::forward, x, slice);
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

        Tensor forward(Tensor x, Tensor temb, Tensor context, int slice) {
            Tensor h = resnet(resnets.get(0), x, null, temb, slice);
            Tensor t = attentions.get(0).forward(h, context);
            h.release();
            Tensor out = resnet(resnets.get(1), t, null, temb, slice);
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

        /** Consumes (releases) {@code x} and the popped skips; {@code slice} as {@link DownBlock#forward}. */
        Tensor forward(Tensor x, Tensor temb, Tensor context, Deque<Tensor> skips, int slice) {
            for (int i = 0; i < resnets.size(); i++) {
                Tensor skip = skips.pop();
                Tensor h = resnet(resnets.get(i), x, skip, temb, slice);   // on [x ‖ skip]: current first; releases both
                if (attentions != null) {
                    Tensor t = attentions.get(i).forward(h, context);
                    h.release();
                    h = t;
                }
                x = h;
            }
            if (upsamplers != null) {
                Tensor up = perFrame(upsamplers.get(0)::forward, x, slice);
                x.release();
                x = up;
            }
            return x;
        }

        public ModuleList<VsrTransformer3DModel> attentions() { return attentions; }
    }
}
