package org.lavie4j.nn.attention;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Dropout;
import org.lavie4j.nn.layers.Linear;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * Multi-head attention of LaVie base/models/attention.py {@code CrossAttention} (diffusers 0.10-0.16 style), used as
 * spatial self-attention ({@code attn1}, no context) and text cross-attention ({@code attn2}). {@code to_q/to_k/to_v}
 * have no bias in LaVie (configurable as the reference's {@code bias} flag), {@code to_out = [Linear(bias), Dropout]}.
 * The scale {@code dim_head^-0.5} multiplies the product QKᵀ (baddbmm alpha, README behaviour 3); no mask, no upcast.
 * Scores are computed in query chunks bounded by a byte budget ({@link Attention#scaledDotProduct}), which changes
 * memory, never the result.
 *
 * <p>{@link #forwardSparseCausal} is the interpolation stage's {@code attn1} (interpolation/models/attention.py
 * {@code SparseCausalAttention}, a subclass with the same parameters and another forward): the keys and values of
 * frame f are the tokens of frame 0 followed by those of frame max(f − 1, 0).
 */
public final class CrossAttention extends Module {
    private final Linear toQ, toK, toV, toOut;
    private final int queryDim, contextDim, heads, dimHead;
    private final double scale;
    private long maxScoreBytes = Attention.DEFAULT_MAX_SCORE_BYTES;

    /**
     * @param queryDim   channels of the input tokens
     * @param contextDim channels of the context (text states) for cross-attention, or {@code queryDim} (also pass
     *                   {@code null} context to forward) for self-attention
     * @param qkvBias    the reference's {@code bias} flag (false in LaVie)
     */
    public CrossAttention(int queryDim, int contextDim, int heads, int dimHead, boolean qkvBias) {
        if (queryDim <= 0 || contextDim <= 0 || heads <= 0 || dimHead <= 0)
            throw new IllegalArgumentException("invalid CrossAttention(queryDim=" + queryDim + ", contextDim=" + contextDim
                    + ", heads=" + heads + ", dimHead=" + dimHead + ")");
        this.queryDim = queryDim;
        this.contextDim = contextDim;
        this.heads = heads;
        this.dimHead = dimHead;
        this.scale = Math.pow(dimHead, -0.5);
        int inner = heads * dimHead;
        toQ = child("to_q", new Linear(queryDim, inner, qkvBias));
        toK = child("to_k", new Linear(contextDim, inner, qkvBias));
        toV = child("to_v", new Linear(contextDim, inner, qkvBias));
        toOut = child("to_out", new ModuleList<Module>(new Linear(inner, queryDim, true), new Dropout())).get(0, Linear.class);
    }

    /** LaVie's layout: no bias on q, k, v. */
    public CrossAttention(int queryDim, int contextDim, int heads, int dimHead) {
        this(queryDim, contextDim, heads, dimHead, false);
    }

    /** Self-attention (context = the input itself). */
    public static CrossAttention selfAttention(int queryDim, int heads, int dimHead) {
        return new CrossAttention(queryDim, queryDim, heads, dimHead, false);
    }

    /** Sets the byte budget of one score block (default {@link Attention#DEFAULT_MAX_SCORE_BYTES}); returns this. */
    public CrossAttention maxScoreBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("maxScoreBytes must be positive, got " + bytes);
        this.maxScoreBytes = bytes;
        return this;
    }

    public long maxScoreBytes() { return maxScoreBytes; }

    /**
     * x: (B·F, L, queryDim); context: (B·F, Lk, contextDim) or null for self-attention -> (B·F, L, queryDim).
     */
    public Tensor forward(Tensor x, Tensor context) { return forwardAdd(x, context, null); }

    /**
     * {@code forward(x, context) + addend} (the block's residual connection, addend shaped as x), the addend joining
     * {@code to_out}'s product in one pass ({@link Linear#forwardAdd}); a null addend adds nothing.
     */
    public Tensor forwardAdd(Tensor x, Tensor context, Tensor addend) {
        if (x.rank() != 3 || x.size(2) != queryDim)
            throw new IllegalArgumentException("CrossAttention: hidden_states must be (B*F, L, " + queryDim + "), got " + Arrays.toString(x.shape()));
        Tensor s = context == null ? x : context;
        if (s.rank() != 3 || s.size(0) != x.size(0) || s.size(2) != contextDim)
            throw new IllegalArgumentException("CrossAttention: " + (context == null ? "self-attention input" : "encoder_hidden_states")
                    + " must be (" + x.size(0) + ", Lk, " + contextDim + ") for hidden_states " + Arrays.toString(x.shape())
                    + ", got " + Arrays.toString(s.shape()));
        Tensor ql = toQ.forward(x), kl = toK.forward(s), vl = toV.forward(s);  // (b*f, l|lk, h*d)
        Tensor q = Attention.splitHeads(ql, heads);                             // (b*f, h, l, d)
        Tensor k = Attention.splitHeads(kl, heads);                             // (b*f, h, lk, d)
        Tensor v = Attention.splitHeads(vl, heads);                             // (b*f, h, lk, d)
        Tensor o = Attention.scaledDotProduct(q, k, v, null, scale, maxScoreBytes); // (b*f, h, l, d)
        Tensor merged = Attention.mergeHeads(o);                                // (b*f, l, h*d)
        // (b*f, l, queryDim); to_out.1 is Dropout(0)
        Tensor y = addend == null ? toOut.forward(merged) : toOut.forwardAdd(merged, addend);
        Tensor.release(ql, kl, vl, o, merged);                                  // no-op while recording
        return y;
    }

    /**
     * Sparse-causal self-attention (interpolation-unet.md §1.2): x ((B·F), N, queryDim), b outer, f inner
     * -> ((B·F), N, queryDim). Queries are frame f's tokens; keys and values are
     * {@code concat_tokens(K[b, 0], K[b, max(f − 1, 0)])} (2N per query frame), gathered per sample b.
     */
    public Tensor forwardSparseCausal(Tensor x, int frames) {
        if (x.rank() != 3 || x.size(2) != queryDim)
            throw new IllegalArgumentException("SparseCausalAttention: hidden_states must be (B*F, N, " + queryDim + "), got " + Arrays.toString(x.shape()));
        if (contextDim != queryDim)
            throw new IllegalArgumentException("SparseCausalAttention is self-attention: context width " + contextDim + " differs from " + queryDim);
        if (frames < 1 || x.size(0) % frames != 0)
            throw new IllegalArgumentException("SparseCausalAttention: " + x.size(0) + " frames in the batch are not a multiple of " + frames + " frames per sample");
        long batch = x.size(0) / frames;
        Tensor ql = toQ.forward(x), kl = toK.forward(x), vl = toV.forward(x);  // (b*f, n, h*d)
        Tensor kf = firstAndPreviousFrame(kl, batch, frames);                   // (b*f, 2n, h*d)
        Tensor vf = firstAndPreviousFrame(vl, batch, frames);                   // (b*f, 2n, h*d)
        Tensor.release(kl, vl);
        Tensor q = Attention.splitHeads(ql, heads);                             // (b*f, h, n, d)
        Tensor k = Attention.splitHeads(kf, heads);                             // (b*f, h, 2n, d)
        Tensor v = Attention.splitHeads(vf, heads);                             // (b*f, h, 2n, d)
        Tensor o = Attention.scaledDotProduct(q, k, v, null, scale, maxScoreBytes); // (b*f, h, n, d)
        Tensor merged = Attention.mergeHeads(o);                                // (b*f, n, h*d)
        Tensor y = toOut.forward(merged);                                       // (b*f, n, queryDim); to_out.1 is Dropout(0)
        Tensor.release(ql, kf, vf, o, merged);                                  // no-op while recording
        return y;
    }

    /**
     * t ((B·F), N, C) -> ((B·F), 2N, C): for frame f of sample b, the tokens of frame 0 then those of frame
     * max(f − 1, 0) of the same sample (the reference's {@code cat([t[:, [0]*F], t[:, former_frame_index]], dim=2)}).
     * One recorded op (a gather with a scatter-add backward) rather than a slice/repeat/concat composition: one copy
     * instead of three.
     */
    static Tensor firstAndPreviousFrame(Tensor t, long batch, int frames) {
        long n = t.size(1), c = t.size(2);
        INDArray in = t.data().reshape('c', batch, frames, n, c);                      // (b, f, n, c), a view when contiguous
        INDArray out = Memory.uninitialized(in.dataType(), batch, frames, 2 * n, c); // (b, f, 2n, c)
        INDArrayIndex all = NDArrayIndex.all(), firstHalf = NDArrayIndex.interval(0, n), secondHalf = NDArrayIndex.interval(n, 2 * n);
        INDArray frame0 = in.get(all, NDArrayIndex.point(0), all, all);                // (b, n, c)
        for (int f = 0; f < frames; f++) {
            out.get(all, NDArrayIndex.point(f), firstHalf, all).assign(frame0);        // frame 0's tokens first
            out.get(all, NDArrayIndex.point(f), secondHalf, all).assign(in.get(all, NDArrayIndex.point(Math.max(f - 1, 0)), all, all));
        }
        if (in.data().addressPointer().address() != t.data().data().addressPointer().address())
            Memory.free(in);                                                           // a reshape copy of a strided input
        INDArray out3 = out.reshape('c', batch * frames, 2 * n, c);                    // ((b*f), 2n, c), a view of out
        long[] inShape = t.shape();
        return Ops.record("firstAndPreviousFrame", out3, out, g -> {
            INDArray g4 = g.reshape('c', batch, frames, 2 * n, c);                     // (b, f, 2n, c)
            INDArray gx = Nd4j.zeros(g.dataType(), batch, frames, n, c);              // (b, f, n, c)
            for (int f = 0; f < frames; f++) {
                gx.get(all, NDArrayIndex.point(0), all, all).addi(g4.get(all, NDArrayIndex.point(f), firstHalf, all));
                gx.get(all, NDArrayIndex.point(Math.max(f - 1, 0)), all, all).addi(g4.get(all, NDArrayIndex.point(f), secondHalf, all));
            }
            return new INDArray[]{gx.reshape('c', inShape)};
        }, t);
    }

    /** Self-attention: {@code forward(x, null)}. */
    public Tensor forward(Tensor x) { return forward(x, null); }

    public int heads() { return heads; }

    public int dimHead() { return dimHead; }

    public int queryDim() { return queryDim; }

    public int contextDim() { return contextDim; }
}
