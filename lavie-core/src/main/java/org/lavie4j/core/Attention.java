package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.blas.params.MMulTranspose;
import org.nd4j.linalg.api.ops.impl.reduce.Mmul;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Scaled dot-product attention {@code softmax(scale·QKᵀ + bias)·V} over head-split tensors, memory-bounded.
 *
 * <p>{@link #scaledDotProduct} works in score blocks (a group of batch·head slices × a chunk of query rows × all keys)
 * small enough to stay in the last-level cache ({@link #CACHE_BLOCK_BYTES}) and never above a memory budget: each block is
 * written by the QKᵀ product (scaled by the product's alpha), normalised in place by ND4J's softmax and consumed by the PV
 * product before the next is made, so no full score matrix is ever materialised and the scores do not stream through
 * main memory (measured 2x faster than query chunks spanning all heads, at LaVie's spatial self-attention). It is
 * recorded as a single tape node whose backward recomputes the probabilities block by block from the saved q, k, v,
 * bias and output (flash-attention style: {@code dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O))}), so the tape never holds a
 * score matrix either. Every block spans all keys, so P is recomputed with the softmax op itself rather than from a
 * saved log-sum-exp: one ND4J op instead of a subtract and an exp. {@link #naive} is the straightforward twin
 * composed from {@link Ops}.
 *
 * <p>Forwards outside any {@link Grad#record()} scope (inference), in float32, run instead on {@code VectorAttention},
 * a fused kernel written with Java's Vector API, when the JVM has the module {@code jdk.incubator.vector}
 * ({@link #vectorKernel()}): QKᵀ, bias, softmax and PV per block of query rows in one pass through the core's cache, 0.65x the time of the ND4J
 * blocks at LaVie's level-0 spatial self-attention module (benchmarks/README.md). Both paths are tested against
 * {@link #naive} and each other.
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
     * <p>Work is split into score blocks of (group of batch·head slices, chunk of query rows, all keys), each at most
     * {@code min(maxScoreBytes, }{@link #CACHE_BLOCK_BYTES}{@code )} (a single row may exceed it): a block is written by
     * the QKᵀ product, normalised in place by the softmax and read by the PV product while it is still in the
     * last-level cache. Spatial self-attention at LaVie's level 0 (2,560 keys) runs in blocks of one head and 819 query rows.
     *
     * @param q (B, H, Lq, D)
     * @param k (B, H, Lk, D)
     * @param v (B, H, Lk, Dv)
     * @param bias additive, broadcastable to (B, H, Lq, Lk) (e.g. (1, H, Lq, Lk) or (Lq, Lk)); may be null and may
     *             require a gradient
     * @param maxScoreBytes memory budget of one score block; forward holds one block at a time, backward two (P and dS)
     * @return (B, H, Lq, Dv)
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, Tensor bias, double scale, long maxScoreBytes) {
        return scaledDotProduct(q, k, v, bias, scale, maxScoreBytes, null);
    }

    /**
     * A rotary position embedding of queries and keys along their sequence axis (RoPE over interleaved pairs of the
     * first {@code dim} channels, as {@code Fused.rotaryInterleaved}): {@code cos} and {@code sin} of the angles per
     * (position, pair), {@code length × dim/2} row-major, and {@code rotate}, the same rotation as a recorded op.
     */
    public record Rotary(float[] cos, float[] sin, int dim, long length, UnaryOperator<Tensor> rotate) {
        public Rotary {
            if (dim < 2 || dim % 2 != 0 || length < 1 || cos.length != length * (dim / 2) || sin.length != cos.length)
                throw new IllegalArgumentException("Rotary: dim " + dim + " and tables of " + cos.length + "/" + sin.length
                        + " values do not fit " + length + " positions");
            Objects.requireNonNull(rotate, "rotate");
        }
    }

    /**
     * {@link #scaledDotProduct(Tensor, Tensor, Tensor, Tensor, double, long)} of {@code rotary.rotate(q)} and
     * {@code rotary.rotate(k)} (rotary may be null: none). Where the fused kernel runs, it rotates each row of q and k
     * as it reads them, the floats of {@code Fused.rotaryInterleaved}, so neither rotated copy is written (temporal
     * attention: two passes over its (B·H·W, heads, F, d) queries and keys); elsewhere the rotations run as ops first.
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, Tensor bias, double scale, long maxScoreBytes, Rotary rotary) {
        Shapes s = Shapes.of(q, k, v, bias);
        if (rotary != null && !kernelRotates(q, k, v, bias, s, rotary)) {
            Tensor qr = rotary.rotate().apply(q), kr = rotary.rotate().apply(k);
            Tensor o = scaledDotProduct(qr, kr, v, bias, scale, maxScoreBytes, null);
            Tensor.release(qr, kr);                                             // no-op while recording
            return o;
        }
        if (maxScoreBytes <= 0) throw new IllegalArgumentException("maxScoreBytes must be positive, got " + maxScoreBytes);
        DataType type = q.dtype();
        long bh = s.b * s.h;
        Blocks blocks = Blocks.of(s, type, Math.min(maxScoreBytes, CACHE_BLOCK_BYTES));

        boolean recording = recording(q, k, v, bias);
        Tensor[] inputs = bias == null ? new Tensor[]{q, k, v} : new Tensor[]{q, k, v, bias};
        if (kernelRuns(q, k, v, bias, s)) {
            // q, k, v read in place (splitHeads' views of the projections, no copies); the result is written in
            // (b, lq, h, dv) order, so that mergeHeads is a view of it
            INDArray merged = Memory.uninitialized(type, s.b, s.lq, s.h, s.dv);
            INDArray out = merged.permute(0, 2, 1, 3);                             // (b, h, lq, dv), a view
            INDArray bias4 = bias == null ? null : bias.data().reshape('c', s.bias4);
            fused(q.data(), k.data(), v.data(), bias4, s, scale, out, rotary);
            if (bias != null) freeIfCopy(bias4, bias.data());
            return Ops.record("scaledDotProduct", out, merged, g -> null, inputs);
        }

        if (rotary != null) throw new IllegalStateException("a rotary embedding outside the fused kernel");   // kernelRotates said yes
        INDArray q3 = q.data().reshape('c', bh, s.lq, s.d);    // (b*h, lq, d)
        INDArray k3 = k.data().reshape('c', bh, s.lk, s.d);    // (b*h, lk, d)
        INDArray v3 = v.data().reshape('c', bh, s.lk, s.dv);   // (b*h, lk, dv)
        INDArray bias4 = bias == null ? null : bias.data().reshape('c', s.bias4); // (1|b, 1|h, 1|lq, 1|lk)
        INDArray out3 = Memory.uninitialized(type, bh, s.lq, s.dv);
        blocksForward(q3, k3, v3, bias4, s, scale, blocks, out3);
        INDArray out = out3.reshape('c', s.b, s.h, s.lq, s.dv);

        if (!recording) {
            freeCopies(q, k, v, bias, q3, k3, v3, bias4);
            return Ops.record("scaledDotProduct", out, out3, g -> null, inputs);
        }
        INDArray o3 = out3;
        return Ops.record("scaledDotProduct", out, out3, g -> {
            INDArray[] grads = backward(g, q, k, v, bias, q3, k3, v3, bias4, o3, s, scale, blocks);
            freeCopies(q, k, v, bias, q3, k3, v3, bias4);
            return grads;
        }, inputs);
    }

    /** The forward in score blocks of ND4J ops (QKᵀ, softmax, PV per block), written into out3 (bh, lq, dv). */
    private static void blocksForward(INDArray q3, INDArray k3, INDArray v3, INDArray bias4, Shapes s, double scale,
                                      Blocks blocks, INDArray out3) {
        long bh = s.b * s.h;
        // one score buffer for every full block: fresh multi-MB arrays would each cost page faults (glibc maps them anew
        // above MALLOC_MMAP_THRESHOLD_, which the launcher sets to 4 MiB)
        INDArray buffer = Memory.uninitialized(out3.dataType(), Math.min(blocks.group, bh), blocks.rows, s.lk);
        boolean contiguous = blocks.group == 1 || blocks.rows == s.lq;   // out3's block is then one c-order run
        for (long g0 = 0; g0 < bh; g0 += blocks.group) {
            long g1 = Math.min(bh, g0 + blocks.group);
            INDArray vg = slices(v3, g0, g1, bh);
            for (long r0 = 0; r0 < s.lq; r0 += blocks.rows) {
                long r1 = Math.min(s.lq, r0 + blocks.rows);
                INDArray p = probabilities(q3, k3, bias4, s, g0, g1, r0, r1, scale, buffer); // (g, c, lk)
                INDArray target = block(out3, g0, g1, r0, r1, bh, s.lq);
                if (contiguous) Nd4j.matmul(p, vg, target, false, false, false);        // (g, c, dv) straight into out3
                else {
                    INDArray o = Nd4j.matmul(p, vg);
                    target.assign(o);
                    Memory.free(o);
                }
                if (p != buffer) Memory.free(p);
            }
        }
        Memory.free(buffer);
    }

    // ------------------------------------------------------------------ the fused kernel

    private static volatile boolean vectorKernel = Kernels.VECTOR_API && !"nd4j".equals(System.getProperty("lavie.attention.kernel"));

    /**
     * Whether forwards outside any gradient recording scope ({@link Grad#inTraining()}) run on the fused Vector API
     * kernel ({@code VectorAttention}): true when the JVM was started with {@code --add-modules jdk.incubator.vector} (Java 16+; the launcher does) and the system
     * property {@code lavie.attention.kernel} is not {@code nd4j}. Otherwise every call takes the ND4J block path.
     */
    public static boolean vectorKernel() { return vectorKernel; }

    /** Turns the fused kernel on or off (for tests and benchmarks; on needs the module); returns the previous setting. */
    static boolean vectorKernel(boolean on) {
        if (on && !Kernels.VECTOR_API) throw new IllegalStateException("the Vector API kernel needs --add-modules jdk.incubator.vector");
        boolean was = vectorKernel;
        vectorKernel = on;
        return was;
    }

    /** Largest bias (elements) the kernel copies onto the heap; larger biases take the ND4J path. */
    private static final long MAX_KERNEL_BIAS = 1L << 24;

    private static boolean vectorKernelApplies(DataType type, Shapes s) {
        if (!vectorKernel || type != DataType.FLOAT) return false;
        if (s.bias4 != null && s.bias4[0] * s.bias4[1] * s.bias4[2] * s.bias4[3] > MAX_KERNEL_BIAS) return false;
        return VectorAttention.fits(s.lq, s.lk, s.d, s.dv);
    }

    private static boolean recording(Tensor q, Tensor k, Tensor v, Tensor bias) {
        return Grad.isRecording() && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad() || (bias != null && bias.requiresGrad()));
    }

    /**
     * Whether the fused kernel runs this problem: float32 views it reads in place, within its limits, and only outside
     * any recording scope (a checkpointed segment's first forward, recording disabled, must give the bits its
     * recomputation under the tape will, and that takes the ND4J path).
     */
    private static boolean kernelRuns(Tensor q, Tensor k, Tensor v, Tensor bias, Shapes s) {
        return !recording(q, k, v, bias) && !Grad.inTraining() && vectorKernelApplies(q.dtype(), s)
                && VectorAttention.readable(q.data()) && VectorAttention.readable(k.data()) && VectorAttention.readable(v.data());
    }

    /** Whether the fused kernel runs this problem and can rotate its rows: one table for q's and k's positions. */
    private static boolean kernelRotates(Tensor q, Tensor k, Tensor v, Tensor bias, Shapes s, Rotary rotary) {
        return rotary.dim() <= s.d && s.lq == rotary.length() && s.lk == rotary.length() && kernelRuns(q, k, v, bias, s);
    }

    /** The forward on {@code VectorAttention}: (B, H, L, D) views read in place, the bias on the heap with its broadcast strides. */
    private static void fused(INDArray q, INDArray k, INDArray v, INDArray bias4, Shapes s, double scale, INDArray out, Rotary rotary) {
        VectorAttention.Bias b = null;
        if (bias4 != null) {
            INDArray dense = bias4.dup('c');
            long[] n = s.bias4;
            b = new VectorAttention.Bias(dense.data().asFloat(), n[0] == 1 ? 0 : n[1] * n[2] * n[3], n[1] == 1 ? 0 : n[2] * n[3],
                    n[2] == 1 ? 0 : n[3], n[3] == 1 ? 0 : 1);
            Memory.free(dense);
        }
        VectorAttention.Rotation r = rotary == null ? null : new VectorAttention.Rotation(rotary.cos(), rotary.sin(), rotary.dim());
        VectorAttention.forward(q, k, v, b, r, s.h, (float) scale, out, Kernels.threads());
    }

    /**
     * Bytes of a score block: 8 MiB, or the system property {@code lavie.attention.blockBytes} (read once). Small enough
     * for the last-level cache (32 MiB on the machines measured), large enough that each op of a block splits well over
     * the cores: at two threads, spatial self-attention at level 0 took 0.79-0.83x the time of 2 MiB blocks (one head and
     * 204 query rows, 102 per thread), at one thread the same within noise (benchmarks/README.md).
     */
    public static final long CACHE_BLOCK_BYTES = Math.max(1, Long.getLong("lavie.attention.blockBytes", 8L << 20));

    /**
     * How the scores are split: {@code group} batch·head slices (a multiple of {@code unit}) by {@code rows} query rows
     * per block. {@code unit} is H when the bias differs between batch entries or heads (a block then spans whole batch
     * entries, so the bias slice is a view), else 1.
     */
    record Blocks(long unit, long group, long rows) {
        static Blocks of(Shapes s, DataType type, long blockBytes) {
            long bh = s.b * s.h;
            long unit = s.bias4 != null && (s.bias4[0] != 1 || s.bias4[1] != 1) ? s.h : 1;
            long rowBytes = s.lk * type.width();
            long rows = Math.max(1, Math.min(s.lq, blockBytes / (unit * rowBytes)));
            long group = unit;
            if (rows == s.lq) group = Math.max(1, Math.min(bh / unit, blockBytes / (unit * s.lq * rowBytes))) * unit;
            return new Blocks(unit, group, rows);
        }

        /** Whether one block covers all scores. */
        boolean single(Shapes s, long bh) { return group >= bh && rows >= s.lq; }
    }

    /** Query rows per block as {@link Blocks#of} plans them for a bias-free (bh, lq, lk) problem (for tests and tuning). */
    static long[] plan(long bh, long lq, long lk, DataType type, long maxScoreBytes) {
        Blocks b = Blocks.of(new Shapes(bh, 1, lq, lk, 1, 1, null), type, Math.min(maxScoreBytes, CACHE_BLOCK_BYTES));
        return new long[]{b.group, b.rows};
    }

    private static INDArray[] backward(INDArray gradOut, Tensor q, Tensor k, Tensor v, Tensor bias,
                                       INDArray q3, INDArray k3, INDArray v3, INDArray bias4, INDArray o3,
                                       Shapes s, double scale, Blocks blocks) {
        long bh = s.b * s.h;
        boolean needQ = q.requiresGrad(), needK = k.requiresGrad(), needV = v.requiresGrad();
        boolean needBias = bias != null && bias.requiresGrad();
        boolean needDs = needQ || needK || needBias;
        DataType type = q3.dataType();
        boolean single = blocks.single(s, bh);

        INDArray g3 = gradOut.reshape('c', bh, s.lq, s.dv);                 // (b*h, lq, dv)
        INDArray delta = needDs ? g3.mul(o3).sum(true, 2) : null;          // rowsum(dO ⊙ O): (b*h, lq, 1)
        INDArray dq3 = needQ && !single ? Memory.uninitialized(type, bh, s.lq, s.d) : null;
        INDArray dk3 = needK && !single ? Nd4j.zeros(type, bh, s.lk, s.d) : null;
        INDArray dv3 = needV && !single ? Nd4j.zeros(type, bh, s.lk, s.dv) : null;
        INDArray dBias4 = needBias ? Nd4j.zeros(type, s.bias4) : null;
        INDArray buffer = Memory.uninitialized(type, Math.min(blocks.group, bh), blocks.rows, s.lk);

        for (long g0 = 0; g0 < bh; g0 += blocks.group) {
            long g1 = Math.min(bh, g0 + blocks.group);
            INDArray kg = slices(k3, g0, g1, bh), vg = slices(v3, g0, g1, bh);
            for (long r0 = 0; r0 < s.lq; r0 += blocks.rows) {
                long r1 = Math.min(s.lq, r0 + blocks.rows);
                INDArray gc = block(g3, g0, g1, r0, r1, bh, s.lq);                 // (g, c, dv)
                INDArray p = probabilities(q3, k3, bias4, s, g0, g1, r0, r1, scale, buffer); // recomputed P: (g, c, lk)
                if (needV) dv3 = accumulate(dv3, slices(dv3, g0, g1, bh), Nd4j.matmul(p, gc, true, false, false)); // Pᵀ·dO
                if (needDs) {
                    INDArray ds = Nd4j.matmul(gc, vg, false, true, false);        // dP = dO·Vᵀ: (g, c, lk)
                    ds.subi(block(delta, g0, g1, r0, r1, bh, s.lq)).muli(p);     // dS = P ⊙ (dP − δ)
                    if (p != buffer) Memory.free(p);
                    if (needBias) accumulateBias(dBias4, ds, s, blocks, g0, g1, r0, r1);
                    if (needQ) {
                        INDArray dqc = Nd4j.matmul(ds, kg).muli(scale);           // (g, c, d)
                        if (dq3 == null) dq3 = dqc;
                        else {
                            block(dq3, g0, g1, r0, r1, bh, s.lq).assign(dqc);
                            Memory.free(dqc);
                        }
                    }
                    if (needK)                                                    // dSᵀ·Q: (g, lk, d), scaled below
                        dk3 = accumulate(dk3, slices(dk3, g0, g1, bh), Nd4j.matmul(ds, block(q3, g0, g1, r0, r1, bh, s.lq), true, false, false));
                    Memory.free(ds);
                } else if (p != buffer) {
                    Memory.free(p);
                }
            }
        }
        Memory.free(buffer);
        if (delta != null) Memory.free(delta);
        freeIfCopy(g3, gradOut);
        if (dk3 != null && scale != 1.0) dk3.muli(scale);
        INDArray[] grads = new INDArray[bias == null ? 3 : 4];
        grads[0] = dq3 == null ? null : dq3.reshape('c', q.shape());
        grads[1] = dk3 == null ? null : dk3.reshape('c', k.shape());
        grads[2] = dv3 == null ? null : dv3.reshape('c', v.shape());
        if (bias != null) grads[3] = dBias4 == null ? null : dBias4.reshape('c', bias.shape());
        return grads;
    }

    /**
     * softmax(scale·Q[g, rows]·K[g]ᵀ + bias) over keys as a (g1 − g0, r1 − r0, lk) block (the product scaled, as torch's
     * {@code baddbmm(alpha=scale)}: pre-scaling Q would change the float rounding that the golden cases pin):
     * written into {@code buffer} when the block has its shape, else a fresh array.
     * ND4J's softmax op subtracts the row max (as LaVie's TemporalAttention does explicitly) and runs in place.
     */
    private static INDArray probabilities(INDArray q3, INDArray k3, INDArray bias4, Shapes s, long g0, long g1, long r0, long r1,
                                          double scale, INDArray buffer) {
        long bh = s.b * s.h;
        INDArray qc = block(q3, g0, g1, r0, r1, bh, s.lq), kg = slices(k3, g0, g1, bh);
        INDArray scores = buffer.size(0) == g1 - g0 && buffer.size(1) == r1 - r0 ? buffer
                : Memory.uninitialized(buffer.dataType(), g1 - g0, r1 - r0, s.lk);   // a last, smaller block: (g, c, lk)
        // scale·QKᵀ as torch's baddbmm(alpha=scale): the GEMM's alpha rounds each product once, as a multiply after it
        // would (bit-identical, measured), without another pass over the block
        Nd4j.exec(new Mmul(qc, kg, scores, scale, 0.0, TRANSPOSE_B));
        if (bias4 != null) {
            INDArray b = bias4;
            if (b.size(0) != 1 && (g0 != 0 || g1 != bh)) b = Views.interval(b, 0, g0 / s.h, g1 / s.h);
            if (b.size(2) != 1 && (r0 != 0 || r1 != s.lq)) b = rows4(b, r0, r1);
            long entries = b.size(0) != 1 || b.size(1) != 1 ? (g1 - g0) / s.h : 1;   // whole batch entries when the bias needs them
            scores.reshape('c', entries, (g1 - g0) / entries, r1 - r0, s.lk).addi(b);  // broadcast over (b, h, c, lk)
        }
        Nd4j.getExecutioner().exec(new SoftMax(scores, scores, 2));
        return scores;
    }

    private static final MMulTranspose TRANSPOSE_B = MMulTranspose.builder().transposeB(true).build();

    /** Adds the block's dS, reduced to the bias's broadcast shape, into dBias4. */
    private static void accumulateBias(INDArray dBias4, INDArray ds, Shapes s, Blocks blocks, long g0, long g1, long r0, long r1) {
        long c = r1 - r0, entries = blocks.unit == 1 ? 1 : (g1 - g0) / s.h;
        INDArray ds4 = ds.reshape('c', entries, (g1 - g0) / entries, c, s.lk);
        long[] target = {s.bias4[0] == 1 ? 1 : entries, s.bias4[1] == 1 ? 1 : ds4.size(1), s.bias4[2] == 1 ? 1 : c, s.bias4[3]};
        int[] dims = new int[4];
        int n = 0;
        for (int i = 0; i < 4; i++) if (target[i] == 1 && ds4.size(i) != 1) dims[n++] = i;
        INDArray reduced = n == 0 ? ds4 : ds4.sum(true, Arrays.copyOf(dims, n));
        INDArray into = dBias4;
        if (s.bias4[0] != 1 && (g0 != 0 || g1 != s.b * s.h)) into = Views.interval(into, 0, g0 / s.h, g1 / s.h);
        if (s.bias4[2] != 1 && c != s.lq) into = rows4(into, r0, r1);
        into.addi(reduced);
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

    /** acc (or, with no accumulator yet, the term itself) += term; {@code part} is acc's view for this group. */
    private static INDArray accumulate(INDArray acc, INDArray part, INDArray term) {
        if (acc == null) return term;
        part.addi(term);
        Memory.free(term);
        return acc;
    }

    /** Slices [g0, g1) of dim 0 of a (bh, ...) array: the array itself when that is all of it, else a view. */
    private static INDArray slices(INDArray x, long g0, long g1, long bh) {
        if (x == null) return null;
        return g0 == 0 && g1 == bh ? x : Views.interval(x, 0, g0, g1);
    }

    /** Slices [g0, g1), rows [r0, r1) of a (bh, lq, ·) array (a view, or the array itself). */
    private static INDArray block(INDArray x, long g0, long g1, long r0, long r1, long bh, long lq) {
        INDArray g = slices(x, g0, g1, bh);
        return r0 == 0 && r1 == lq ? g : Views.interval(g, 1, r0, r1);
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
