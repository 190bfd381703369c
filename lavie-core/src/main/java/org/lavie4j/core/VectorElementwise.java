package org.lavie4j.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * Elementwise functions in Java's Vector API for inference, where ND4J's legacy transform ops compute scalar math: its
 * {@code Swish} (SiLU) costs ~3 ns an element on two cores, twenty times the cost of streaming the element through
 * memory once (benchmarks/README.md). Loaded only when the JVM has {@code jdk.incubator.vector} ({@link Kernels}).
 *
 * <p>Each kernel streams chunks of {@link #CHUNK} floats through a heap array (a copy that stays in L1) and splits
 * the chunks over {@link Kernels#threads()}; results do not depend on the split.
 */
final class VectorElementwise {
    private static final VectorSpecies<Float> F = VectorWidth.FLOAT;
    private static final int LANES = VectorWidth.LANES;
    /** Floats per chunk: 16 KiB, half of a core's L1 data cache. */
    static final int CHUNK = 4096;
    /** Arrays smaller than this run on the calling thread alone. */
    private static final long PARALLEL_MIN = 1 << 16;

    private VectorElementwise() {}

    /**
     * out = x·σ(x) elementwise (in and out {@link Kernels#denseFloat}, of one length; out may be in). σ from {@code e = exp(−|x|)}:
     * {@code 1/(1 + e)} for x ≥ 0 and {@code e/(1 + e)} below, so the exponential never overflows; within a few float
     * ulps of the exact value (tested).
     */
    static void silu(INDArray in, INDArray out) {
        long n = in.length();
        // a view's buffer pointer already points at its first element (its offset())
        FloatPointer src = new FloatPointer(in.data().addressPointer()), dst = new FloatPointer(out.data().addressPointer());
        long chunks = (n + CHUNK - 1) / CHUNK;
        Kernels.forRange(chunks, n < PARALLEL_MIN ? 1 : Kernels.threads(), "silu kernel", (c0, c1) -> {
            float[] buf = new float[CHUNK];
            FloatPointer s = new FloatPointer(src), d = new FloatPointer(dst);   // private cursors
            for (long c = c0; c < c1; c++) {
                long at = c * CHUNK;
                int len = (int) Math.min(CHUNK, n - at);
                s.position(at).get(buf, 0, len);
                siluChunk(buf, len);
                d.position(at).put(buf, 0, len);
            }
        });
    }

    /** x·σ(x) of buf[0, len) in place. */
    static void siluChunk(float[] buf, int len) {
        int i = 0;
        for (; i + LANES <= len; i += LANES) silu(FloatVector.fromArray(F, buf, i)).intoArray(buf, i);
        if (i < len) {
            float[] tail = new float[LANES];
            System.arraycopy(buf, i, tail, 0, len - i);
            silu(FloatVector.fromArray(F, tail, 0)).intoArray(tail, 0);
            System.arraycopy(tail, 0, buf, i, len - i);
        }
    }

    static FloatVector silu(FloatVector x) {
        FloatVector e = VectorAttention.exp(x.abs().neg());                       // e^−|x| in (0, 1]
        FloatVector numerator = FloatVector.broadcast(F, 1f).blend(e, x.compare(VectorOperators.LT, 0f));
        return x.mul(numerator.div(e.add(1f)));
    }

    /**
     * out[i, j] = (y[i, j] + bias[j]) + t[i, j] over the rows i of y (rows, n; {@link Kernels#denseFloat}), t and out
     * (their rows at {@code tRows}, {@code outRows}: any views with contiguous rows; out may be y itself):
     * {@code Ops.linearAdd}'s pass, the floats of a row-vector add then an add. Chunks of whole rows through heap arrays,
     * over {@link Kernels#threads()}.
     */
    static void addBiasAndTerm(INDArray y, float[] bias, INDArray t, Rows tRows, INDArray out, Rows outRows) {
        long rows = y.size(0);
        int n = (int) y.size(1), rowsPer = Math.max(1, CHUNK / n);
        if (tRows.count != rows || outRows.count != rows || tRows.length != n || outRows.length != n)
            throw new IllegalArgumentException("addBiasAndTerm: rows of " + Arrays.toString(y.shape()) + ", " + Arrays.toString(t.shape())
                    + " and " + Arrays.toString(out.shape()) + " differ");
        FloatBuffer yb = Kernels.viewBuffer(y), tb = Kernels.viewBuffer(t), ob = out == y ? yb : Kernels.viewBuffer(out);
        long chunks = (rows + rowsPer - 1) / rowsPer;
        Kernels.forRange(chunks, rows * n < PARALLEL_MIN ? 1 : Kernels.threads(), "bias and residual kernel", (c0, c1) -> {
            float[] a = new float[rowsPer * n], b = new float[rowsPer * n];
            for (long c = c0; c < c1; c++) {
                long r0 = c * rowsPer;
                int count = (int) Math.min(rowsPer, rows - r0), len = count * n;
                yb.get((int) (r0 * n), a, 0, len);
                if (tRows.dense()) tb.get((int) (r0 * n), b, 0, len);
                else for (int i = 0; i < count; i++) tb.get((int) tRows.start(r0 + i), b, i * n, n);
                for (int o = 0; o < len; o += n) addRow(a, b, o, bias, n);
                if (outRows.dense()) ob.put((int) (r0 * n), a, 0, len);
                else for (int i = 0; i < count; i++) ob.put((int) outRows.start(r0 + i), a, i * n, n);
            }
        });
    }

    /** a[o + j] = (a[o + j] + bias[j]) + b[o + j] for j < n. */
    private static void addRow(float[] a, float[] b, int o, float[] bias, int n) {
        int j = 0;
        for (; j + LANES <= n; j += LANES)
            FloatVector.fromArray(F, a, o + j).add(FloatVector.fromArray(F, bias, j)).add(FloatVector.fromArray(F, b, o + j)).intoArray(a, o + j);
        for (; j < n; j++) a[o + j] = (a[o + j] + bias[j]) + b[o + j];
    }

    // ------------------------------------------------------------------ normalisation rows (Fused's GroupNorm, LayerNorm)

    /**
     * {@code Fused.sumOf} in vectors, the same double bit for bit: there, {@link #LANES} float partial sums s_l add
     * v[i + l + LANES·k] over each block of 64 and the block adds s_0 + … in double, in lane order, to the total; here
     * lane l is s_l. (Float addition commutes, so {@code x.add(s)} is s + x; the loop-carried vector is only ever an
     * argument, see {@link VectorAttention#expRow}; a partial sum's −0 read out as +0 adds the same to the total, which
     * starts at +0.)
     */
    static double sumOf(float[] v) {
        float[] lanes = new float[LANES];
        double total = 0;
        int i = 0;
        for (; i + 64 <= v.length; i += 64) {
            FloatVector s = FloatVector.zero(F);
            for (int j = i; j < i + 64; j += LANES) s = FloatVector.fromArray(F, v, j).add(s);
            FloatVector.zero(F).add(s).intoArray(lanes, 0);
            total += Fused.blockTotal(lanes);
        }
        for (; i < v.length; i++) total += v[i];
        return total;
    }

    /** {@code Fused.squaredDeviations} in vectors, the same double bit for bit, as {@link #sumOf}. */
    static double squaredDeviations(float[] v, float m) {
        float[] lanes = new float[LANES];
        double total = 0;
        int i = 0;
        for (; i + 64 <= v.length; i += 64) {
            FloatVector s = FloatVector.zero(F);
            for (int j = i; j < i + 64; j += LANES) {
                FloatVector d = FloatVector.fromArray(F, v, j).sub(m);
                s = d.mul(d).add(s);
            }
            FloatVector.zero(F).add(s).intoArray(lanes, 0);
            total += Fused.blockTotal(lanes);
        }
        for (; i < v.length; i++) {
            double d = v[i] - m;
            total += d * d;
        }
        return total;
    }

    /** v[i] = fma(v[i], a, b) for i < len (GroupNorm's affine pass), the same floats as the scalar loop. */
    static void affine(float[] v, int len, float a, float b) {
        int i = 0;
        for (; i + LANES <= len; i += LANES) FloatVector.fromArray(F, v, i).fma(a, b).intoArray(v, i);
        for (; i < len; i++) v[i] = Math.fma(v[i], a, b);
    }

    /** v[i] = fma((v[i] − m)·k, γ[i], β[i]) for i < len (LayerNorm's pass), the same floats as the scalar loop. */
    static void normalize(float[] v, int len, float m, float k, float[] gamma, float[] beta) {
        int i = 0;
        for (; i + LANES <= len; i += LANES)
            FloatVector.fromArray(F, v, i).sub(m).mul(k).fma(FloatVector.fromArray(F, gamma, i), FloatVector.fromArray(F, beta, i)).intoArray(v, i);
        for (; i < len; i++) v[i] = Math.fma((v[i] - m) * k, gamma[i], beta[i]);
    }
}
