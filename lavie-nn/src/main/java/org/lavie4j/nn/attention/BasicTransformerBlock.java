package org.lavie4j.nn.attention;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.LayerNorm;

import java.util.Arrays;

/**
 * LaVie's {@code BasicTransformerBlock} in its two orders ({@link BlockVariant}). Base (base/models/attention.py,
 * behaviour 9):
 * <pre>
 * x = x + attn1(norm1(x))               spatial self-attention within each frame
 * x = x + attn2(norm2(x), text)         cross-attention to the frame's caption
 * x = x + attn_temp(norm_temp(x))       temporal attention over the clip's frames (RoPE + relative position bias; images skip it)
 * x = x + ff(norm3(x))                  GEGLU feed-forward
 * </pre>
 * Interpolation (interpolation/models/attention.py, behaviours 9 and 10):
 * <pre>
 * x = x + attn1(norm1(x), F)            sparse-causal: keys/values of frame 0 and frame f−1 (use_first_frame), else spatial
 * x = x + attn2(norm2(x), text)
 * x = x + ff(norm3(x))                  feed-forward BEFORE the temporal attention
 * x = x + attn_temp(norm_temp(x))       plain multi-head self-attention over frames, no positional information
 * </pre>
 * LayerNorms use eps 1e-5. Deviation: the reference decides image skipping from {@code self.training} and
 * {@code use_image_num}; here an explicit {@link FrameLayout} decides, in any mode (the interpolation block has no
 * image frames).
 */
public final class BasicTransformerBlock extends Module {
    private final CrossAttention attn1;
    private final LayerNorm norm1;
    private final CrossAttention attn2;
    private final LayerNorm norm2;
    private final FeedForward ff;
    private final LayerNorm norm3;
    private final Module attnTemp;            // TemporalAttention (base) or CrossAttention (interpolation)
    private final LayerNorm normTemp;
    private final BlockVariant variant;
    private final boolean sparseCausal;
    private final int dim;

    /**
     * The base block.
     *
     * @param dim        channels C of the tokens
     * @param heads      attention heads (head size C / heads)
     * @param contextDim width of the text states
     * @param rotary     the UNet's shared RoPE module (or null for none)
     */
    public BasicTransformerBlock(int dim, int heads, int dimHead, int contextDim, RotaryEmbedding rotary) {
        this(BlockVariant.BASE, dim, heads, dimHead, contextDim, rotary, false, 0);
    }

    /**
     * The base block with a learned absolute frame position table of {@code framePositions} frames in its temporal
     * attention (an extension, see {@link TemporalAttention}; 0 = LaVie's block).
     */
    public BasicTransformerBlock(int dim, int heads, int dimHead, int contextDim, RotaryEmbedding rotary, int framePositions) {
        this(BlockVariant.BASE, dim, heads, dimHead, contextDim, rotary, false, framePositions);
    }

    /**
     * The interpolation block.
     *
     * @param sparseCausal the reference's {@code use_first_frame}: attn1 attends to frame 0 and the previous frame
     */
    public static BasicTransformerBlock interpolation(int dim, int heads, int dimHead, int contextDim, boolean sparseCausal) {
        return new BasicTransformerBlock(BlockVariant.INTERPOLATION, dim, heads, dimHead, contextDim, null, sparseCausal, 0);
    }

    private BasicTransformerBlock(BlockVariant variant, int dim, int heads, int dimHead, int contextDim, RotaryEmbedding rotary,
                                  boolean sparseCausal, int framePositions) {
        this.variant = variant;
        this.sparseCausal = sparseCausal;
        this.dim = dim;
        attn1 = child("attn1", CrossAttention.selfAttention(dim, heads, dimHead));
        norm1 = child("norm1", new LayerNorm(dim));
        attn2 = child("attn2", new CrossAttention(dim, contextDim, heads, dimHead));
        norm2 = child("norm2", new LayerNorm(dim));
        if (variant == BlockVariant.BASE) {           // registration order = the reference's state-dict order
            attnTemp = child("attn_temp", new TemporalAttention(dim, heads, dimHead, rotary, framePositions));
            normTemp = child("norm_temp", new LayerNorm(dim));
            ff = child("ff", new FeedForward(dim));
            norm3 = child("norm3", new LayerNorm(dim));
        } else {
            ff = child("ff", new FeedForward(dim));
            norm3 = child("norm3", new LayerNorm(dim));
            attnTemp = child("attn_temp", CrossAttention.selfAttention(dim, heads, dimHead));
            normTemp = child("norm_temp", new LayerNorm(dim));
        }
        // as the reference (both attention.py files, BasicTransformerBlock.__init__): a new temporal branch starts with
        // a zero output weight, so a fresh block adds only the output bias to what the spatial layers compute
        attnTemp.namedEntries().get("to_out.0.weight").data().assign(0);
    }

