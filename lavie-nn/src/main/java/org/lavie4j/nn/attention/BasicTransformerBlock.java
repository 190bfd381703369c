package org.lavie4j.nn.attention;

import org.lavie4j.core.Ops;
import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.LayerNorm;

import java.util.Arrays;

/**
 * LaVie base {@code BasicTransformerBlock} (base/models/attention.py), base order (behaviour 9):
 * <pre>
 * x = x + attn1(norm1(x))               spatial self-attention within each frame
 * x = x + attn2(norm2(x), text)         cross-attention to the frame's caption
 * x = x + attn_temp(norm_temp(x))       temporal attention over the clip's frames (images skip it)
 * x = x + ff(norm3(x))                  GEGLU feed-forward
 * </pre>
 * LayerNorms use eps 1e-5. Deviation: the reference decides image skipping from {@code self.training} and
 * {@code use_image_num}; here an explicit {@link FrameLayout} decides, in any mode.
 */
public final class BasicTransformerBlock extends Module {
    private final CrossAttention attn1;
    private final LayerNorm norm1;
    private final CrossAttention attn2;
    private final LayerNorm norm2;
    private final TemporalAttention attnTemp;
    private final LayerNorm normTemp;
    private final FeedForward ff;
    private final LayerNorm norm3;
    private final int dim;

    /**
     * @param dim        channels C of the tokens
     * @param heads      attention heads (head size C / heads)
     * @param contextDim width of the text states
     * @param rotary     the UNet's shared RoPE module (or null for none)
     */
    public BasicTransformerBlock(int dim, int heads, int dimHead, int contextDim, RotaryEmbedding rotary) {
        this.dim = dim;
        attn1 = child("attn1", CrossAttention.selfAttention(dim, heads, dimHead));
        norm1 = child("norm1", new LayerNorm(dim));
        attn2 = child("attn2", new CrossAttention(dim, contextDim, heads, dimHead));
        norm2 = child("norm2", new LayerNorm(dim));
        attnTemp = child("attn_temp", new TemporalAttention(dim, heads, dimHead, rotary));
        // as the reference (attention.py, BasicTransformerBlock.__init__): a new temporal branch starts with a zero
        // output weight, so a fresh block adds only the output bias to what the spatial layers compute
        attnTemp.namedEntries().get("to_out.0.weight").data().assign(0);
        normTemp = child("norm_temp", new LayerNorm(dim));
        ff = child("ff", new FeedForward(dim));
        norm3 = child("norm3", new LayerNorm(dim));
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

        Tensor h = norm1.forward(x);
        Tensor a = attn1.forward(h);
        h.release();
        Tensor x1 = Ops.add(a, x);                                             // (b*f, n, c)
        a.release();

        h = norm2.forward(x1);
        a = attn2.forward(h, context);
        h.release();
        Tensor x2 = Ops.add(a, x1);
        Tensor.release(a, x1);

        Tensor x3 = temporal(x2, xs[0] / frames, layout);
        if (x3 != x2) x2.release();

        h = norm3.forward(x3);
        a = ff.forward(h);
        h.release();
        Tensor out = Ops.add(a, x3);
        Tensor.release(a, x3);
        return out;
    }

    /** x + attn_temp(norm_temp(x)) over the video frames of each sample; image frames pass unchanged. */
    private Tensor temporal(Tensor x, long batch, FrameLayout layout) {
        long n = x.size(1), c = x.size(2);
        int video = layout.videoFrames(), frames = layout.frames();
        Tensor x4 = Ops.reshape(x, batch, frames, n, c);                          // (b, f, n, c)
        Tensor clip = layout.imageCount() == 0 ? x4 : Ops.slice(x4, 1, 0, video);   // (b, fv, n, c)
        Tensor tokens = Ops.reshape(Ops.permute(clip, 0, 2, 1, 3), batch * n, video, c); // (b*n, fv, c): b outer, n inner
        Tensor h = normTemp.forward(tokens);
        Tensor a = attnTemp.forward(h);
        h.release();
        Tensor y = Ops.add(a, tokens);                                          // (b*n, fv, c)
        a.release();
        if (!tokens.sharesMemoryWith(x)) tokens.release();                     // usually a copy; a view of x when nothing moved
        Tensor back = Ops.permute(Ops.reshape(y, batch, n, video, c), 0, 2, 1, 3); // (b, fv, n, c)
        if (layout.imageCount() > 0)
            back = Ops.concat(1, back, Ops.slice(x4, 1, video, frames));          // (b, f, n, c): images untouched
        return Ops.reshape(back, batch * frames, n, c);                         // (b*f, n, c)
    }

    public TemporalAttention attnTemp() { return attnTemp; }

    public int dim() { return dim; }
}
