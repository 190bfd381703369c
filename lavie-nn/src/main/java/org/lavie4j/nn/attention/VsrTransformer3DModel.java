package org.lavie4j.nn.attention;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Pointwise;
import org.lavie4j.core.Rearrange;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.GroupNorm;
import org.lavie4j.nn.layers.Linear;
import org.lavie4j.nn.layers.ResnetBlock3DCNN;

import java.util.Arrays;

/**
 * The VSR stage's {@code Transformer3DModel} (LaVie vsr/models/attention.py; vsr-unet.md §3) with one
 * {@link VsrTransformerBlock} and {@code use_linear_projection=True}:
 * <pre>
 * x   = resblock_temporal(x)                 ResnetBlock3DCNN, temporal kernel 3, no time embedding (32 groups, eps 1e-6)
 * res = x                                    the residual is taken AFTER the temporal resblock
 * h   = proj_in(tokens(norm(x)))             per-frame GroupNorm (norm_num_groups, eps 1e-6); Linear C→C on ((B·F), H·W, C)
 * h   = block(h, text per frame, F)
 * out = frames(proj_out(h)) + res            Linear C→C, back to (B, C, F, H, W)
 * </pre>
 * The reference builds {@code proj_out} as {@code Linear(in_channels, inner_dim)} (arguments swapped); both are C here.
 * Keys: {@code resblock_temporal, norm, proj_in, transformer_blocks.0, proj_out}.
 */
public final class VsrTransformer3DModel extends Module {
    private final ResnetBlock3DCNN resblockTemporal;
    private final GroupNorm norm;
    private final Linear projIn;
    private final ModuleList<VsrTransformerBlock> transformerBlocks;
    private final Linear projOut;
    private final int channels, contextDim;

    /**
     * @param groups norm_num_groups of the per-frame GroupNorm (the temporal resblock always uses 32)
     * @param rotary the UNet's shared {@code temporal_rotary_emb}
     */
    public VsrTransformer3DModel(int heads, int dimHead, int channels, int groups, int contextDim, boolean onlyCrossAttention, RotaryEmbedding rotary) {
        if (heads * dimHead != channels)
            throw new IllegalArgumentException("VsrTransformer3DModel: heads " + heads + " × head size " + dimHead + " must equal the channels " + channels);
        this.channels = channels;
        this.contextDim = contextDim;
        resblockTemporal = child("resblock_temporal", new ResnetBlock3DCNN(channels, 3, 0));
        norm = child("norm", new GroupNorm(groups, channels, 1e-6));
        projIn = child("proj_in", new Linear(channels, channels));
        transformerBlocks = child("transformer_blocks",
                new ModuleList<>(new VsrTransformerBlock(channels, heads, dimHead, contextDim, onlyCrossAttention, rotary)));
        projOut = child("proj_out", new Linear(channels, channels));
    }

    /** x: (B, C, F, H, W); context: (B, L, D), one caption for all frames -> (B, C, F, H, W). */
    public Tensor forward(Tensor x, Tensor context) {
        long[] xs = x.shape(), cs = context.shape();
        if (xs.length != 5 || xs[1] != channels)
            throw new IllegalArgumentException("VsrTransformer3DModel(in=" + channels + "): hidden_states must be (B, " + channels + ", F, H, W), got " + Arrays.toString(xs));
        long b = xs[0], f = xs[2], h = xs[3], w = xs[4];
        if (cs.length != 3 || cs[0] != b || cs[2] != contextDim)
            throw new IllegalArgumentException("encoder_hidden_states must be (" + b + ", L, " + contextDim + "), got " + Arrays.toString(cs));
        int frames = Math.toIntExact(f);
        Tensor repeated = Ops.repeat(Ops.reshape(context, b, 1, cs[1], cs[2]), 1, frames, 1, 1); // (b, f, l, d)
        Tensor perFrame = Ops.reshape(repeated, b * f, cs[1], cs[2]);           // (b*f, l, d): b outer, f inner

        Tensor res = resblockTemporal.forward(x, null);                         // (b, c, f, h, w)
        Tensor n = norm.forwardPerFrame(res);                                   // statistics per frame
        if (!isTraining() && projIn.residual() == null && projOut.residual() == null) {
            // inference: proj_in writes the tokens and proj_out the residual sum, c-contiguous, straight from and into
            // the video layout (one GEMM per batch entry; the reference's rearranges are its leading dimensions)
            Tensor wIn = projIn.weight().tensor(), bIn = bias(projIn);
            Tensor tokens = Pointwise.toTokens(n, wIn, bIn);                    // (b*f, h*w, c)
            Tensor.release(n, wIn, bIn);
            Tensor t = transformerBlocks.get(0).forward(tokens, perFrame, frames); // (b*f, h*w, c)
            Tensor.release(tokens, perFrame);
            Tensor wOut = projOut.weight().tensor(), bOut = bias(projOut);
            Tensor out = Pointwise.fromTokensPlus(t, wOut, bOut, res);          // (b, c, f, h, w)
            Tensor.release(t, wOut, bOut, res);
            return out;
        }
        Tensor batched = Rearrange.framesToBatch(n);                            // (b*f, c, h, w), a copy or a view of n
        Tensor tokens = Ops.contiguous(Rearrange.toSpatialTokens(batched));     // (b*f, h*w, c), row-major for proj_in
        Tensor.release(batched, n);
        Tensor p = projIn.forward(tokens);                                      // (b*f, h*w, c)
        tokens.release();
        Tensor t = transformerBlocks.get(0).forward(p, perFrame, frames);       // (b*f, h*w, c)
        Tensor.release(p, perFrame);
        Tensor o = projOut.forward(t);                                          // (b*f, h*w, c)
        t.release();
        Tensor img = Rearrange.fromSpatialTokens(o, h, w);                      // (b*f, c, h, w), a copy
        if (!img.sharesMemoryWith(o)) o.release();
        Tensor video = Rearrange.batchToFrames(img, f);                         // (b, c, f, h, w), a view of img
        Tensor out = Ops.add(video, res);
        Tensor.release(video, res);
        return out;
    }

    private static Tensor bias(Linear linear) { return linear.bias() == null ? null : linear.bias().tensor(); }

    public VsrTransformerBlock block() { return transformerBlocks.get(0); }

    public int channels() { return channels; }
}
