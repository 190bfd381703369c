package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Scaled dot-product attention {@code softmax(scale·QKᵀ + bias)·V} over head-split tensors, memory-bounded.
 *
 * <p>{@link #scaledDotProduct} processes query rows in chunks so that one score block
 * {@code (B·H, chunk, Lk)} never exceeds a byte budget (spatial attention at 320x512 sees 2,560 tokens per
 * frame; the x4 VAE's mid-block 163,840). It is recorded as a single tape node whose backward recomputes the
 * probabilities chunk by chunk from the saved q, k, v, bias and output (flash-attention style:
 * {@code dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O))}), so the tape never holds a full score matrix. Every chunk spans all
 * keys, so P is recomputed with the softmax op itself rather than from a saved log-sum-exp: one ND4J op instead of
 * a subtract and an exp, measured no slower at (16, 1024, 1024). {@link #naive} is the straightforward twin
 * composed from {@link Ops}.
 *
 * <p>Reference: diffusers {@code CrossAttention._attention} (scale applied to the product via
 * {@code baddbmm(alpha=d^-0.5)}) and LaVie's {@code TemporalAttention} (additive relative position bias,
 * explicit row-max subtraction; there the caller pre-scales Q and passes {@code scale = 1}).
 */
public final class Attention {
    /** Default byte budget of one score block: 256 MB. */
    public static final long DEFAULT_MAX_SCORE_BYTES = 256L << 20;

    private Attention() {}

    // ------------------------------------------------------------------ head split

    /**
     * {@code b l (h d) -> b h l d}: x (B, L, H·D) -> (B, H, L, D), a view. Flattening the result's first two dims
     * gives diffusers' {@code reshape_heads_to_batch_dim} order (batch index {@code b·H + h}, head inner).
     */
    public static Tensor splitHeads(Tensor x, int heads) {
        if (x.rank() != 3) throw new IllegalArgumentException("splitHeads: expected (B, L, H*D), got " + Arrays.toString(x.shape()));
        long b = x.size(0), l = x.size(1), c = x.size(2);
        if (heads <= 0 || c % heads != 0)
            throw new IllegalArgumentException("splitHeads: channels " + c + " of " + Arrays.toString(x.shape()) + " not divisible by " + heads + " heads");
        Tensor t = Ops.reshape(x, b, l, heads, c / heads);   // (b, l, h, d)
        return Ops.permute(t, 0, 2, 1, 3);                  // (b, h, l, d)
    }

    /** {@code b h l d -> b l (h d)}: the inverse of {@link #splitHeads}, (B, H, L, D) -> (B, L, H·D) (copies). */
    public static Tensor mergeHeads(Tensor x) {
        if (x.rank() != 4) throw new IllegalArgumentException("mergeHeads: expected (B, H, L, D), got " + Arrays.toString(x.shape()));
        long b = x.size(0), h = x.size(1), l = x.size(2), d = x.size(3);
        Tensor t = Ops.permute(x, 0, 2, 1, 3);              // (b, l, h, d)
        return Ops.reshape(t, b, l, h * d);                 // (b, l, h*d)
    }

    // ------------------------------------------------------------------ attention