    /**
     * x: ((B·F), H·W, C) frame tokens (b outer); context: ((B·F), L, D) text states per frame -> same shape as x.
     */
    public Tensor forward(Tensor x, Tensor context, FrameLayout layout) {
        long[] xs = x.shape();
        if (xs.length != 3 || xs[2] != dim)
            throw new IllegalArgumentException("BasicTransformerBlock(dim=" + dim + "): hidden_states must be ((B*F), H*W, " + dim + "), got " + Arrays.toString(xs));
        int frames = layout.frames();
        if (xs[0] % frames != 0)
            throw new IllegalArgumentException("BasicTransformerBlock: " + xs[0] + " frames in the batch are not a multiple of " + frames + " frames per sample");
        if (variant == BlockVariant.INTERPOLATION && layout.imageCount() > 0)
            throw new IllegalArgumentException("BasicTransformerBlock (interpolation): joint image-video layout " + layout + " is not supported");
        long batch = xs[0] / frames;

        // the residual connections join the output projections' products (Linear.forwardAdd): one pass, the same floats
        Tensor h = norm1.forward(x);
        Tensor x1;                                                              // (b*f, n, c)
        if (sparseCausal) {
            Tensor a = attn1.forwardSparseCausal(h, frames);
            x1 = Ops.addInto(a, x);                                             // into a when nothing records
            if (x1 != a) a.release();
        } else {
            x1 = attn1.forwardAdd(h, null, x);
        }
        h.release();

        h = norm2.forward(x1);
        Tensor x2 = attn2.forwardAdd(h, context, x1);
        h.release();
        x1.release();

        if (variant == BlockVariant.BASE) {
            Tensor x3 = temporal(x2, batch, layout);
            if (x3 != x2) x2.release();
            Tensor out = feedForward(x3);
            x3.release();
            return out;
        }
        Tensor x3 = feedForward(x2);                                            // interpolation: FF before the temporal attention
        x2.release();
        Tensor out = temporal(x3, batch, layout);
        if (out != x3) x3.release();
        return out;
    }

    /** x + ff(norm3(x)). */
    private Tensor feedForward(Tensor x) {
        Tensor h = norm3.forward(x);
        Tensor out = ff.forwardAdd(h, x);
        h.release();
        return out;
    }

    /**
     * x + attn_temp(norm_temp(x)) over the video frames of each sample; image frames pass unchanged. The base block's
     * temporal attention reads the tokens as a permuted view, (b, n, fv, c) of x's (b, f, n, c), without a copy:
     * LayerNorm reads the view's rows in place and the residual pass writes the sum laid out like x, so permuting back
     * gives c-contiguous tokens again (where nothing records; otherwise the ops copy as they need).
     */
    private Tensor temporal(Tensor x, long batch, FrameLayout layout) {
        long n = x.size(1), c = x.size(2);
        int video = layout.videoFrames(), frames = layout.frames();
        Tensor x4 = Ops.reshape(x, batch, frames, n, c);                          // (b, f, n, c)
        Tensor clip = layout.imageCount() == 0 ? x4 : Ops.slice(x4, 1, 0, video);   // (b, fv, n, c)
        Tensor tokens = Ops.permute(clip, 0, 2, 1, 3);                            // (b, n, fv, c), a view
        Tensor y;                                                                 // (b, n, fv, c)
        if (attnTemp instanceof TemporalAttention t) {
            Tensor h = normTemp.forward(tokens);
            y = t.forwardAdd(h, tokens);
            h.release();
        } else {                                                                  // the interpolation block's plain attention
            Tensor seq = Ops.reshape(tokens, batch * n, video, c);                // (b*n, fv, c): a copy unless b = 1
            Tensor h = normTemp.forward(seq);
            y = Ops.reshape(((CrossAttention) attnTemp).forwardAdd(h, null, seq), batch, n, video, c);
            h.release();
            if (!seq.sharesMemoryWith(x)) seq.release();
        }
        Tensor back = Ops.permute(y, 0, 2, 1, 3);                                 // (b, fv, n, c)
        if (layout.imageCount() > 0)
            back = Ops.concat(1, back, Ops.slice(x4, 1, video, frames));          // (b, f, n, c): images untouched
        return Ops.reshape(back, batch * frames, n, c);                         // (b*f, n, c)
    }

    /** The base block's temporal attention; fails for the interpolation block (see {@link #attnTempPlain()}). */
    public TemporalAttention attnTemp() {
        if (attnTemp instanceof TemporalAttention t) return t;
        throw new IllegalStateException("the interpolation block's attn_temp is a plain CrossAttention (attnTempPlain())");
    }

    /** The interpolation block's temporal attention (plain self-attention over frames); fails for the base block. */
    public CrossAttention attnTempPlain() {
        if (attnTemp instanceof CrossAttention a) return a;
        throw new IllegalStateException("the base block's attn_temp is a TemporalAttention (attnTemp())");
    }

    public BlockVariant variant() { return variant; }

    /** Whether attn1 is sparse-causal (the reference's {@code use_first_frame}). */
    public boolean sparseCausal() { return sparseCausal; }

    public int dim() { return dim; }

    /** Width of the text states attn2 reads. */
    public int contextDim() { return attn2.contextDim(); }
}
