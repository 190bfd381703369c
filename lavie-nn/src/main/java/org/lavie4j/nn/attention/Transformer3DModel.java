package org.lavie4j.nn.attention;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Pointwise;
import org.lavie4j.core.Rearrange;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;
import org.lavie4j.nn.layers.GroupNorm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * LaVie's {@code Transformer3DModel} (base/ and interpolation/models/attention.py, identical apart from the block) with
 * one {@link BasicTransformerBlock}:
 * per-frame GroupNorm (eps 1e-6), 1×1 {@code proj_in}, the block on each frame's tokens, 1×1 {@code proj_out}, and
 * the residual. Text conditioning: one caption per sample, repeated for every frame, or in joint image-video layout
 * one caption for the clip plus one per image ({@code (B, 1 + imageCount, L, D)}).
 */
public final class Transformer3DModel extends Module {
    private final GroupNorm norm;
    private final Conv2d projIn;
    private final ModuleList<BasicTransformerBlock> transformerBlocks;
    private final Conv2d projOut;
    private final int inChannels, contextDim;

    /** The base variant: one base {@link BasicTransformerBlock} sharing {@code rotary} (or none when null). */
    public Transformer3DModel(int heads, int dimHead, int inChannels, int groups, int contextDim, RotaryEmbedding rotary) {
        this(inChannels, groups, new BasicTransformerBlock(heads * dimHead, heads, dimHead, contextDim, rotary));
    }

    /**
     * Around a given block (any {@link BlockVariant}), e.g. {@link BasicTransformerBlock#interpolation}; the block's
     * width is the inner width of {@code proj_in / proj_out}, its text width the width of {@code encoder_hidden_states}.
     */
    public Transformer3DModel(int inChannels, int groups, BasicTransformerBlock block) {
        int inner = block.dim();
        this.inChannels = inChannels;
        this.contextDim = block.contextDim();
        norm = child("norm", new GroupNorm(groups, inChannels, 1e-6));
        projIn = child("proj_in", new Conv2d(inChannels, inner, 1, 1, 0));
        transformerBlocks = child("transformer_blocks", new ModuleList<>(block));
        projOut = child("proj_out", new Conv2d(inner, inChannels, 1, 1, 0));
    }

    /**
     * x: (B, C, F, H, W); context: (B, L, D) (one caption for all frames) or (B, 1 + imageCount, L, D) (clip caption
     * then one per image) -> (B, C, F, H, W).
     */
    public Tensor forward(Tensor x, Tensor context, FrameLayout layout) {
        long[] xs = x.shape();
        if (xs.length != 5 || xs[1] != inChannels)
            throw new IllegalArgumentException("Transformer3DModel(in=" + inChannels + "): hidden_states must be (B, " + inChannels + ", F, H, W), got " + Arrays.toString(xs));
        layout.check(xs[2], "Transformer3DModel hidden_states " + Arrays.toString(xs));
        long b = xs[0], f = xs[2], h = xs[3], w = xs[4];
        Tensor perFrame = framesContext(context, b, layout);                       // (b*f, l, d)

        Tensor n = norm.forwardPerFrame(x);                                       // (b, c, f, h, w), statistics per frame
        if (!isTraining()) {
            // inference: proj_in writes the tokens and proj_out the residual sum, c-contiguous, straight from and into
            // the video layout (one GEMM per batch entry; the reference's rearranges are its leading dimensions)
            Tensor wIn = projIn.weight().tensor(), bIn = bias(projIn);
            Tensor tokens = Pointwise.toTokens(n, wIn, bIn);                      // (b*f, h*w, inner)
            Tensor.release(n, wIn, bIn);
            Tensor t = transformerBlocks.get(0).forward(tokens, perFrame, layout); // (b*f, h*w, inner)
            Tensor.release(tokens, perFrame);
            Tensor wOut = projOut.weight().tensor(), bOut = bias(projOut);
            Tensor out = Pointwise.fromTokensPlus(t, wOut, bOut, x);              // (b, c, f, h, w)
            Tensor.release(t, wOut, bOut);
            return out;
        }
        Tensor frames = Rearrange.framesToBatch(n);                               // (b*f, c, h, w), a copy or a view of n
        Tensor p = projIn.forward(frames);                                        // (b*f, inner, h, w)
        Tensor.release(frames, n);
        Tensor tokens = Rearrange.toSpatialTokens(p);                             // (b*f, h*w, inner)
        Tensor t = transformerBlocks.get(0).forward(tokens, perFrame, layout);    // (b*f, h*w, inner)
        Tensor.release(tokens, p, perFrame);
        Tensor img = Rearrange.fromSpatialTokens(t, h, w);                        // (b*f, inner, h, w), a copy or a view of t
        Tensor o = projOut.forward(img);                                          // (b*f, c, h, w)
        Tensor.release(img, t);
        Tensor video = Rearrange.batchToFrames(o, f);                             // (b, c, f, h, w), a view of o
        Tensor out = Ops.add(video, x);
        Tensor.release(video, o);
        return out;
    }

    private static Tensor bias(Conv2d conv) { return conv.bias() == null ? null : conv.bias().tensor(); }

    /** Text states per frame ((B·F), L, D), b outer: the clip caption for video frames, each image's own for images. */
    private Tensor framesContext(Tensor context, long batch, FrameLayout layout) {
        long[] cs = context.shape();
        int frames = layout.frames();
        if (cs.length == 3) {
            if (cs[0] != batch || cs[2] != contextDim)
                throw new IllegalArgumentException("encoder_hidden_states must be (" + batch + ", L, " + contextDim + "), got " + Arrays.toString(cs));
            if (layout.imageCount() > 0)
                throw new IllegalArgumentException("joint layout with " + layout.imageCount() + " images needs one caption per image: encoder_hidden_states (B, 1 + "
                        + layout.imageCount() + ", L, D), got " + Arrays.toString(cs));
            Tensor r = Ops.repeat(Ops.reshape(context, batch, 1, cs[1], cs[2]), 1, frames, 1, 1); // (b, f, l, d)
            return Ops.reshape(r, batch * frames, cs[1], cs[2]);
        }
        if (cs.length == 4) {
            if (cs[0] != batch || cs[1] != 1 + layout.imageCount() || cs[3] != contextDim)
                throw new IllegalArgumentException("encoder_hidden_states must be (" + batch + ", " + (1 + layout.imageCount()) + ", L, "
                        + contextDim + ") for " + layout.imageCount() + " images, got " + Arrays.toString(cs));
            List<Tensor> parts = new ArrayList<>();
            Tensor clip = Ops.slice(context, 1, 0, 1);                              // (b, 1, l, d)
            parts.add(Ops.repeat(clip, 1, layout.videoFrames(), 1, 1));             // (b, fv, l, d)
            if (layout.imageCount() > 0) parts.add(Ops.slice(context, 1, 1, 1 + layout.imageCount())); // (b, n_img, l, d)
            Tensor all = parts.size() == 1 ? parts.get(0) : Ops.concat(1, parts.toArray(new Tensor[0]));
            return Ops.reshape(all, batch * frames, cs[2], cs[3]);
        }
        throw new IllegalArgumentException("encoder_hidden_states must be (B, L, D) or (B, 1 + imageCount, L, D), got " + Arrays.toString(cs));
    }

    public BasicTransformerBlock block() { return transformerBlocks.get(0); }
}