    /** {@link #scaledDotProduct(Tensor, Tensor, Tensor, Tensor, double, long)} with {@link #DEFAULT_MAX_SCORE_BYTES}. */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, Tensor bias, double scale) {
        return scaledDotProduct(q, k, v, bias, scale, DEFAULT_MAX_SCORE_BYTES);
    }

    /**
     * {@code softmax(scale·Q·Kᵀ + bias)·V} with a max-subtracted softmax over keys.
     *
     * @param q (B, H, Lq, D)
     * @param k (B, H, Lk, D)
     * @param v (B, H, Lk, Dv)
     * @param bias additive, broadcastable to (B, H, Lq, Lk) (e.g. (1, H, Lq, Lk) or (Lq, Lk)); may be null and may
     *             require a gradient
     * @param maxScoreBytes budget of one score block (B·H, chunk, Lk); query rows are processed in chunks of
     *                      {@code max(1, maxScoreBytes / (B·H·Lk·itemsize))} (a single row may exceed
     *                      the budget). Forward holds one such block at a time, backward two (P and dS).
     * @return (B, H, Lq, Dv)
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, Tensor bias, double scale, long maxScoreBytes) {
        Shapes s = Shapes.of(q, k, v, bias);
        if (maxScoreBytes <= 0) throw new IllegalArgumentException("maxScoreBytes must be positive, got " + maxScoreBytes);
        DataType type = q.dtype();
        long bh = s.b * s.h;
        int chunk = chunkRows(bh, s.lq, s.lk, type, maxScoreBytes);

        INDArray q3 = q.data().reshape('c', bh, s.lq, s.d);    // (b*h, lq, d)
        INDArray k3 = k.data().reshape('c', bh, s.lk, s.d);    // (b*h, lk, d)
        INDArray v3 = v.data().reshape('c', bh, s.lk, s.dv);   // (b*h, lk, dv)
        INDArray bias4 = bias == null ? null : bias.data().reshape('c', s.bias4); // (1|b, 1|h, 1|lq, 1|lk)

        boolean recording = Grad.isRecording()
                && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad() || (bias != null && bias.requiresGrad()));
        INDArray out3 = chunk == s.lq ? null : Nd4j.createUninitialized(type, bh, s.lq, s.dv);

        for (long r0 = 0; r0 < s.lq; r0 += chunk) {
            long r1 = Math.min(s.lq, r0 + chunk);
            INDArray p = probabilities(q3, k3, bias4, s, r0, r1, scale); // (b*h, c, lk)
            INDArray o = Nd4j.matmul(p, v3);                          // (b*h, c, dv)
            Memory.free(p);
            if (out3 == null) out3 = o;
            else {
                rows(out3, r0, r1).assign(o);
                Memory.free(o);
            }
        }
        INDArray out = out3.reshape('c', s.b, s.h, s.lq, s.dv);

        Tensor[] inputs = bias == null ? new Tensor[]{q, k, v} : new Tensor[]{q, k, v, bias};
        if (!recording) {
            freeCopies(q, k, v, bias, q3, k3, v3, bias4);
            return Ops.record("scaledDotProduct", out, out3, g -> null, inputs);
        }
        INDArray o3 = out3;
        return Ops.record("scaledDotProduct", out, out3, g -> {
            INDArray[] grads = backward(g, q, k, v, bias, q3, k3, v3, bias4, o3, s, scale, chunk);
            freeCopies(q, k, v, bias, q3, k3, v3, bias4);
            return grads;
        }, inputs);
    }

    /** Query rows per chunk: as many as fit {@code maxScoreBytes} in one (bh, rows, lk) block, at least one. */
    static int chunkRows(long bh, long lq, long lk, DataType type, long maxScoreBytes) {
        long rowBytes = bh * lk * type.width();
        return (int) Math.max(1, Math.min(lq, maxScoreBytes / rowBytes));
    }

    private static INDArray[] backward(INDArray gradOut, Tensor q, Tensor k, Tensor v, Tensor bias,
                                       INDArray q3, INDArray k3, INDArray v3, INDArray bias4, INDArray o3,
                                       Shapes s, double scale, int chunk) {
        long bh = s.b * s.h;
        boolean needQ = q.requiresGrad(), needK = k.requiresGrad(), needV = v.requiresGrad();
        boolean needBias = bias != null && bias.requiresGrad();
        boolean needDs = needQ || needK || needBias;
        DataType type = q3.dataType();

        INDArray g3 = gradOut.reshape('c', bh, s.lq, s.dv);                 // (b*h, lq, dv)
        INDArray delta = needDs ? g3.mul(o3).sum(true, 2) : null;          // rowsum(dO ⊙ O): (b*h, lq, 1)
        INDArray dq3 = needQ && chunk < s.lq ? Nd4j.createUninitialized(type, bh, s.lq, s.d) : null;
        INDArray dk3 = null, dv3 = null;
        INDArray dBias4 = needBias ? Nd4j.zeros(type, s.bias4) : null;

        for (long r0 = 0; r0 < s.lq; r0 += chunk) {
            long r1 = Math.min(s.lq, r0 + chunk);
            boolean whole = r1 - r0 == s.lq;
            INDArray gc = whole ? g3 : rows(g3, r0, r1);                       // (b*h, c, dv)
            INDArray p = probabilities(q3, k3, bias4, s, r0, r1, scale);       // recomputed P: (b*h, c, lk)
            if (needV) dv3 = accumulate(dv3, Nd4j.matmul(p, gc, true, false, false)); // Pᵀ·dO: (b*h, lk, dv)
            if (needDs) {
                INDArray ds = Nd4j.matmul(gc, v3, false, true, false);         // dP = dO·Vᵀ: (b*h, c, lk)
                ds.subi(whole ? delta : rows(delta, r0, r1)).muli(p);          // dS = P ⊙ (dP − δ)
                Memory.free(p);
                if (needBias) accumulateBias(dBias4, ds, s, r0, r1);
                if (needQ) {
                    INDArray dqc = Nd4j.matmul(ds, k3).muli(scale);            // (b*h, c, d)
                    if (dq3 == null) dq3 = dqc;
                    else {
                        rows(dq3, r0, r1).assign(dqc);
                        Memory.free(dqc);
                    }
                }
                if (needK) {
                    INDArray qc = whole ? q3 : rows(q3, r0, r1);
                    dk3 = accumulate(dk3, Nd4j.matmul(ds, qc, true, false, false)); // dSᵀ·Q: (b*h, lk, d)
                }
                Memory.free(ds);
            } else {
                Memory.free(p);
            }
        }
        if (delta != null) Memory.free(delta);
        freeIfCopy(g3, gradOut);
        if (dk3 != null) dk3.muli(scale);
        INDArray[] grads = new INDArray[bias == null ? 3 : 4];
        grads[0] = dq3 == null ? null : dq3.reshape('c', q.shape());
        grads[1] = dk3 == null ? null : dk3.reshape('c', k.shape());
        grads[2] = dv3 == null ? null : dv3.reshape('c', v.shape());
        if (bias != null) grads[3] = dBias4 == null ? null : dBias4.reshape('c', bias.shape());
        return grads;
    }

    /**
     * softmax(scale·Q[rows]·Kᵀ + bias[rows]) over keys as a fresh (b*h, r1 − r0, lk) block. ND4J's softmax op
     * subtracts the row max (as LaVie's TemporalAttention does explicitly) and runs in place.
     */
    private static INDArray probabilities(INDArray q3, INDArray k3, INDArray bias4, Shapes s, long r0, long r1, double scale) {
        INDArray qc = r1 - r0 == s.lq ? q3 : rows(q3, r0, r1);
        INDArray scores = Nd4j.matmul(qc, k3, false, true, false).muli(scale); // (b*h, c, lk)
        if (bias4 != null) {
            INDArray b = bias4.size(2) == 1 || r1 - r0 == s.lq ? bias4 : rows4(bias4, r0, r1);
            scores.reshape('c', s.b, s.h, r1 - r0, s.lk).addi(b);             // broadcast over (b, h, c, lk)
        }
        Nd4j.getExecutioner().exec(new SoftMax(scores, scores, 2));
        return scores;
    }

    /** Adds the chunk's dS, reduced to the bias's broadcast shape, into dBias4. */
    private static void accumulateBias(INDArray dBias4, INDArray ds, Shapes s, long r0, long r1) {
        long c = r1 - r0;
        INDArray ds4 = ds.reshape('c', s.b, s.h, c, s.lk);
        long[] target = {s.bias4[0], s.bias4[1], s.bias4[2] == 1 ? 1 : c, s.bias4[3]};
        int[] dims = new int[4];
        int n = 0;
        for (int i = 0; i < 4; i++) if (target[i] == 1 && ds4.size(i) != 1) dims[n++] = i;
        INDArray reduced = n == 0 ? ds4 : ds4.sum(true, Arrays.copyOf(dims, n));
        if (s.bias4[2] == 1 || c == s.lq) dBias4.addi(reduced);
        else rows4(dBias4, r0, r1).addi(reduced);
        if (reduced != ds4) Memory.free(reduced);
    }

    /** Frees the rank-3/rank-4 forms of the inputs where the reshape had to copy (a permuted input). */
    private static void freeCopies(Tensor q, Tensor k, Tensor v, Tensor bias, INDArray q3, INDArray k3, INDArray v3, INDArray bias4) {
        freeIfCopy(q3, q.data());
        freeIfCopy(k3, k.data());
        freeIfCopy(v3, v.data());
        if (bias != null) freeIfCopy(bias4, bias.data());
    }

    private static void freeIfCopy(INDArray derived, INDArray source) {
        if (derived != source && !derived.wasClosed() && !source.wasClosed()
                && derived.data().addressPointer().address() != source.data().addressPointer().address())
            Memory.free(derived);
    }

    private static INDArray accumulate(INDArray acc, INDArray term) {
        if (acc == null) return term;
        acc.addi(term);
        Memory.free(term);
        return acc;
    }

    /** Rows [r0, r1) of dim 1 of a rank-3 array (a view). */
    private static INDArray rows(INDArray x, long r0, long r1) {
        return Views.interval(x, 1, r0, r1);
    }

    /** Rows [r0, r1) of dim 2 of a rank-4 array (a view). */
    private static INDArray rows4(INDArray x, long r0, long r1) {
        return Views.interval(x, 2, r0, r1);
    }

    /**
     * The naive twin: full scores composed from differentiable {@link Ops} ({@code matmul}, {@code scale},
     * {@code add}, {@code softmax}, {@code matmul}). Same contract as {@link #scaledDotProduct}, no memory bound.
     */
    public static Tensor naive(Tensor q, Tensor k, Tensor v, Tensor bias, double scale) {
        Shapes.of(q, k, v, bias);
        Tensor scores = Ops.scale(Ops.matmul(q, k, false, true), scale);    // (b, h, lq, lk)
        if (bias != null) scores = Ops.add(scores, bias);
        Tensor p = Ops.softmax(scores, -1);
        return Ops.matmul(p, v);                                            // (b, h, lq, dv)
    }

    /** Validated sizes; {@code bias4} is the bias shape left-padded with ones to rank 4. */
    private record Shapes(long b, long h, long lq, long lk, long d, long dv, long[] bias4) {
        static Shapes of(Tensor q, Tensor k, Tensor v, Tensor bias) {
            if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
                throw new IllegalArgumentException("attention: q, k, v must be (B, H, L, D), got q " + Arrays.toString(q.shape())
                        + ", k " + Arrays.toString(k.shape()) + ", v " + Arrays.toString(v.shape()));
            long[] qs = q.shape(), ks = k.shape(), vs = v.shape();
            if (qs[0] != ks[0] || qs[1] != ks[1] || qs[3] != ks[3] || ks[0] != vs[0] || ks[1] != vs[1] || ks[2] != vs[2])
                throw new IllegalArgumentException("attention: q " + Arrays.toString(qs) + ", k " + Arrays.toString(ks)
                        + ", v " + Arrays.toString(vs) + " do not fit (B, H, Lq, D), (B, H, Lk, D), (B, H, Lk, Dv)");
            if (k.dtype() != q.dtype() || v.dtype() != q.dtype() || (bias != null && bias.dtype() != q.dtype()))
                throw new IllegalArgumentException("attention: dtypes differ (q " + q.dtype() + ", k " + k.dtype() + ", v " + v.dtype()
                        + (bias == null ? "" : ", bias " + bias.dtype()) + ")");
            long[] target = {qs[0], qs[1], qs[2], ks[2]};
            long[] b4 = null;
            if (bias != null) {
                long[] bs = bias.shape();
                boolean ok = bs.length <= 4;
                b4 = new long[]{1, 1, 1, 1};
                for (int i = 0; ok && i < bs.length; i++) {
                    long size = bs[bs.length - 1 - i];
                    ok = size == 1 || size == target[3 - i];
                    b4[3 - i] = size;
                }
                if (!ok) throw new IllegalArgumentException("attention: bias " + Arrays.toString(bs) + " does not broadcast to scores "
                        + Arrays.toString(target));
            }
            return new Shapes(qs[0], qs[1], qs[2], ks[2], qs[3], vs[3], b4);
        }
    }
}
