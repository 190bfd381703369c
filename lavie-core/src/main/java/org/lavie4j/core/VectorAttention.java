package org.lavie4j.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The fused forward kernel of {@link Attention#scaledDotProduct} on the CPU: {@code softmax(scale·QKᵀ + bias)·V} for
 * one block of query rows at a time, with QKᵀ, bias, softmax and PV in one pass over Java arrays that stay in the
 * core's L2 cache, written with Java's Vector API ({@link VectorWidth}: AVX-512 registers of 16 floats, else AVX2's of
 * 8; the incubator module {@code jdk.incubator.vector}, present from Java 16).
 *
 * <p>Why: ND4J runs attention as three ops per score block (a GEMM with K = 40, a softmax op, a GEMM with N = 40). At
 * LaVie's spatial self-attention (2,560 tokens, heads of 40) each of them is memory- or split-bound, and the three
 * together reached 34.6 GFLOP/s on two cores, 17% of the FMA peak, a quarter of the whole forward
 * (benchmarks/README.md). Here each thread takes whole (batch·head, row block) items: it packs the slice's K into
 * panels of {@link #NR} keys (Kᵀ, as a GEMM packs B), computes a 4 × 24 register tile of scores per step (12 FMA
 * accumulators; 8 × 32 with 16-float vectors), adds the bias, exponentiates each row in place after subtracting its max
 * ({@link #exp}, written out so that results do not depend on the JIT tier) and accumulates {@code Σⱼ e_ij·V_j} for two
 * rows × 40 channels per step (four rows × 48 with 16-float vectors) over chunks of {@link #KC} keys, dividing by the
 * row sum at the end.
 *
 * <p>With 16-float vectors, problems without a bias and with at least {@link #TRANSPOSED_MIN_KEYS} keys (spatial
 * self-attention at the two wide levels) run transposed instead ({@link #TRANSPOSED}): for {@link #QB} = 48 queries at a time, Sᵀ = K·Qᵀ in 8 keys × 48 queries register tiles
 * ({@link #scoresT8x48}; K's rows broadcast where they are, no packing; keys padded to whole 8-key tiles only, where
 * the row layout pads to 32), the softmax down each column
 * ({@link #softmaxColumns}: vertical max and sum, no reduction across lanes) and Oᵀ = Vᵀ·Pᵀ in 8 channels × 48 queries
 * tiles ({@link #pvT8x48}: V's channels exact, where the row layout pads heads of 40 to 48), the output rows
 * transposed back as they are written. A level-0 slice (2,560 × 2,560, heads of 40) on one core: 10.6-11.9 ms against
 * 14.3-15.1 ms in rows (benchmarks/README.md, nineteenth session).
 *
 * <p>Numerics: the same operations in the same precision as the reference ({@code baddbmm(alpha = scale)}, bias,
 * max-subtracted softmax, PV), summed in a different order, so results differ by float rounding only (tested
 * against {@link Attention#naive} and the golden cases). Only float32 forwards outside any recording scope run here;
 * {@link Attention} keeps the ND4J path for training (also a checkpointed segment's first forward, so that its
 * recomputation gives the same bits), other dtypes and problems too large for the per-thread buffers ({@link #fits}).
 */
final class VectorAttention {
    private static final VectorSpecies<Float> F = VectorWidth.FLOAT;
    private static final int LANES = VectorWidth.LANES;
    /**
     * Whether the vectors hold 16 floats (AVX-512, {@link VectorWidth}): then 8 × 32 score tiles ({@link #scores8x32})
     * and PV over 4 rows × 48 channels ({@link #pv4x48}) of V's rows padded to whole vectors; else 4 × 24 tiles and PV
     * over 2 rows × 40 channels.
     */
    private static final boolean WIDE = LANES == 16;
    /** Query rows of one QKᵀ register tile. */
    static final int MR = WIDE ? 8 : 4;
    /** Keys of one packed K panel and of one QKᵀ register tile: three vectors of 8 or two of 16. */
    static final int NR = WIDE ? 32 : 24;
    /**
     * Query columns of one block of the transposed layout ({@link #scoresT8x48}, {@link #pvT8x48}): three 16-float vectors.
     */
    static final int QB = 48;
    /** Lane i's offset in a gather of one query's channels from Oᵀ (rows of QB): i·QB. */
    private static final int[] OT_COLUMNS = Kernels.laneOffsets(LANES, QB);
    /**
     * Whether problems without a bias run in the transposed layout when {@link #WIDE} (else in rows, as with a bias): true
     * unless the system property {@code lavie.attention.layout} is {@code rows} (for side-by-side benchmarks).
     */
    static final boolean TRANSPOSED = WIDE && !"rows".equals(System.getProperty("lavie.attention.layout"));
    /**
     * Fewest keys for which {@link #forward} picks the transposed layout. Below it (cross-attention's 77 keys, level 2's
     * 160) the row layout runs: in a JVM whose first transposed problem had 77 keys, C2 compiled the kernels for short
     * loops and they stayed 1.5x slower than the row layout (JMH {@code AttentionLayoutBenchmark}, a fork of its own:
     * 78.5-81.3 against 52.4-69.7 ms), where after a 2,560-key problem the same 77 keys ran at 0.67-0.81x the row
     * layout's time. With long loops only, the kernels compile for long loops.
     */
    static final int TRANSPOSED_MIN_KEYS = 512;
    /** Keys per PV pass: a (KC, dv) slice of V stays in L1/L2 while all rows of the block read it. */
    static final int KC = 256;
    /**
     * Bytes of one block of score rows, from which the rows per block follow (256 KiB, or the system property
     * {@code lavie.attention.kernelBlockBytes}): with K's packed panels it stays in a core's L2 cache.
     */
    static final long SCORE_BLOCK_BYTES = Math.max(1, Long.getLong("lavie.attention.kernelBlockBytes", 256L << 10));
    /** Upper bound of one thread's buffers; larger problems stay on the ND4J path. */
    static final long MAX_THREAD_BYTES = 64L << 20;

    private VectorAttention() {}

    /** An additive bias broadcast to (b, h, lq, lk): element (bi, hi, r, j) is {@code data[bi·s0 + hi·s1 + r·s2 + j·s3]}. */
    record Bias(float[] data, long s0, long s1, long s2, long s3) {}

    /**
     * A rotary embedding applied to each row of q and k as it is read: the pairs (2m, 2m + 1), m < dim/2, of the row at
     * position p rotated by the angle whose cos and sin are at {@code p·dim/2 + m}.
     */
    static final class Rotation {
        private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);
        private final float[] cos, sin;
        private final int dim;
        /**
         * The tables per lane: at {@code p·dim + 2m} and {@code p·dim + 2m + 1} the pair's cos, and −sin then +sin, so
         * that a row's vector x rotates as {@code x·cos + swapPairs(x)·sin}.
         */
        private final float[] cosLanes, sinLanes;

        Rotation(float[] cos, float[] sin, int dim) {
            this.cos = cos;
            this.sin = sin;
            this.dim = dim;
            int half = dim / 2, positions = half == 0 ? 0 : cos.length / half;
            cosLanes = new float[positions * dim];
            sinLanes = new float[positions * dim];
            for (int p = 0; p < positions; p++) {
                for (int m = 0; m < half; m++) {
                    int at = p * dim + 2 * m;
                    cosLanes[at] = cosLanes[at + 1] = cos[p * half + m];
                    sinLanes[at] = -sin[p * half + m];
                    sinLanes[at + 1] = sin[p * half + m];
                }
            }
        }

        /**
         * Rows [0, n) of x (row length len), at positions p0.., rotated in place: the floats of {@code Fused.rotatePairs}
         * ({@code a·c − b·s}, {@code b·c + a·s}; products and sums rounded separately, never fused), whole vectors of
         * pairs at a time, the pairs past the last whole vector as in {@link #rotateScalar}.
         */
        void rotate(float[] x, int n, int len, int p0) {
            int whole = dim / LANES * LANES, half = dim / 2;
            for (int r = 0; r < n; r++) {
                int o = r * len, t = (p0 + r) * dim;
                for (int i = 0; i < whole; i += LANES) {
                    FloatVector a = FloatVector.fromArray(F, x, o + i);
                    a.mul(FloatVector.fromArray(F, cosLanes, t + i))
                            .add(a.rearrange(SWAP_PAIRS).mul(FloatVector.fromArray(F, sinLanes, t + i)))
                            .intoArray(x, o + i);
                }
                rotatePairs(x, o, (p0 + r) * half, whole / 2, half);
            }
        }

        /** {@link #rotate}'s twin, one pair at a time. */
        void rotateScalar(float[] x, int n, int len, int p0) {
            int half = dim / 2;
            for (int r = 0; r < n; r++) rotatePairs(x, r * len, (p0 + r) * half, 0, half);
        }

        /** Pairs [m0, m1) of the row at o, with the table's entries from t. */
        private void rotatePairs(float[] x, int o, int t, int m0, int m1) {
            for (int m = m0; m < m1; m++) {
                float a = x[o + 2 * m], b = x[o + 2 * m + 1], c = cos[t + m], sn = sin[t + m];
                x[o + 2 * m] = a * c - b * sn;
                x[o + 2 * m + 1] = b * c + a * sn;
            }
        }
    }

    /** Rows of one block for lk keys: a multiple of {@link #MR}, at least MR, at most 64. */
    static int rowsPerBlock(long lk) {
        long rows = SCORE_BLOCK_BYTES / (4 * padKeys(lk)) / MR * MR;
        return (int) Math.max(MR, Math.min(64, rows));
    }

    /** Whether one thread's buffers for these sizes stay within {@link #MAX_THREAD_BYTES}. */
    static boolean fits(long lq, long lk, long d, long dv) {
        long padded = padKeys(lk), rows = rowsPerBlock(lk) + MR, dvPad = padChannels(dv);
        long floats = padded * d + lk * d + lk * dvPad + rows * (d + padded + dvPad);
        long lk8 = padKeys8(lk), transposed = lk8 * (d + dv + QB) + QB * (2 * d + 2 * dv); // either layout may run: both must fit
        return Math.max(floats, transposed) * 4 <= MAX_THREAD_BYTES && lq * Math.max(d, dv) < Integer.MAX_VALUE;
    }

    private static long padKeys(long lk) { return (lk + NR - 1) / NR * NR; }

    /** Keys of the transposed layout: whole 8-key tiles (the padding keys score −∞ and have zero values). */
    private static long padKeys8(long lk) { return (lk + 7) / 8 * 8; }

    /** The row length of the kernel's copies of V and of its output rows: dv, or whole vectors when {@link #WIDE}. */
    private static long padChannels(long dv) { return WIDE ? (dv + LANES - 1) / LANES * LANES : dv; }

    /**
     * out[b, h] = softmax(scale·q[b, h]·k[b, h]ᵀ + bias)·v[b, h] for every slice g = b·heads + h. All arrays are float32
     * views with unit stride on their last axis and any strides on the others (e.g. {@code Attention.splitHeads}'s
     * permuted (B, H, L, D) view of a (B, L, H·D) projection, read in place); out is written, the others only read.
     *
     * @param q (b, h, lq, d)
     * @param k (b, h, lk, d)
     * @param v (b, h, lk, dv)
     * @param bias null, or the bias with its broadcast strides
     * @param rotation null, or a rotary embedding of q's and k's rows (positions along lq and lk)
     * @param heads h
     * @param out (b, h, lq, dv), e.g. a permuted view of a (b, lq, h, dv) array: the heads merged in place
     * @param threads threads to split the (slice, row block) items over, the calling thread included
     */
    static void forward(INDArray q, INDArray k, INDArray v, Bias bias, Rotation rotation, long heads, float scale, INDArray out, int threads) {
        forward(q, k, v, bias, rotation, heads, scale, out, threads, TRANSPOSED && bias == null && k.size(2) >= TRANSPOSED_MIN_KEYS);
    }

    /**
     * {@link #forward} in the given layout: {@code transposed} (only without a bias, with 16-float vectors) computes
     * Sᵀ = K·Qᵀ for {@link #QB} queries at a time, the softmax down its columns and Oᵀ = Vᵀ·Pᵀ; else rows of S = Q·Kᵀ.
     */
    static void forward(INDArray q, INDArray k, INDArray v, Bias bias, Rotation rotation, long heads, float scale, INDArray out, int threads,
                        boolean transposed) {
        if (transposed && (bias != null || !WIDE))
            throw new IllegalArgumentException("the transposed layout takes no bias and needs 16-float vectors");
        Problem p = new Problem(q, k, v, bias, rotation, heads, scale, out, transposed);
        Kernels.forRange(p.bh * p.rowBlocks, threads, "attention kernel", p::run);
    }

    /** Whether the kernel reads x in place: float32, rank 4, unit stride on the last axis, indices within an int. */
    static boolean readable(INDArray x) {
        return x.dataType() == DataType.FLOAT && x.rank() == 4 && x.stride(3) == 1 && Kernels.extent(x) < Integer.MAX_VALUE;
    }

    /**
     * A (b, h, rows, len) view: row r of slice g = b·heads + h starts at {@code (g / heads)·sb + (g % heads)·sh + r·sr}
     * in {@code buf}, which starts at the view's first element.
     */
    private record Operand(FloatBuffer buf, long sb, long sh, long sr, int len) {
        static Operand of(INDArray x) {
            return new Operand(Kernels.viewBuffer(x), x.stride(0), x.stride(1), x.stride(2), (int) x.size(3));
        }

        private long row(long g, long heads, long r) { return g / heads * sb + g % heads * sh + r * sr; }

        /** Rows [r0, r0 + n) of slice g into dst, {@code len} floats each, packed. */
        void get(long g, long heads, long r0, int n, float[] dst) {
            long at = row(g, heads, r0);
            if (sr == len || n == 1) buf.get((int) at, dst, 0, n * len);
            else for (int r = 0; r < n; r++) buf.get((int) (at + r * sr), dst, r * len, len);
        }

        /** Rows [r0, r0 + n) of slice g into dst, row r at r·stride (stride ≥ len), zeros after each row's len floats. */
        void get(long g, long heads, long r0, int n, float[] dst, int stride) {
            if (stride == len) {
                get(g, heads, r0, n, dst);
                return;
            }
            long at = row(g, heads, r0);
            for (int r = 0; r < n; r++) {
                buf.get((int) (at + r * sr), dst, r * stride, len);
                Arrays.fill(dst, r * stride + len, (r + 1) * stride, 0f);
            }
        }

        /** src's n rows (row r at r·stride, stride ≥ len) into rows [r0, r0 + n) of slice g. */
        void put(long g, long heads, long r0, int n, float[] src, int stride) {
            long at = row(g, heads, r0);
            if (stride == len && (sr == len || n == 1)) buf.put((int) at, src, 0, n * len);
            else for (int r = 0; r < n; r++) buf.put((int) (at + r * sr), src, r * stride, len);
        }
    }

    /** One thread's buffers, reused across calls (grown when a call needs more). */
    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    private static final class Work {
        float[] kRaw = new float[0], kPacked = new float[0], v = new float[0], q = new float[0], scores = new float[0],
                out = new float[0], inverse = new float[0], lanes = new float[LANES], qt = new float[0], ot = new float[0];

        void ensure(int lk, int lkPad, int d, int dvPad, int rows) {
            kRaw = grow(kRaw, lk * d);
            kPacked = grow(kPacked, lkPad * d);
            v = grow(v, lk * dvPad);
            q = grow(q, rows * d);
            scores = grow(scores, rows * lkPad);
            out = grow(out, rows * dvPad);
            inverse = grow(inverse, rows);
        }

        /** The transposed layout's buffers for lk keys (padded): K and V rows, QB queries' Qᵀ, Sᵀ, Oᵀ and output rows. */
        void ensureTransposed(int lk, int d, int dv) {
            kRaw = grow(kRaw, lk * d);
            v = grow(v, lk * dv);
            q = grow(q, QB * d);
            qt = grow(qt, QB * d);
            scores = grow(scores, lk * QB);
            ot = grow(ot, dv * QB);
            out = grow(out, QB * dv);
            inverse = grow(inverse, QB);
        }

        private static float[] grow(float[] a, int n) { return a.length >= n ? a : new float[n]; }
    }

    // ------------------------------------------------------------------ the problem

    private static final class Problem {
        final long bh, heads, rowBlocks;
        final int lq, lk, lkPad, lkVec, lk8, d, dv, dvPad, rows, panels;
        final float scale;
        final Bias bias;
        final Rotation rotation;
        final Operand q, k, v, out;
        final boolean transposed;
        /** Lane i's offset in a gather of one channel over LANES rows of d floats: i·d. */
        final int[] qRows;

        Problem(INDArray q4, INDArray k4, INDArray v4, Bias bias, Rotation rotation, long heads, float scale, INDArray out4,
                boolean transposed) {
            this.transposed = transposed;
            bh = q4.size(0) * q4.size(1);
            lq = (int) q4.size(2);
            d = (int) q4.size(3);
            qRows = Kernels.laneOffsets(LANES, d);
            lk = (int) k4.size(2);
            dv = (int) v4.size(3);
            dvPad = (int) padChannels(dv);
            lkPad = (int) padKeys(lk);
            lkVec = (lk + LANES - 1) / LANES * LANES;
            lk8 = (int) padKeys8(lk);
            panels = lkPad / NR;
            rows = transposed ? QB : rowsPerBlock(lk);
            rowBlocks = (lq + rows - 1) / rows;
            this.heads = heads;
            this.scale = scale;
            this.bias = bias;
            this.rotation = rotation;
            q = Operand.of(q4);
            k = Operand.of(k4);
            v = Operand.of(v4);
            out = Operand.of(out4);
        }

        /** Items [i0, i1) of (slice, row block), in order, on the calling thread. */
        void run(long i0, long i1) {
            if (transposed) {
                runTransposed(i0, i1);
                return;
            }
            Work w = WORK.get();
            w.ensure(lk, lkPad, d, dvPad, rows + MR);
            long slice = -1;
            for (long item = i0; item < i1; item++) {
                long g = item / rowBlocks;
                int r0 = (int) (item % rowBlocks) * rows;
                if (g != slice) {
                    k.get(g, heads, 0, lk, w.kRaw);
                    if (rotation != null) rotation.rotate(w.kRaw, lk, d, 0);
                    pack(w.kRaw, lk, d, w.kPacked);
                    v.get(g, heads, 0, lk, w.v, dvPad);
                    slice = g;
                }
                block(w, g, r0, Math.min(rows, lq - r0));
            }
        }

        /** {@link #run} in the transposed layout: K and V rows as they are (no panels), zero rows up to whole 8-key tiles. */
        private void runTransposed(long i0, long i1) {
            Work w = WORK.get();
            w.ensureTransposed(lk8, d, dv);
            long slice = -1;
            for (long item = i0; item < i1; item++) {
                long g = item / rowBlocks;
                int r0 = (int) (item % rowBlocks) * QB;
                if (g != slice) {
                    k.get(g, heads, 0, lk, w.kRaw);
                    if (rotation != null) rotation.rotate(w.kRaw, lk, d, 0);
                    Arrays.fill(w.kRaw, lk * d, lk8 * d, 0f);                // keys padding the last tile
                    v.get(g, heads, 0, lk, w.v);
                    Arrays.fill(w.v, lk * dv, lk8 * dv, 0f);                 // their values: 0, never stale NaNs
                    slice = g;
                }
                blockTransposed(w, g, r0, Math.min(QB, lq - r0));
            }
        }

        /**
         * Query rows [r0, r0 + n), n ≤ QB, of slice g, transposed: Qᵀ (d, QB) with zero columns past n, Sᵀ (lk8, QB)
         * with −∞ in the rows of the padding keys, each column's softmax numerators in place ({@link #softmaxColumns};
         * exp(−∞) is exactly 0), Oᵀ (dv, QB), then rows out. The keys come in whole 8-key tiles, so no kernel has a key
         * tail whose branch would be compiled for one problem and taken by another (with lk = 77 in two of eight JVM
         * launches a tail made the kernel 2-2.3x slower).
         */
        private void blockTransposed(Work w, long g, int r0, int n) {
            q.get(g, heads, r0, n, w.q);
            if (rotation != null) rotation.rotate(w.q, n, d, r0);
            Arrays.fill(w.q, n * d, QB * d, 0f);                        // zero queries fill the last block
            float[] qt = w.qt;
            for (int c = 0; c < d; c++)                                 // Qᵀ: column c of 16 rows a gather (stride d)
                for (int r = 0; r < QB; r += LANES) FloatVector.fromArray(F, w.q, r * d + c, qRows, 0).intoArray(qt, c * QB + r);
            scoresT8x48(w.kRaw, lk8, d, qt, w.scores, scale);
            Arrays.fill(w.scores, lk * QB, lk8 * QB, Float.NEGATIVE_INFINITY);
            softmaxColumns(w.scores, lk8, w.inverse);
            pvT(w.scores, lk8, w.v, dv, w.ot);
            int whole = dv / LANES * LANES;
            for (int r = 0; r < n; r++) {                               // rows out: 16 channels of Oᵀ a gather (stride QB)
                float inv = 1f / w.inverse[r];
                int o = r * dv, c = 0;
                for (; c < whole; c += LANES) FloatVector.fromArray(F, w.ot, c * QB + r, OT_COLUMNS, 0).mul(inv).intoArray(w.out, o + c);
                for (; c < dv; c++) w.out[o + c] = w.ot[c * QB + r] * inv;
            }
            out.put(g, heads, r0, n, w.out, dv);
        }

        /** Query rows [r0, r0 + n) of slice g. */
        private void block(Work w, long g, int r0, int n) {
            int tiles = (n + MR - 1) / MR;
            q.get(g, heads, r0, n, w.q);
            if (rotation != null) rotation.rotate(w.q, n, d, r0);
            Arrays.fill(w.q, n * d, tiles * MR * d, 0f);                 // zero rows pad the last tile
            for (int p = 0; p < panels; p++) {                          // a panel stays in L1 while every tile reads it
                if (WIDE) scores8x32(w.q, tiles, d, w.kPacked, p, w.scores, lkPad, scale);
                else scores4x24(w.q, tiles, d, w.kPacked, p, w.scores, lkPad, scale);
            }
            if (bias != null) addBias(w.scores, g, r0, n);
            for (int r = 0; r < n; r++) {
                // −∞ past the last key: exp gives 0 there, so the row runs in whole vectors
                Arrays.fill(w.scores, r * lkPad + lk, r * lkPad + lkVec, Float.NEGATIVE_INFINITY);
                w.inverse[r] = expRow(w.scores, r * lkPad, lkVec, w.lanes);
            }
            pv(w, n);
            for (int r = 0; r < n; r++) {
                float inv = w.inverse[r];
                int o = r * dvPad, c = 0;
                for (; c + LANES <= dv; c += LANES) FloatVector.fromArray(F, w.out, o + c).mul(inv).intoArray(w.out, o + c);
                for (; c < dv; c++) w.out[o + c] *= inv;
            }
            out.put(g, heads, r0, n, w.out, dvPad);
        }

        /**
         * w.out's rows [0, n) (stride dvPad) = exp-scores · V, over chunks of {@link #KC} keys: two rows × 40, 8 or 1
         * channels a step, or with 16-float vectors four rows × 48 or 16 channels of V's rows padded to whole vectors
         * (the padding is zeros, so the padded channels of the output are 0). Rows are rounded up to a whole step: the
         * score rows past n, of the zero query rows that pad the last tile, are 0 and their outputs are not read.
         */
        private void pv(Work w, int n) {
            int step = WIDE ? 4 : 2, stepped = (n + step - 1) / step * step;
            Arrays.fill(w.out, 0, stepped * dvPad, 0f);
            for (int j0 = 0; j0 < lk; j0 += KC) {
                int j1 = Math.min(lk, j0 + KC);
                for (int r = 0; r < stepped; r += step) {
                    int so = r * lkPad, oo = r * dvPad, c = 0;
                    if (WIDE) {
                        for (; c + 3 * LANES <= dvPad; c += 3 * LANES) pv4x48(w.scores, so, lkPad, w.v, dvPad, c, j0, j1, w.out, oo);
                        for (; c < dvPad; c += LANES) pv4x16(w.scores, so, lkPad, w.v, dvPad, c, j0, j1, w.out, oo);
                    } else {
                        for (; c + 5 * LANES <= dv; c += 5 * LANES) pv2x40(w.scores, so, lkPad, w.v, dv, c, j0, j1, w.out, oo);
                        for (; c + LANES <= dv; c += LANES) pv2x8(w.scores, so, lkPad, w.v, dv, c, j0, j1, w.out, oo);
                        for (; c < dv; c++) pv2x1(w.scores, so, lkPad, w.v, dv, c, j0, j1, w.out, oo);
                    }
                }
            }
        }

        private void addBias(float[] scores, long g, int r0, int n) {
            long base = (g / heads) * bias.s0() + (g % heads) * bias.s1();
            float[] b = bias.data();
            for (int r = 0; r < n; r++) {
                int row = (int) (base + (r0 + r) * bias.s2()), s = r * lkPad;
                if (bias.s3() == 1) {
                    int j = 0;
                    for (; j + LANES <= lk; j += LANES)
                        FloatVector.fromArray(F, scores, s + j).add(FloatVector.fromArray(F, b, row + j)).intoArray(scores, s + j);
                    for (; j < lk; j++) scores[s + j] += b[row + j];
                } else {
                    for (int j = 0; j < lk; j++) scores[s + j] += b[(int) (row + j * bias.s3())];
                }
            }
        }
    }

    // ------------------------------------------------------------------ kernels

    /** K (lk, d) row-major -> panels of NR keys, each (d, NR): packed[(p·d + c)·NR + j] = K[p·NR + j, c], zero past lk. */
    static void pack(float[] k, int lk, int d, float[] packed) {
        int panels = (lk + NR - 1) / NR;
        for (int p = 0; p < panels; p++) {
            int base = p * d * NR;
            for (int j = 0; j < NR; j++) {
                int key = p * NR + j;
                if (key < lk) for (int c = 0; c < d; c++) packed[base + c * NR + j] = k[key * d + c];
                else for (int c = 0; c < d; c++) packed[base + c * NR + j] = 0f;
            }
        }
    }

    /**
     * Scores of {@code tiles} × 4 query rows (q, row stride d) against panel p: s[r, key] = scale·Σ_c q[r, c]·K[key, c]
     * for the panel's 24 keys. Each tile is a 4 × 24 register tile: 12 accumulators, 3 vector loads of K and 4
     * broadcasts of Q per step (of the tiles tried on Java 17, 6 × 16, 4 × 16, 3 × 24 and a transposed layout, the
     * fastest). Panels outside, tiles inside: a panel (d × 24 floats) stays in L1 while all tiles of the block read it,
     * so K streams from the shared L3 once per block rather than once per tile.
     */
    static void scores4x24(float[] q, int tiles, int d, float[] kp, int p, float[] s, int ld, float scale) {
        int kb = p * d * NR;
        for (int t = 0; t < tiles; t++) {
            int q0 = t * MR * d, q1 = q0 + d, q2 = q1 + d, q3 = q2 + d;
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                    a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            for (int c = 0; c < d; c++) {
                int o = kb + c * NR;
                FloatVector b0 = FloatVector.fromArray(F, kp, o), b1 = FloatVector.fromArray(F, kp, o + 8),
                        b2 = FloatVector.fromArray(F, kp, o + 16);
                FloatVector x = FloatVector.broadcast(F, q[q0 + c]);
                a00 = x.fma(b0, a00); a01 = x.fma(b1, a01); a02 = x.fma(b2, a02);
                x = FloatVector.broadcast(F, q[q1 + c]);
                a10 = x.fma(b0, a10); a11 = x.fma(b1, a11); a12 = x.fma(b2, a12);
                x = FloatVector.broadcast(F, q[q2 + c]);
                a20 = x.fma(b0, a20); a21 = x.fma(b1, a21); a22 = x.fma(b2, a22);
                x = FloatVector.broadcast(F, q[q3 + c]);
                a30 = x.fma(b0, a30); a31 = x.fma(b1, a31); a32 = x.fma(b2, a32);
            }
            int o = t * MR * ld + p * NR;
            a00.mul(scale).intoArray(s, o); a01.mul(scale).intoArray(s, o + 8); a02.mul(scale).intoArray(s, o + 16);
            o += ld;
            a10.mul(scale).intoArray(s, o); a11.mul(scale).intoArray(s, o + 8); a12.mul(scale).intoArray(s, o + 16);
            o += ld;
            a20.mul(scale).intoArray(s, o); a21.mul(scale).intoArray(s, o + 8); a22.mul(scale).intoArray(s, o + 16);
            o += ld;
            a30.mul(scale).intoArray(s, o); a31.mul(scale).intoArray(s, o + 8); a32.mul(scale).intoArray(s, o + 16);
        }
    }

    /**
     * {@link #scores4x24} for 16-float vectors: 8 × 32 register tiles (16 accumulators, 2 vector loads of K and 8
     * broadcasts of Q per step; AVX-512 has 32 vector registers). Of 4 × 48, 6 × 32 and 8 × 32 on one Sapphire Rapids
     * core, 8 × 32 and 4 × 48 were the fastest (89-98 GFLOP/s at 2,560 × 2,560 × 40) and 8 × 32 pads fewer keys.
     */
    static void scores8x32(float[] q, int tiles, int d, float[] kp, int p, float[] s, int ld, float scale) {
        int kb = p * d * NR;
        for (int t = 0; t < tiles; t++) {
            int q0 = t * MR * d, q1 = q0 + d, q2 = q1 + d, q3 = q2 + d, q4 = q3 + d, q5 = q4 + d, q6 = q5 + d, q7 = q6 + d;
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00,
                    a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
            for (int c = 0; c < d; c++) {
                int o = kb + c * NR;
                FloatVector b0 = FloatVector.fromArray(F, kp, o), b1 = FloatVector.fromArray(F, kp, o + 16);
                FloatVector x = FloatVector.broadcast(F, q[q0 + c]);
                a00 = x.fma(b0, a00); a01 = x.fma(b1, a01);
                x = FloatVector.broadcast(F, q[q1 + c]);
                a10 = x.fma(b0, a10); a11 = x.fma(b1, a11);
                x = FloatVector.broadcast(F, q[q2 + c]);
                a20 = x.fma(b0, a20); a21 = x.fma(b1, a21);
                x = FloatVector.broadcast(F, q[q3 + c]);
                a30 = x.fma(b0, a30); a31 = x.fma(b1, a31);
                x = FloatVector.broadcast(F, q[q4 + c]);
                a40 = x.fma(b0, a40); a41 = x.fma(b1, a41);
                x = FloatVector.broadcast(F, q[q5 + c]);
                a50 = x.fma(b0, a50); a51 = x.fma(b1, a51);
                x = FloatVector.broadcast(F, q[q6 + c]);
                a60 = x.fma(b0, a60); a61 = x.fma(b1, a61);
                x = FloatVector.broadcast(F, q[q7 + c]);
                a70 = x.fma(b0, a70); a71 = x.fma(b1, a71);
            }
            int o = t * MR * ld + p * NR;
            a00.mul(scale).intoArray(s, o); a01.mul(scale).intoArray(s, o + 16);
            o += ld;
            a10.mul(scale).intoArray(s, o); a11.mul(scale).intoArray(s, o + 16);
            o += ld;
            a20.mul(scale).intoArray(s, o); a21.mul(scale).intoArray(s, o + 16);
            o += ld;
            a30.mul(scale).intoArray(s, o); a31.mul(scale).intoArray(s, o + 16);
            o += ld;
            a40.mul(scale).intoArray(s, o); a41.mul(scale).intoArray(s, o + 16);
            o += ld;
            a50.mul(scale).intoArray(s, o); a51.mul(scale).intoArray(s, o + 16);
            o += ld;
            a60.mul(scale).intoArray(s, o); a61.mul(scale).intoArray(s, o + 16);
            o += ld;
            a70.mul(scale).intoArray(s, o); a71.mul(scale).intoArray(s, o + 16);
        }
    }

    /**
     * The transposed layout's scores: st[j, 0..QB) = scale·Σ_c k[j, c]·qt[c, 0..QB) for keys j < lk (k row-major (lk, d),
     * qt (d, QB), lk a multiple of 8). 8 × 48 register tiles: 24 accumulators, 3 vector loads of Qᵀ and 8 broadcasts of
     * K a step, the QB queries' Qᵀ (d × 48 floats) in L1 throughout. K needs no packing: its
     * rows are broadcast where they are. On one core at 2,560 × 2,560 × 40: 119-147 GFLOP/s against the row layout's
     * 8 × 32 tiles' 94-104 (benchmarks/README.md, nineteenth session).
     */
    static void scoresT8x48(float[] k, int lk, int d, float[] qt, float[] st, float scale) {
        for (int j = 0; j < lk; j += 8) {
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00, a21 = a00,
                    a22 = a00, a30 = a00, a31 = a00, a32 = a00, a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00,
                    a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
            int k0 = j * d;
            for (int c = 0; c < d; c++) {
                int o = c * QB;
                FloatVector b0 = FloatVector.fromArray(F, qt, o), b1 = FloatVector.fromArray(F, qt, o + 16),
                        b2 = FloatVector.fromArray(F, qt, o + 32);
                FloatVector x = FloatVector.broadcast(F, k[k0 + c]);
                a00 = x.fma(b0, a00); a01 = x.fma(b1, a01); a02 = x.fma(b2, a02);
                x = FloatVector.broadcast(F, k[k0 + d + c]);
                a10 = x.fma(b0, a10); a11 = x.fma(b1, a11); a12 = x.fma(b2, a12);
                x = FloatVector.broadcast(F, k[k0 + 2 * d + c]);
                a20 = x.fma(b0, a20); a21 = x.fma(b1, a21); a22 = x.fma(b2, a22);
                x = FloatVector.broadcast(F, k[k0 + 3 * d + c]);
                a30 = x.fma(b0, a30); a31 = x.fma(b1, a31); a32 = x.fma(b2, a32);
                x = FloatVector.broadcast(F, k[k0 + 4 * d + c]);
                a40 = x.fma(b0, a40); a41 = x.fma(b1, a41); a42 = x.fma(b2, a42);
                x = FloatVector.broadcast(F, k[k0 + 5 * d + c]);
                a50 = x.fma(b0, a50); a51 = x.fma(b1, a51); a52 = x.fma(b2, a52);
                x = FloatVector.broadcast(F, k[k0 + 6 * d + c]);
                a60 = x.fma(b0, a60); a61 = x.fma(b1, a61); a62 = x.fma(b2, a62);
                x = FloatVector.broadcast(F, k[k0 + 7 * d + c]);
                a70 = x.fma(b0, a70); a71 = x.fma(b1, a71); a72 = x.fma(b2, a72);
            }
            int o = j * QB;
            a00.mul(scale).intoArray(st, o); a01.mul(scale).intoArray(st, o + 16); a02.mul(scale).intoArray(st, o + 32);
            o += QB;
            a10.mul(scale).intoArray(st, o); a11.mul(scale).intoArray(st, o + 16); a12.mul(scale).intoArray(st, o + 32);
            o += QB;
            a20.mul(scale).intoArray(st, o); a21.mul(scale).intoArray(st, o + 16); a22.mul(scale).intoArray(st, o + 32);
            o += QB;
            a30.mul(scale).intoArray(st, o); a31.mul(scale).intoArray(st, o + 16); a32.mul(scale).intoArray(st, o + 32);
            o += QB;
            a40.mul(scale).intoArray(st, o); a41.mul(scale).intoArray(st, o + 16); a42.mul(scale).intoArray(st, o + 32);
            o += QB;
            a50.mul(scale).intoArray(st, o); a51.mul(scale).intoArray(st, o + 16); a52.mul(scale).intoArray(st, o + 32);
            o += QB;
            a60.mul(scale).intoArray(st, o); a61.mul(scale).intoArray(st, o + 16); a62.mul(scale).intoArray(st, o + 32);
            o += QB;
            a70.mul(scale).intoArray(st, o); a71.mul(scale).intoArray(st, o + 16); a72.mul(scale).intoArray(st, o + 32);
        }
    }

    /**
     * st (lk, QB) := exp(st − each column's max) in place, lk even; sums[0..QB) = each column's Σ exp. Down the
     * columns, 16 at a time: the max and the sum are plain vector operations between rows (no reduction across lanes),
     * each in two chains (even and odd keys) joined at the end. Loop-carried vectors are arguments, never receivers (see
     * {@link #expRow}).
     */
    static void softmaxColumns(float[] st, int lk, float[] sums) {
        for (int v0 = 0; v0 < QB; v0 += LANES) {
            FloatVector m0 = FloatVector.fromArray(F, st, v0), m1 = FloatVector.fromArray(F, st, QB + v0);
            for (int j = 2; j < lk; j += 2) {
                m0 = FloatVector.fromArray(F, st, j * QB + v0).max(m0);
                m1 = FloatVector.fromArray(F, st, (j + 1) * QB + v0).max(m1);
            }
            FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY).max(m0).max(m1);
            FloatVector s0 = FloatVector.zero(F), s1 = s0;
            for (int j = 0; j < lk; j += 2) {
                int o = j * QB + v0;
                FloatVector e0 = exp(FloatVector.fromArray(F, st, o).sub(m));
                e0.intoArray(st, o);
                s0 = e0.add(s0);
                FloatVector e1 = exp(FloatVector.fromArray(F, st, o + QB).sub(m));
                e1.intoArray(st, o + QB);
                s1 = e1.add(s1);
            }
            FloatVector.zero(F).add(s0).add(s1).intoArray(sums, v0);
        }
    }

    /**
     * The transposed layout's PV: ot[c, 0..QB) = Σ_j v[j, c]·st[j, 0..QB) for channels c < dv (v row-major (lk, dv)):
     * {@link #pvT8x48} for each 8 channels, {@link #pvT1x48} for those past the last 8 (none in LaVie: heads of 40, 80,
     * 160). Channels are not padded to whole vectors (heads of 40: 40 multiply-adds a key, not 48).
     */
    static void pvT(float[] st, int lk, float[] v, int dv, float[] ot) {
        int c0 = 0;
        for (; c0 + 8 <= dv; c0 += 8) pvT8x48(st, lk, v, dv, c0, ot);
        for (; c0 < dv; c0++) pvT1x48(st, lk, v, dv, c0, ot);
    }

    /** Channels [c0, c0 + 8) of {@link #pvT}: 24 accumulators, 3 vector loads of Pᵀ and 8 broadcasts of V a key. */
    static void pvT8x48(float[] st, int lk, float[] v, int dv, int c0, float[] ot) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00, a21 = a00,
                a22 = a00, a30 = a00, a31 = a00, a32 = a00, a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00,
                a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
        for (int j = 0; j < lk; j++) {
            int o = j * QB, vo = j * dv + c0;
            FloatVector b0 = FloatVector.fromArray(F, st, o), b1 = FloatVector.fromArray(F, st, o + 16),
                    b2 = FloatVector.fromArray(F, st, o + 32);
            FloatVector x = FloatVector.broadcast(F, v[vo]);
            a00 = x.fma(b0, a00); a01 = x.fma(b1, a01); a02 = x.fma(b2, a02);
            x = FloatVector.broadcast(F, v[vo + 1]);
            a10 = x.fma(b0, a10); a11 = x.fma(b1, a11); a12 = x.fma(b2, a12);
            x = FloatVector.broadcast(F, v[vo + 2]);
            a20 = x.fma(b0, a20); a21 = x.fma(b1, a21); a22 = x.fma(b2, a22);
            x = FloatVector.broadcast(F, v[vo + 3]);
            a30 = x.fma(b0, a30); a31 = x.fma(b1, a31); a32 = x.fma(b2, a32);
            x = FloatVector.broadcast(F, v[vo + 4]);
            a40 = x.fma(b0, a40); a41 = x.fma(b1, a41); a42 = x.fma(b2, a42);
            x = FloatVector.broadcast(F, v[vo + 5]);
            a50 = x.fma(b0, a50); a51 = x.fma(b1, a51); a52 = x.fma(b2, a52);
            x = FloatVector.broadcast(F, v[vo + 6]);
            a60 = x.fma(b0, a60); a61 = x.fma(b1, a61); a62 = x.fma(b2, a62);
            x = FloatVector.broadcast(F, v[vo + 7]);
            a70 = x.fma(b0, a70); a71 = x.fma(b1, a71); a72 = x.fma(b2, a72);
        }
        int o = c0 * QB;
        a00.intoArray(ot, o); a01.intoArray(ot, o + 16); a02.intoArray(ot, o + 32);
        o += QB;
        a10.intoArray(ot, o); a11.intoArray(ot, o + 16); a12.intoArray(ot, o + 32);
        o += QB;
        a20.intoArray(ot, o); a21.intoArray(ot, o + 16); a22.intoArray(ot, o + 32);
        o += QB;
        a30.intoArray(ot, o); a31.intoArray(ot, o + 16); a32.intoArray(ot, o + 32);
        o += QB;
        a40.intoArray(ot, o); a41.intoArray(ot, o + 16); a42.intoArray(ot, o + 32);
        o += QB;
        a50.intoArray(ot, o); a51.intoArray(ot, o + 16); a52.intoArray(ot, o + 32);
        o += QB;
        a60.intoArray(ot, o); a61.intoArray(ot, o + 16); a62.intoArray(ot, o + 32);
        o += QB;
        a70.intoArray(ot, o); a71.intoArray(ot, o + 16); a72.intoArray(ot, o + 32);
    }

    /** Channel c0 of {@link #pvT}. */
    static void pvT1x48(float[] st, int lk, float[] v, int dv, int c0, float[] ot) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0;
        for (int j = 0; j < lk; j++) {
            FloatVector x = FloatVector.broadcast(F, v[j * dv + c0]);
            int o = j * QB;
            a0 = x.fma(FloatVector.fromArray(F, st, o), a0);
            a1 = x.fma(FloatVector.fromArray(F, st, o + 16), a1);
            a2 = x.fma(FloatVector.fromArray(F, st, o + 32), a2);
        }
        int o = c0 * QB;
        a0.intoArray(ot, o); a1.intoArray(ot, o + 16); a2.intoArray(ot, o + 32);
    }

    /**
     * s[o..o+n) := exp(s − max) in place, n a multiple of {@link #LANES} (−∞ entries give 0); returns 1 / Σ exp.
     *
     * <p>The loop-carried vectors (the running max and sum) are the <em>argument</em> of each operation, never its
     * receiver: when C2 parses a loop body the loop variable's type is only the declared {@code FloatVector}, so a call
     * on it is devirtualised from the call site's type profile, and where that profile was still thin at compile time
     * (an early or on-stack-replacement compilation) the call stayed virtual, boxing the vector and calling
     * {@code lanewise} every vector: in about half of the JVM launches the exponential phase then took 25-38 instead of
     * 5-6 ms a 2,560 × 2,560 slice (benchmarks/README.md, fifteenth session). A freshly loaded vector has an exact type.
     */
    static float expRow(float[] s, int o, int n, float[] lanes) {
        FloatVector m0 = FloatVector.fromArray(F, s, o), m1 = m0, m2 = m0, m3 = m0;
        int j = LANES;
        for (; j + 4 * LANES <= n; j += 4 * LANES) {                    // four chains: MAX's latency, not its rate, bound one
            m0 = FloatVector.fromArray(F, s, o + j).max(m0);
            m1 = FloatVector.fromArray(F, s, o + j + LANES).max(m1);
            m2 = FloatVector.fromArray(F, s, o + j + 2 * LANES).max(m2);
            m3 = FloatVector.fromArray(F, s, o + j + 3 * LANES).max(m3);
        }
        for (; j < n; j += LANES) m0 = FloatVector.fromArray(F, s, o + j).max(m0);
        // the chains joined on a fresh vector: its type is exact, so the MAX calls are direct (see above)
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY).max(m0).max(m1).max(m2).max(m3);
        FloatVector mx = FloatVector.broadcast(F, m.reduceLanes(VectorOperators.MAX)), sum = FloatVector.zero(F);
        for (j = 0; j < n; j += LANES) {
            FloatVector e = exp(FloatVector.fromArray(F, s, o + j).sub(mx));
            e.intoArray(s, o + j);
            sum = e.add(sum);
        }
        // the lanes in a fixed order: the Vector API leaves the order of a floating-point ADD reduction open
        sum.intoArray(lanes, 0);
        float total = 0;
        for (int i = 0; i < LANES; i++) total += lanes[i];
        return 1f / total;
    }

    private static final float LOG2E = 1.44269504088896341f, ROUND = 12582912f;   // 1.5·2²³: adding it rounds to an integer
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** exp's argument floor: there n = −127, whose exponent bits make 2ⁿ exactly 0. */
    private static final float EXP_FLOOR = -88f;

    /**
     * exp(x) for x ≤ 0, the softmax's arguments, after Cephes' {@code expf}: x = n·ln2 + r with |r| ≤ ln2/2, a degree-5
     * polynomial for eʳ and 2ⁿ built in the exponent bits. Results below 2⁻¹²⁶ (x < −87.3) flush to 0, as does −∞.
     * Within 1 ulp of {@code Math.exp} elsewhere (tested). Written out rather than the Vector API's EXP, whose result
     * differs in the last bit between the interpreter and compiled code: here a result never depends on when the JIT
     * compiled the kernel.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(EXP_FLOOR);
        FloatVector t = c.mul(LOG2E).add(ROUND);                         // ROUND + n, n in the low mantissa bits
        FloatVector n = t.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), c);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector y = r.fma(FloatVector.broadcast(F, 1.9875691500E-4f), FloatVector.broadcast(F, 1.3981999507E-3f));
        y = y.fma(r, FloatVector.broadcast(F, 8.3334519073E-3f));
        y = y.fma(r, FloatVector.broadcast(F, 4.1665795894E-2f));
        y = y.fma(r, FloatVector.broadcast(F, 1.6666665459E-1f));
        y = y.fma(r, FloatVector.broadcast(F, 5.0000001201E-1f));
        y = y.fma(r.mul(r), r).add(1f);
        // 2ⁿ: (n + 127) << 23; n = −127 gives +0
        IntVector bits = ((IntVector) t.reinterpretAsInts()).sub(Float.floatToRawIntBits(ROUND) - 127).lanewise(VectorOperators.LSHL, 23);
        return y.mul((FloatVector) bits.reinterpretAsFloats());
    }

    /** out[r, c..c+40) += Σ_{j0≤j<j1} s[r, j]·V[j, c..c+40) for rows r, r+1 (out row stride dv). */
    static void pv2x40(float[] s, int so, int ld, float[] v, int dv, int c, int j0, int j1, float[] out, int oo) {
        int a = oo + c, b = oo + dv + c;
        FloatVector a0 = FloatVector.fromArray(F, out, a), a1 = FloatVector.fromArray(F, out, a + 8),
                a2 = FloatVector.fromArray(F, out, a + 16), a3 = FloatVector.fromArray(F, out, a + 24),
                a4 = FloatVector.fromArray(F, out, a + 32);
        FloatVector b0 = FloatVector.fromArray(F, out, b), b1 = FloatVector.fromArray(F, out, b + 8),
                b2 = FloatVector.fromArray(F, out, b + 16), b3 = FloatVector.fromArray(F, out, b + 24),
                b4 = FloatVector.fromArray(F, out, b + 32);
        for (int j = j0; j < j1; j++) {
            int vo = j * dv + c;
            FloatVector p = FloatVector.broadcast(F, s[so + j]), p2 = FloatVector.broadcast(F, s[so + ld + j]);
            FloatVector x = FloatVector.fromArray(F, v, vo);
            a0 = p.fma(x, a0); b0 = p2.fma(x, b0);
            x = FloatVector.fromArray(F, v, vo + 8);
            a1 = p.fma(x, a1); b1 = p2.fma(x, b1);
            x = FloatVector.fromArray(F, v, vo + 16);
            a2 = p.fma(x, a2); b2 = p2.fma(x, b2);
            x = FloatVector.fromArray(F, v, vo + 24);
            a3 = p.fma(x, a3); b3 = p2.fma(x, b3);
            x = FloatVector.fromArray(F, v, vo + 32);
            a4 = p.fma(x, a4); b4 = p2.fma(x, b4);
        }
        a0.intoArray(out, a); a1.intoArray(out, a + 8); a2.intoArray(out, a + 16); a3.intoArray(out, a + 24); a4.intoArray(out, a + 32);
        b0.intoArray(out, b); b1.intoArray(out, b + 8); b2.intoArray(out, b + 16); b3.intoArray(out, b + 24); b4.intoArray(out, b + 32);
    }

    /** {@link #pv2x40} for 8 channels. */
    static void pv2x8(float[] s, int so, int ld, float[] v, int dv, int c, int j0, int j1, float[] out, int oo) {
        int a = oo + c, b = oo + dv + c;
        FloatVector a0 = FloatVector.fromArray(F, out, a), b0 = FloatVector.fromArray(F, out, b);
        for (int j = j0; j < j1; j++) {
            FloatVector x = FloatVector.fromArray(F, v, j * dv + c);
            a0 = FloatVector.broadcast(F, s[so + j]).fma(x, a0);
            b0 = FloatVector.broadcast(F, s[so + ld + j]).fma(x, b0);
        }
        a0.intoArray(out, a);
        b0.intoArray(out, b);
    }

    /** {@link #pv2x40} for one channel (the tail of a head size that is not a multiple of 8). */
    static void pv2x1(float[] s, int so, int ld, float[] v, int dv, int c, int j0, int j1, float[] out, int oo) {
        float a = out[oo + c], b = out[oo + dv + c];
        for (int j = j0; j < j1; j++) {
            float x = v[j * dv + c];
            a = Math.fma(s[so + j], x, a);
            b = Math.fma(s[so + ld + j], x, b);
        }
        out[oo + c] = a;
        out[oo + dv + c] = b;
    }

    /**
     * out[r + i, c..c+48) += Σ_{j0≤j<j1} s[r + i, j]·V[j, c..c+48) for rows i < 4, with 16-float vectors (out row stride
     * dv): 12 accumulators, 3 loads of V and 4 broadcasts a key.
     */
    static void pv4x48(float[] s, int so, int ld, float[] v, int dv, int c, int j0, int j1, float[] out, int oo) {
        int a = oo + c, b = a + dv, e = b + dv, f = e + dv;
        FloatVector a0 = FloatVector.fromArray(F, out, a), a1 = FloatVector.fromArray(F, out, a + 16), a2 = FloatVector.fromArray(F, out, a + 32);
        FloatVector b0 = FloatVector.fromArray(F, out, b), b1 = FloatVector.fromArray(F, out, b + 16), b2 = FloatVector.fromArray(F, out, b + 32);
        FloatVector e0 = FloatVector.fromArray(F, out, e), e1 = FloatVector.fromArray(F, out, e + 16), e2 = FloatVector.fromArray(F, out, e + 32);
        FloatVector f0 = FloatVector.fromArray(F, out, f), f1 = FloatVector.fromArray(F, out, f + 16), f2 = FloatVector.fromArray(F, out, f + 32);
        for (int j = j0; j < j1; j++) {
            int vo = j * dv + c;
            FloatVector x = FloatVector.fromArray(F, v, vo), y = FloatVector.fromArray(F, v, vo + 16), z = FloatVector.fromArray(F, v, vo + 32);
            FloatVector p = FloatVector.broadcast(F, s[so + j]);
            a0 = p.fma(x, a0); a1 = p.fma(y, a1); a2 = p.fma(z, a2);
            p = FloatVector.broadcast(F, s[so + ld + j]);
            b0 = p.fma(x, b0); b1 = p.fma(y, b1); b2 = p.fma(z, b2);
            p = FloatVector.broadcast(F, s[so + 2 * ld + j]);
            e0 = p.fma(x, e0); e1 = p.fma(y, e1); e2 = p.fma(z, e2);
            p = FloatVector.broadcast(F, s[so + 3 * ld + j]);
            f0 = p.fma(x, f0); f1 = p.fma(y, f1); f2 = p.fma(z, f2);
        }
        a0.intoArray(out, a); a1.intoArray(out, a + 16); a2.intoArray(out, a + 32);
        b0.intoArray(out, b); b1.intoArray(out, b + 16); b2.intoArray(out, b + 32);
        e0.intoArray(out, e); e1.intoArray(out, e + 16); e2.intoArray(out, e + 32);
        f0.intoArray(out, f); f1.intoArray(out, f + 16); f2.intoArray(out, f + 32);
    }

    /** {@link #pv4x48} for 16 channels. */
    static void pv4x16(float[] s, int so, int ld, float[] v, int dv, int c, int j0, int j1, float[] out, int oo) {
        int a = oo + c, b = a + dv, e = b + dv, f = e + dv;
        FloatVector a0 = FloatVector.fromArray(F, out, a), b0 = FloatVector.fromArray(F, out, b),
                e0 = FloatVector.fromArray(F, out, e), f0 = FloatVector.fromArray(F, out, f);
        for (int j = j0; j < j1; j++) {
            FloatVector x = FloatVector.fromArray(F, v, j * dv + c);
            a0 = FloatVector.broadcast(F, s[so + j]).fma(x, a0);
            b0 = FloatVector.broadcast(F, s[so + ld + j]).fma(x, b0);
            e0 = FloatVector.broadcast(F, s[so + 2 * ld + j]).fma(x, e0);
            f0 = FloatVector.broadcast(F, s[so + 3 * ld + j]).fma(x, f0);
        }
        a0.intoArray(out, a);
        b0.intoArray(out, b);
        e0.intoArray(out, e);
        f0.intoArray(out, f);
    }
}
