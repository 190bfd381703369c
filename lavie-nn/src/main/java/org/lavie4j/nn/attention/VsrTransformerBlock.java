package org.lavie4j.nn.attention;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Rearrange;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.LayerNorm;

import java.util.Arrays;

/**
 * The VSR stage's {@code BasicTransformerBlock} (LaVie vsr/models/attention.py; vsr-unet.md §3):
 * <pre>
 * x = x + attn1(norm1(x), text)          only_cross_attention: a second text cross-attention (to_k/to_v [C, D])
 *   | x + attn1(norm1(x))                otherwise spatial self-attention within each frame
 * x = x + attn2(norm2(x), text)          text cross-attention
 * x = x + attn_temporal(norm_temporal(x)) over the frames at every pixel (RoPE + relative position bias)
 * x = x + ff(norm3(x))                   GEGLU feed-forward
 * </pre>
 * LayerNorms use eps 1e-5. The temporal attention is the base model's {@link TemporalAttention} (same maths and keys);
 * its {@code to_out.0.weight} starts at zero as in the reference. No image frames and no training-mode branch exist
 * in this stage. Keys in the reference's order: {@code attn1, norm1, attn2, norm2, attn_temporal, norm_temporal, ff,
 * norm3}.
 */
public final class VsrTransformerBlock extends Module {
    private final CrossAttention attn1;
    private final LayerNorm norm1;
    private final CrossAttention attn2;
    private final LayerNorm norm2;
    private final TemporalAttention attnTemporal;
    private final LayerNorm normTemporal;
    private final FeedForward ff;
    private final LayerNorm norm3;
    private final boolean onlyCrossAttention;
    private final int dim;

    /**
     * @param onlyCrossAttention the reference's {@code only_cross_attention}: attn1 reads the text states too
     * @param rotary             the UNet's shared {@code temporal_rotary_emb} (or null for none)
     */
    public VsrTransformerBlock(int dim, int heads, int dimHead, int contextDim, boolean onlyCrossAttention, RotaryEmbedding rotary) {
        this.dim = dim;
        this.onlyCrossAttention = onlyCrossAttention;
        attn1 = child("attn1", onlyCrossAttention ? new CrossAttention(dim, contextDim, heads, dimHead) : CrossAttention.selfAttention(dim, heads, dimHead));
        norm1 = child("norm1", new LayerNorm(dim));
        attn2 = child("attn2", new CrossAttention(dim, contextDim, heads, dimHead));
        norm2 = child("norm2", new LayerNorm(dim));
        attnTemporal = child("attn_temporal", new TemporalAttention(dim, heads, dimHead, rotary));
        attnTemporal.namedEntries().get("to_out.0.weight").data().assign(0);   // nn.init.zeros_ as the reference
        normTemporal = child("norm_temporal", new LayerNorm(dim));
        ff = child("ff", new FeedForward(dim));
        norm3 = child("norm3", new LayerNorm(dim));
    }

    /**
     * x: ((B·F), H·W, C) frame tokens (b outer); context: ((B·F), L, D) text states per frame; frames: F per sample
     * -> same shape as x.
     */
    public Tensor forward(Tensor x, Tensor context, int frames) {
        long[] xs = x.shape();
        if (xs.length != 3 || xs[2] != dim)
            throw new IllegalArgumentException("VsrTransformerBlock(dim=" + dim + "): hidden_states must be ((B*F), H*W, " + dim + "), got " + Arrays.toString(xs));
        if (frames < 1 || xs[0] % frames != 0)
            throw new IllegalArgumentException("VsrTransformerBlock: " + xs[0] + " frames in the batch are not a multiple of " + frames + " frames per sample");
        long batch = xs[0] / frames;

        Tensor h = norm1.forward(x);
        Tensor a = onlyCrossAttention ? attn1.forward(h, context) : attn1.forward(h);
        h.release();
        Tensor x1 = Ops.add(a, x);                                              // (b*f, n, c)
        a.release();

        h = norm2.forward(x1);
        a = attn2.forward(h, context);
        h.release();
        Tensor x2 = Ops.add(a, x1);
        Tensor.release(a, x1);

        Tensor tokens = Rearrange.toTemporalTokens(x2, frames);                 // (b*n, f, c): b outer, n inner
        if (!tokens.sharesMemoryWith(x2)) x2.release();                         // a copy unless nothing moved (f = 1)
        h = normTemporal.forward(tokens);
        a = attnTemporal.forward(h);
        h.release();
        Tensor y = Ops.add(a, tokens);                                          // (b*n, f, c)
        Tensor.release(a, tokens);
        Tensor x3 = Rearrange.fromTemporalTokens(y, batch);                     // (b*f, n, c)
        if (!x3.sharesMemoryWith(y)) y.release();

        h = norm3.forward(x3);
        a = ff.forward(h);
        h.release();
        Tensor out = Ops.add(a, x3);
        Tensor.release(a, x3);
        return out;
    }

    /** Whether attn1 is a text cross-attention (the reference's {@code only_cross_attention}). */
    public boolean onlyCrossAttention() { return onlyCrossAttention; }

    public CrossAttention attn1() { return attn1; }

    public CrossAttention attn2() { return attn2; }

    public TemporalAttention attnTemporal() { return attnTemporal; }

    public int dim() { return dim; }

    /** Width of the text states the cross-attentions read. */
    public int contextDim() { return attn2.contextDim(); }
}
