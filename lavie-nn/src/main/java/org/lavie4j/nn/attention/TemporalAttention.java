package org.lavie4j.nn.attention;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Dropout;
import org.lavie4j.nn.layers.Linear;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Temporal self-attention over frames with RoPE and relative position bias: LaVie base/models/attention.py
 * {@code TemporalAttention} (base-unet.md §8). Per spatial position the F frames attend to each other:
 * <pre>
 *   q = rope(d^-0.5 · to_q(x)), k = rope(to_k(x)), v = to_v(x)      scale BEFORE the rotation (README behaviour 3)
 *   S = q·kᵀ + bias[h, i, j]                                       relative position bias, always added (behaviour 5)
 *   y = to_out(softmax(S − max S)·v)                                row max subtracted (behaviour 6)
 * </pre>
 * Keys: {@code to_q/to_k/to_v} (no bias), {@code to_out.0} (bias), {@code time_rel_pos_bias.relative_attention_bias.weight}
 * [32, heads] and, when a rotary module is given, {@code rotary_emb.freqs}: the rotary module is shared between all
 * temporal attentions of a UNet (one instance, registered under each owner; behaviour 8). A null rotary module
 * means no positional rotation (the reference's {@code rotary_emb=None}).
 *
 * <p>Extension (not in LaVie, off unless asked for): a learned absolute frame position table
 * {@code frame_position_embedding} [maxFrames, C], zero-initialised, added to the input before the projections
 * ({@code x + E[0..F−1]}, AnimateDiff's placement of its frame position encoding, learned instead of sinusoidal). RoPE and
 * the relative bias only tell a query how far away a key is, and a softmax average of values that are the same on every
 * frame is that value again, so LaVie's temporal attention cannot tell the first frame of a clip from the last while the
 * frames hold only noise; the table gives it that. Zero at the start, it leaves a trained model's output unchanged, so
 * it can be added to a checkpoint and fine-tuned (training/README.md, run 8).
 */
public final class TemporalAttention extends Module {
    private final Linear toQ, toK, toV, toOut;
    private final RelativePositionBias timeRelPosBias;
    private final RotaryEmbedding rotaryEmb;
    private final Parameter framePositionEmbedding;          // (maxFrames, C) or null
    private final int queryDim, heads, dimHead, maxFrames;
    private final double scale;
    private long maxScoreBytes = Attention.DEFAULT_MAX_SCORE_BYTES;

    /**
     * @param queryDim channels C of the input (and output)
     * @param rotary   the shared {@code RotaryEmbedding(32)}, or null for none; its dim must not exceed {@code dimHead}
     */
    public TemporalAttention(int queryDim, int heads, int dimHead, RotaryEmbedding rotary) {
        this(queryDim, heads, dimHead, rotary, 0);
    }

    /**
     * @param framePositions 0 for LaVie's attention; otherwise the frames of the learned absolute frame position table
     *                       (zero-initialised), the most frames a clip may have
     */
    public TemporalAttention(int queryDim, int heads, int dimHead, RotaryEmbedding rotary, int framePositions) {
        if (queryDim <= 0 || heads <= 0 || dimHead <= 0 || framePositions < 0)
            throw new IllegalArgumentException("invalid TemporalAttention(queryDim=" + queryDim + ", heads=" + heads + ", dimHead=" + dimHead
                    + ", framePositions=" + framePositions + ")");
        if (rotary != null && rotary.dim() > dimHead)
            throw new IllegalArgumentException("TemporalAttention: rotary dim " + rotary.dim() + " exceeds the head size " + dimHead);
        this.queryDim = queryDim;
        this.heads = heads;
        this.dimHead = dimHead;
        this.scale = Math.pow(dimHead, -0.5);
        int inner = heads * dimHead;
        toQ = child("to_q", new Linear(queryDim, inner, false));
        toK = child("to_k", new Linear(queryDim, inner, false));
        toV = child("to_v", new Linear(queryDim, inner, false));
        toOut = child("to_out", new ModuleList<Module>(new Linear(inner, queryDim, true), new Dropout())).get(0, Linear.class);
        timeRelPosBias = child("time_rel_pos_bias", new RelativePositionBias(heads, 32, 32));
        rotaryEmb = rotary == null ? null : child("rotary_emb", rotary);
        maxFrames = framePositions;
        framePositionEmbedding = framePositions == 0 ? null
                : parameter("frame_position_embedding", Nd4j.zeros(DataType.FLOAT, framePositions, queryDim));
    }

    /** LaVie's layout: head size C / heads. */
    public TemporalAttention(int dim, int heads, RotaryEmbedding rotary) {
        this(dim, heads, headSize(dim, heads), rotary);
    }

    private static int headSize(int dim, int heads) {
        if (heads <= 0 || dim % heads != 0)
            throw new IllegalArgumentException("TemporalAttention: dim " + dim + " not divisible by " + heads + " heads");
        return dim / heads;
    }

    /** Sets the byte budget of one score block (default {@link Attention#DEFAULT_MAX_SCORE_BYTES}); returns this. */
    public TemporalAttention maxScoreBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("maxScoreBytes must be positive, got " + bytes);
        this.maxScoreBytes = bytes;
        return this;
    }

    public long maxScoreBytes() { return maxScoreBytes; }

    /** x: ((B·H·W), F, C) -> ((B·H·W), F, C); any leading axes, (…, F, C), are sequences as well. */
    public Tensor forward(Tensor x) { return forwardAdd(x, null); }

    /**
     * {@code forward(x) + addend} (the block's residual connection, addend shaped as x), the addend joining
     * {@code to_out}'s product in one pass ({@link Linear#forwardAdd}); a null addend adds nothing. x is (…, F, C): the
     * leading axes are the sequences, e.g. (B, H·W, F, C), where a transformer block passes the permuted view of its
     * tokens as the addend, so the result comes out laid out like the tokens (see {@code Ops.linearAdd}).
     */
    public Tensor forwardAdd(Tensor x, Tensor addend) {
        long[] xs = x.shape();
        if (xs.length < 3 || xs[xs.length - 1] != queryDim)
            throw new IllegalArgumentException("TemporalAttention: hidden_states must be ((B*H*W), F, " + queryDim + "), got " + Arrays.toString(xs));
        if (addend != null && !Arrays.equals(xs, addend.shape()))
            throw new IllegalArgumentException("TemporalAttention: the residual " + Arrays.toString(addend.shape()) + " is not shaped as hidden_states " + Arrays.toString(xs));
        int frames = Math.toIntExact(xs[xs.length - 2]);
        Tensor seq = xs.length == 3 ? x : Ops.reshape(x, x.numel() / ((long) frames * queryDim), frames, queryDim); // (b*h*w, f, C)
        Tensor in = withFramePositions(seq, frames);                            // seq, or seq + E[0..f-1]
        Tensor bias = timeRelPosBias.forward(frames);                           // (h, f, f)
        Tensor ql = toQ.forward(in), kl = toK.forward(in), vl = toV.forward(in); // (b*h*w, f, h*d)
        if (in != seq) in.release();
        Tensor qs = Ops.scaleInto(ql, scale);                                   // scaled before RoPE; into ql when nothing records
        Tensor q = Attention.splitHeads(qs, heads);                             // (b*h*w, h, f, d)
        Tensor k = Attention.splitHeads(kl, heads);                             // (b*h*w, h, f, d)
        Tensor v = Attention.splitHeads(vl, heads);                             // (b*h*w, h, f, d)
        // RoPE on q and k, positions along frames (axis -2): inside the fused kernel as it reads their rows, else as ops
        Attention.Rotary rotary = rotaryEmb == null ? null : rotaryEmb.positions(frames);
        Tensor o = Attention.scaledDotProduct(q, k, v, bias, 1.0, maxScoreBytes, rotary); // (b*h*w, h, f, d); q is pre-scaled
        Tensor merged = Attention.mergeHeads(o);                                // (b*h*w, f, h*d)
        Tensor shaped = xs.length == 3 ? merged : Ops.reshape(merged, xs);      // (…, f, h*d)
        // (…, f, C); to_out.1 is Dropout(0)
        Tensor y = addend == null ? toOut.forward(shaped) : toOut.forwardAdd(shaped, addend);
        if (shaped != merged && !shaped.sharesMemoryWith(merged)) shaped.release();   // a copy (a view goes with merged)
        if (seq != x && !seq.sharesMemoryWith(x)) seq.release();                      // a copy; a view is the caller's
        if (qs != ql) qs.release();
        Tensor.release(ql, kl, vl, q, k, v, o, merged, bias);                   // no-op while recording
        return y;
    }

    /** x + E[0..frames−1] broadcast over the positions; x itself without a table. */
    private Tensor withFramePositions(Tensor x, int frames) {
        if (framePositionEmbedding == null) return x;
        if (frames > maxFrames)
            throw new IllegalArgumentException("TemporalAttention: " + frames + " frames, but frame_position_embedding holds positions for "
                    + maxFrames + " (the UNet config's frame_position_embeddings)");
        Tensor table = framePositionEmbedding.tensor();                         // (maxFrames, C)
        Tensor rows = frames == maxFrames ? table : Ops.slice(table, 0, 0, frames);
        Tensor out = Ops.add(x, rows);                                          // (b*h*w, f, C)
        table.release();                   // frees a FLOAT copy of a half-stored table (rows is a view of it); no-op otherwise
        return out;
    }

    /** The most frames the learned frame position table covers; 0 when there is none (LaVie). */
    public int framePositions() { return maxFrames; }

    /** The learned absolute frame position table (maxFrames, C), or null (LaVie). */
    public Parameter framePositionEmbedding() { return framePositionEmbedding; }

    public int heads() { return heads; }

    public int dimHead() { return dimHead; }

    public int queryDim() { return queryDim; }

    /** The rotary module (shared), or null. */
    public RotaryEmbedding rotaryEmb() { return rotaryEmb; }

    public RelativePositionBias timeRelPosBias() { return timeRelPosBias; }
}
