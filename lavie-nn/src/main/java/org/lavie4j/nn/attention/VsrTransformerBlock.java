package org.lavie4j.nn.attention;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.LayerNorm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
 *
 * <p>Memory: the attentions compute scores in query chunks ({@link CrossAttention#maxScoreBytes(long)},
 * {@link TemporalAttention#maxScoreBytes(long)}); without a tape the feed-forward runs over chunks of tokens so that its
 * 12·C-wide GEGLU intermediates stay near {@link #maxFeedForwardBytes(long)} (at the real model's 160×256 level with 16
 * frames they would take 16 GB at once). Neither changes the maths of a row.
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
    /** Default byte budget of the feed-forward intermediates of one token chunk: 256 MB. */
    public static final long DEFAULT_MAX_FEED_FORWARD_BYTES = 256L << 20;
    private long maxFeedForwardBytes = DEFAULT_MAX_FEED_FORWARD_BYTES;

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

        // the residual connections join the output projections' products (Linear.forwardAdd): one pass, the same floats
        Tensor h = norm1.forward(x);
        Tensor x1 = attn1.forwardAdd(h, onlyCrossAttention ? context : null, x); // (b*f, n, c)
        h.release();

        h = norm2.forward(x1);
        Tensor x2 = attn2.forwardAdd(h, context, x1);
        h.release();
        x1.release();

        // the temporal tokens as a permuted view, no copy: LayerNorm reads its rows in place and the residual pass writes
        // the sum laid out like x2, so permuting back gives c-contiguous tokens (as in BasicTransformerBlock)
        long n = xs[1];
        Tensor tokens = Ops.permute(Ops.reshape(x2, batch, frames, n, dim), 0, 2, 1, 3); // (b, n, f, c), a view
        h = normTemporal.forward(tokens);
        Tensor y = attnTemporal.forwardAdd(h, tokens);                          // (b, n, f, c)
        h.release();
        x2.release();
        Tensor x3 = Ops.reshape(Ops.permute(y, 0, 2, 1, 3), batch * frames, n, dim); // (b*f, n, c): a view of y where nothing records
        if (!x3.sharesMemoryWith(y)) y.release();

        Tensor out = feedForward(x3);
        x3.release();
        return out;
    }

    /**
     * x + ff(norm3(x)) for x ((B·F), N, C). Without a tape, tokens are processed in chunks whose GEGLU intermediates
     * (2·inner projected + inner gated values per token) fit {@link #maxFeedForwardBytes}; the rows are independent.
     */
    private Tensor feedForward(Tensor x) {
        long rows = x.size(0) * x.size(1), c = x.size(2);
        long perToken = 3L * ff.innerDim() * x.data().dataType().width();
        long chunk = Math.max(1, maxFeedForwardBytes / perToken);
        if (chunk >= rows || Grad.isRecording()) return feedForwardRows(x);
        Tensor flat = Ops.reshape(x, rows, c);                                  // (b*f*n, c), a view of contiguous x
        List<Tensor> parts = new ArrayList<>();
        for (long r0 = 0; r0 < rows; r0 += chunk)
            parts.add(feedForwardRows(Ops.slice(flat, 0, r0, Math.min(rows, r0 + chunk)))); // (chunk, c)
        Tensor joined = Ops.concat(0, parts.toArray(new Tensor[0]));           // (b*f*n, c)
        Tensor.release(parts.toArray(new Tensor[0]));
        if (!flat.sharesMemoryWith(x)) flat.release();
        return Ops.reshape(joined, x.shape());                                  // (b*f, n, c), a view of joined
    }

    private Tensor feedForwardRows(Tensor x) {
        Tensor h = norm3.forward(x);
        Tensor out = ff.forwardAdd(h, x);
        h.release();
        return out;
    }

    /**
     * Sets the byte budget of the feed-forward intermediates of one token chunk (inference only; default
     * {@link #DEFAULT_MAX_FEED_FORWARD_BYTES}); returns this.
     */
    public VsrTransformerBlock maxFeedForwardBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("maxFeedForwardBytes must be positive, got " + bytes);
        this.maxFeedForwardBytes = bytes;
        return this;
    }

    public long maxFeedForwardBytes() { return maxFeedForwardBytes; }

    /** Whether attn1 is a text cross-attention (the reference's {@code only_cross_attention}). */
    public boolean onlyCrossAttention() { return onlyCrossAttention; }

    public CrossAttention attn1() { return attn1; }

    public CrossAttention attn2() { return attn2; }

    public TemporalAttention attnTemporal() { return attnTemporal; }

    public int dim() { return dim; }

    /** Width of the text states the cross-attentions read. */
    public int contextDim() { return attn2.contextDim(); }
}
