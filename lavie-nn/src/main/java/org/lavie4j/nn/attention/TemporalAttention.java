package org.lavie4j.nn.attention;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Dropout;
import org.lavie4j.nn.layers.Linear;

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
 */
public final class TemporalAttention extends Module {
    private final Linear toQ, toK, toV, toOut;
    private final RelativePositionBias timeRelPosBias;
    private final RotaryEmbedding rotaryEmb;
    private final int queryDim, heads, dimHead;
    private final double scale;
    private long maxScoreBytes = Attention.DEFAULT_MAX_SCORE_BYTES;

    /**
     * @param queryDim channels C of the input (and output)
     * @param rotary   the shared {@code RotaryEmbedding(32)}, or null for none; its dim must not exceed {@code dimHead}
     */
    public TemporalAttention(int queryDim, int heads, int dimHead, RotaryEmbedding rotary) {
        if (queryDim <= 0 || heads <= 0 || dimHead <= 0)
            throw new IllegalArgumentException("invalid TemporalAttention(queryDim=" + queryDim + ", heads=" + heads + ", dimHead=" + dimHead + ")");
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

    /** x: ((B·H·W), F, C) -> ((B·H·W), F, C). */
    public Tensor forward(Tensor x) {
        if (x.rank() != 3 || x.size(2) != queryDim)
            throw new IllegalArgumentException("TemporalAttention: hidden_states must be ((B*H*W), F, " + queryDim + "), got " + Arrays.toString(x.shape()));
        int frames = Math.toIntExact(x.size(1));
        Tensor bias = timeRelPosBias.forward(frames);                           // (h, f, f)
        Tensor ql = toQ.forward(x), kl = toK.forward(x), vl = toV.forward(x);  // (b*h*w, f, h*d)
        Tensor q = Ops.scale(Attention.splitHeads(ql, heads), scale);           // (b*h*w, h, f, d), scaled before RoPE
        Tensor k = Attention.splitHeads(kl, heads);                             // (b*h*w, h, f, d)
        Tensor v = Attention.splitHeads(vl, heads);                             // (b*h*w, h, f, d)
        Tensor qr = q, kr = k;
        if (rotaryEmb != null) {
            qr = rotaryEmb.rotateQueriesOrKeys(q);                              // positions along frames (axis -2)
            kr = rotaryEmb.rotateQueriesOrKeys(k);
        }
        Tensor o = Attention.scaledDotProduct(qr, kr, v, bias, 1.0, maxScoreBytes); // (b*h*w, h, f, d); q is pre-scaled
        Tensor merged = Attention.mergeHeads(o);                                // (b*h*w, f, h*d)
        Tensor y = toOut.forward(merged);                                       // (b*h*w, f, C); to_out.1 is Dropout(0)
        Tensor.release(ql, kl, vl, q, qr, kr, o, merged, bias);                 // no-op while recording
        return y;
    }

    public int heads() { return heads; }

    public int dimHead() { return dimHead; }

    public int queryDim() { return queryDim; }

    /** The rotary module (shared), or null. */
    public RotaryEmbedding rotaryEmb() { return rotaryEmb; }

    public RelativePositionBias timeRelPosBias() { return timeRelPosBias; }
}
