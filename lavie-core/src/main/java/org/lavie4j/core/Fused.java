package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Fused elementwise kernels written in Java, for float32 work that ND4J would do in several passes with slow scalar
 * math. ND4J's {@code Erf} costs ~10 ns per element on one core (scalar), and every out-of-place op on a large array
 * pays again for fresh pages; the exact GELU of GEGLU's gate took 5 ND4J ops plus the product with the value half.
 * {@link #geglu} reads the projection once and writes the result once, with a rational erf that the JIT vectorises.
 *
 * <p>Each kernel has a naive twin composed from {@link Ops} ({@link #gegluNaive}); tests compare them. Gradients: a
 * recorded GEGLU (training mode, or {@link #geglu} under a tape) is {@link #gegluTraining}, the twin's floats and
 * gradient bit for bit, since torch's composed ops round the same way: with the rational-erf forward, the
 * {@code train_step} golden case's gradients all stayed within tolerance, but one more AdamW-updated element missed
 * the case's atol of 2e-6 (2.06e-6:
 * {@code mid_block...ff.net.2.weight[10, 63]}, whose gradient, -1.7e-9, is far below AdamW's eps, where the first step
 * turns ~4e-10 of gradient rounding into ~2e-6 of parameter change).
 */
public final class Fused {
    private Fused() {}

    /** Elements per parallel task: large enough that a task outweighs its scheduling. */
    private static final int ROWS_BLOCK_ELEMENTS = 1 << 16;

    private static final float INV_SQRT2 = (float) (1 / Math.sqrt(2));

    /**
     * erf(x) in float: Eigen's rational approximation ({@code generic_fast_erf_float}: x·P(x²)/Q(x²) on [−4, 4],
     * ±1 outside; odd numerator of degree 13, even denominator of degree 8). Branch-free, so loops over it vectorise.
     * Measured against a double-precision erf in {@code FusedTest}: max abs error 3.3e-7 on [−6, 6] (~5 float ulps, near
     * ±1; float32 itself resolves 6e-8 there).
     */
    public static float erf(float a) {
        float x = Math.max(-4f, Math.min(4f, a));
        float x2 = x * x;
        float p = Math.fma(x2, -2.72614225801306e-10f, 2.77068142495902e-08f);
        p = Math.fma(x2, p, -2.10102402082508e-06f);
        p = Math.fma(x2, p, -5.69250639462346e-05f);
        p = Math.fma(x2, p, -7.34990630326855e-04f);
        p = Math.fma(x2, p, -2.95459980854025e-03f);
        p = Math.fma(x2, p, -1.60960333262415e-02f);
        p = x * p;
        float q = Math.fma(x2, -1.45660718464996e-05f, -2.13374055278905e-04f);
        q = Math.fma(x2, q, -1.68282697438203e-03f);
        q = Math.fma(x2, q, -7.37332916720468e-03f);
        q = Math.fma(x2, q, -1.42647390514189e-02f);
        return p / q;
    }

    /** Exact GELU in float, 0.5·x·(1 + erf(x/√2)), with {@link #erf}. */
    public static float gelu(float x) {
        return 0.5f * x * (1f + erf(x * INV_SQRT2));
    }

    /**
     * diffusers' GEGLU after its projection: {@code h = [a | g]} on the last axis, result {@code a · gelu(g)} with the
     * exact (erf) GELU. {@code h} (..., 2·d) -> (..., d). Float32 c-contiguous inputs take the fused Java kernel (two
     * threads when large); a recorded h takes {@link #gegluTraining}, anything else {@link #gegluNaive}.
     */
    public static Tensor geglu(Tensor h) {
        long[] os = gegluOutputShape(h);
        if (recorded(h)) return gegluTraining(h);                           // the twin's floats and its gradient
        INDArray in = h.data();
        if (!kernelInput(in)) return gegluNaive(h);
        int d = (int) os[os.length - 1];
        long rows = in.length() / (2L * d);
        INDArray out = Memory.uninitialized(DataType.FLOAT, os);
        FloatBuffer src = floats(in), dst = floats(out);
        inRowBlocks(rows, 2L * d, (r0, r1) -> {
            float[] a = new float[d], g = new float[d];
            for (long r = r0; r < r1; r++) {
                src.get((int) (r * 2 * d), a, 0, d);
                src.get((int) (r * 2 * d + d), g, 0, d);
                for (int j = 0; j < d; j++) a[j] *= gelu(g[j]);
                dst.put((int) (r * d), a, 0, d);
            }
        });
        return Ops.record("geglu", out, g -> null, h);
    }

    private static final float INV_SQRT_2PI = (float) (1.0 / Math.sqrt(2 * Math.PI));

    /**
     * GEGLU for training: the floats of {@link #gegluNaive} and of its gradient, bit for bit, in fewer passes. The twin
     * takes seven ND4J ops forward and, backward, eight more plus two zero-filled gradients of h (one per half) that the
     * tape then adds. Here the only ND4J ops are the two whose results must be ND4J's own, {@code Erf} (forward) and
     * {@code Exp} (backward), each run once over a packed copy of the gate; every product and sum around them is done in
     * Java in the twin's order, each rounded to float as ND4J's float ops round (no FMA contraction in Java), and the
     * backward writes both halves of dh at once. Φ(g) is kept from the forward for the backward. Inputs that are not
     * float32 c-contiguous take {@link #gegluNaive}.
     */
    public static Tensor gegluTraining(Tensor h) {
        long[] os = gegluOutputShape(h);
        INDArray in = h.data();
        if (!kernelInput(in)) return gegluNaive(h);
        int d = (int) os[os.length - 1];
        long rows = in.length() / (2L * d);
        INDArray cdf = Memory.uninitialized(DataType.FLOAT, rows, d);        // g/√2, then erf of it, then Φ(g)
        FloatBuffer src = floats(in), c = floats(cdf);
        inRowBlocks(rows, 2L * d, (r0, r1) -> {
            float[] g = new float[d];
            for (long r = r0; r < r1; r++) {
                src.get((int) (r * 2 * d + d), g, 0, d);
                for (int j = 0; j < d; j++) g[j] *= INV_SQRT2;                  // in.mul(1/√2)
                c.put((int) (r * d), g, 0, d);
            }
        });
        Nd4j.getExecutioner().exec(new org.nd4j.linalg.api.ops.impl.transforms.strict.Erf(cdf, cdf));
        INDArray out = Memory.uninitialized(DataType.FLOAT, os);
        FloatBuffer dst = floats(out);
        inRowBlocks(rows, 2L * d, (r0, r1) -> {
            float[] a = new float[d], g = new float[d], e = new float[d];
            for (long r = r0; r < r1; r++) {
                src.get((int) (r * 2 * d), a, 0, d);
                src.get((int) (r * 2 * d + d), g, 0, d);
                c.get((int) (r * d), e, 0, d);
                for (int j = 0; j < d; j++) {
                    float phi = (e[j] + 1f) * 0.5f;                             // erf(..).addi(1).muli(0.5)
                    e[j] = phi;
                    a[j] = a[j] * (g[j] * phi);                                 // a · (g · Φ(g))
                }
                c.put((int) (r * d), e, 0, d);
                dst.put((int) (r * d), a, 0, d);
            }
        });
        if (!Grad.isRecording() || !h.requiresGrad()) {
            Memory.free(cdf);
            return Ops.record("geglu", out, go -> null, h);
        }
        return Ops.record("geglu", out, go -> new INDArray[]{gegluTrainingBackward(in, cdf, go, d)}, h);
    }

    /** The twin's gradient of h: [go·gelu(g) | ((φ'·g + Φ(g))·(go·a)], with φ' = exp(g·g·(−½))·(1/√(2π)) as ND4J computes it. */
    private static INDArray gegluTrainingBackward(INDArray h, INDArray cdf, INDArray go, int d) {
        INDArray gout = kernelInput(go) ? go : go.dup('c');
        long rows = h.length() / (2L * d);
        INDArray pdf = Memory.uninitialized(DataType.FLOAT, rows, d);        // g·g·(−½), then its exp
        FloatBuffer src = floats(h), p = floats(pdf), c = floats(cdf), gb = floats(gout);
        inRowBlocks(rows, 2L * d, (r0, r1) -> {
            float[] g = new float[d];
            for (long r = r0; r < r1; r++) {
                src.get((int) (r * 2 * d + d), g, 0, d);
                for (int j = 0; j < d; j++) g[j] = (g[j] * g[j]) * -0.5f;       // in.mul(in).muli(-0.5)
                p.put((int) (r * d), g, 0, d);
            }
        });
        Nd4j.getExecutioner().exec(new org.nd4j.linalg.api.ops.impl.transforms.strict.Exp(pdf, pdf));
        INDArray dh = Memory.uninitialized(DataType.FLOAT, h.shape());
        FloatBuffer out = floats(dh);
        inRowBlocks(rows, 2L * d, (r0, r1) -> {
            float[] a = new float[d], g = new float[d], e = new float[d], phi = new float[d], o = new float[d];
            for (long r = r0; r < r1; r++) {
                src.get((int) (r * 2 * d), a, 0, d);
                src.get((int) (r * 2 * d + d), g, 0, d);
                p.get((int) (r * d), e, 0, d);
                c.get((int) (r * d), phi, 0, d);
                gb.get((int) (r * d), o, 0, d);
                for (int j = 0; j < d; j++) {
                    float dg = ((e[j] * INV_SQRT_2PI) * g[j] + phi[j]) * (o[j] * a[j]);   // d.muli(in).addi(cdf).muli(go·a)
                    a[j] = o[j] * (g[j] * phi[j]);                                  // go · gelu(g)
                    g[j] = dg;
                }
                out.put((int) (r * 2 * d), a, 0, d);
                out.put((int) (r * 2 * d + d), g, 0, d);
            }
        });
        Memory.free(pdf, cdf);
        if (gout != go) Memory.free(gout);
        return dh;
    }

    /** GEGLU's output shape (..., d) for h (..., 2·d); fails, naming the shape, when the last axis is not two halves. */
    private static long[] gegluOutputShape(Tensor h) {
        long[] hs = h.shape();
        if (h.rank() < 1 || hs[hs.length - 1] % 2 != 0)
            throw new IllegalArgumentException("geglu: the last axis must hold [value | gate] halves, got " + Arrays.toString(hs));
        long[] os = hs.clone();
        os[os.length - 1] = hs[hs.length - 1] / 2;
        return os;
    }

    /**
     * {@link NnOps#groupNorm} for inference: one fused pass (statistics in double) when nothing is recorded and x is
     * float32 and c-contiguous; otherwise, and for every invalid input, {@link NnOps#groupNorm} itself (the twin).
     */
    public static Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        if (xs.length >= 3 && groups >= 1 && xs[1] % groups == 0 && !recorded(x, weight, bias)) {
            INDArray y = groupNormRows(x.data(), new long[]{xs[0], groups, xs[1] / groups}, data(weight), data(bias), eps, false);
            if (y != null) return Ops.record("groupNorm", y, g -> null, x, weight, bias);
        }
        return NnOps.groupNorm(x, groups, weight, bias, eps);
    }

    /**
     * {@code Ops.silu(groupNorm(x, ...))} for inference: the SiLU applied to each normalised row before it is written
     * (one pass fewer over the activation), the same floats as the two ops, when nothing is recorded, the Vector API
     * kernels are on ({@link Ops#vectorElementwise()}, outside training) and x is float32 c-contiguous; otherwise the two
     * ops themselves.
     */
    public static Tensor groupNormSilu(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        if (xs.length >= 3 && groups >= 1 && xs[1] % groups == 0 && !recorded(x, weight, bias) && Ops.vectorElementwise()
                && !Grad.inTraining()) {
            INDArray y = groupNormRows(x.data(), new long[]{xs[0], groups, xs[1] / groups}, data(weight), data(bias), eps, true);
            if (y != null) return Ops.record("groupNormSilu", y, g -> null, x, weight, bias);
        }
        Tensor n = groupNorm(x, groups, weight, bias, eps);
        Tensor y = Ops.siluInPlace(n);
        if (y != n) n.release();
        return y;
    }

    /** {@link NnOps#groupNormPerFrame} for inference, as {@link #groupNorm}. */
    public static Tensor groupNormPerFrame(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        if (xs.length == 5 && groups >= 1 && xs[1] % groups == 0 && !recorded(x, weight, bias)) {
            INDArray y = groupNormRows(x.data(), new long[]{xs[0], groups, xs[1] / groups, xs[2]}, data(weight), data(bias), eps, false);
            if (y != null) return Ops.record("groupNormPerFrame", y, g -> null, x, weight, bias);
        }
        return NnOps.groupNormPerFrame(x, groups, weight, bias, eps);
    }

    /**
     * {@link NnOps#conv2d} of a 1×1 kernel (stride 1, no padding) for inference, as one GEMM per image:
     * {@code y[n] = W (O, C) · x[n] (C, H·W)} written straight into the output, then the bias added to each image's
     * output while it is still in cache. ND4J's conv2d op runs 1×1 kernels at about half the GEMM rate of the same
     * multiply-adds as a matmul (UNet's proj_in, proj_out and conv_shortcut). Falls back to {@link NnOps#conv2d} (the
     * twin) when something is recorded, x is not float32 c-contiguous, or the images are smaller than
     * {@link #POINTWISE_GEMM_MIN_PIXELS}: there the per-image calls cost more than they compute (2 threads, 256 images
     * of 8×8, 32 -> 64 channels: 81 ms against the op's 8.4 ms; 32 images of 16×16 at 320 channels: 16.9 against 25.8 ms).
     *
     * @throws IllegalArgumentException a weight that is not (O, C, 1, 1)
     */
    /** Smallest image (H·W pixels) {@link #pointwiseConv} computes as one GEMM per image. */
    public static final long POINTWISE_GEMM_MIN_PIXELS = 256;

    public static Tensor pointwiseConv(Tensor x, Tensor weight, Tensor bias) {
        long[] xs = x.shape(), ws = weight.shape();
        if (ws.length != 4 || ws[2] != 1 || ws[3] != 1)
            throw new IllegalArgumentException("pointwiseConv: weight " + Arrays.toString(ws) + " is not a 1x1 kernel (O, C, 1, 1)");
        INDArray in = x.data(), w = weight.data(), b = data(bias);
        if (xs.length == 4 && ws.length == 4 && ws[1] == xs[1] && ws[2] == 1 && ws[3] == 1 && !recorded(x, weight, bias)
                && xs[2] * xs[3] >= POINTWISE_GEMM_MIN_PIXELS
                && kernelInput(in) && w.dataType() == DataType.FLOAT && perChannel(b, ws[0])) {
            long n = xs[0], c = xs[1], hw = xs[2] * xs[3], o = ws[0];
            INDArray w2 = w.reshape('c', o, c);
            INDArray x3 = in.reshape('c', n, c, hw);
            INDArray y = Memory.uninitialized(DataType.FLOAT, n, o, xs[2], xs[3]);
            INDArray y3 = y.reshape('c', n, o, hw);
            INDArray bc = b == null ? null : b.reshape('c', o, 1);
            for (long i = 0; i < n; i++) {
                INDArray yi = y3.slice(i);                                           // (O, H·W) view, c-contiguous
                Nd4j.gemm(w2, x3.slice(i), yi, false, false, 1.0, 0.0);
                if (bc != null) yi.addiColumnVector(bc);
            }
            return Ops.record("conv2d", y, g -> null, x, weight, bias);
        }
        return NnOps.conv2d(x, weight, bias, 1, 0);
    }

    /**
     * Rotary position embedding of interleaved pairs, for inference: t (…, L, D) float32; for the row at position p
     * (= row index mod L) and pair m below {@code dim/2}: {@code x'[2m] = x[2m]·cos[p][m] − x[2m+1]·sin[p][m]},
     * {@code x'[2m+1] = x[2m+1]·cos[p][m] + x[2m]·sin[p][m]}; channels from {@code dim} on are copied. Each product and sum
     * rounds to float as the composed ops' (Java does not contract them into FMAs), so the result is theirs bit for bit,
     * in one pass instead of nine ops and two concatenations. {@code cos}, {@code sin}: (L·dim/2) row-major. When t is
     * recorded, the backward is the rotation by −angle, {@code dx[2m] = g[2m]·cos + g[2m+1]·sin},
     * {@code dx[2m+1] = g[2m+1]·cos − g[2m]·sin} (other channels pass g through): the composed ops' gradient bit for bit
     * (each of its entries is the same two rounded products and one rounded sum; their zero-filled slice gradients add
     * nothing). Returns null when t is not float32 (the caller composes it).
     */
    public static Tensor rotaryInterleaved(Tensor t, float[] cos, float[] sin, int dim) {
        long[] ts = t.shape();
        if (ts.length < 2 || t.dtype() != DataType.FLOAT) return null;
        long length = ts[ts.length - 2], d = ts[ts.length - 1];
        int half = dim / 2;
        if (dim % 2 != 0 || dim > d || cos.length != length * half || sin.length != length * half)
            throw new IllegalArgumentException("rotaryInterleaved: dim " + dim + " and tables of " + cos.length + "/" + sin.length
                    + " do not fit " + Arrays.toString(ts));
        INDArray out = rotatePairs(t.data(), cos, sin, dim, length, 1f);
        if (!recorded(t)) return Ops.record("rotary", out, g -> null, t);
        return Ops.record("rotary", out, g -> new INDArray[]{rotatePairs(g, cos, sin, dim, length, -1f)}, t);
    }

    /**
     * x (…, L, D) float32 with the pairs of its first {@code dim} channels rotated by sign·angle (other channels copied):
     * {@code x'[2m] = x[2m]·cos − x[2m+1]·(sign·sin)}, {@code x'[2m+1] = x[2m+1]·cos + x[2m]·(sign·sin)}. Sign −1 is the
     * gradient of sign +1, and the same floats as {@code g[2m]·cos + g[2m+1]·sin}, {@code g[2m+1]·cos − g[2m]·sin}
     * (negating a factor is exact).
     */
    private static INDArray rotatePairs(INDArray x, float[] cos, float[] sin, int dim, long length, float sign) {
        // x is read in place, row by row: any float32 view whose last axis has unit stride (temporal attention's q and k
        // are permuted (B, H, F, D) views of their projections), so no copy comes first
        INDArray in = Rows.of(x) != null ? x : x.dup('c');
        Rows at = Rows.of(in);
        INDArray out = Memory.uninitialized(DataType.FLOAT, x.shape());
        FloatBuffer src = Kernels.viewBuffer(in), dst = floats(out);
        int len = at.length, half = dim / 2;
        inRowBlocks(at.count, len, (r0, r1) -> {
            float[] row = new float[len];
            for (long r = r0; r < r1; r++) {
                int table = (int) (r % length) * half;
                src.get((int) at.start(r), row, 0, len);
                for (int m = 0; m < half; m++) {
                    float a = row[2 * m], b = row[2 * m + 1], c = cos[table + m], sn = sign * sin[table + m];
                    row[2 * m] = a * c - b * sn;
                    row[2 * m + 1] = b * c + a * sn;
                }
                dst.put((int) (r * len), row, 0, len);
            }
        });
        if (in != x) Memory.free(in);
        return out;
    }

    /**
     * {@link NnOps#layerNorm} (over the last dim) for inference: per row the mean and the squared deviations in double,
     * then one pass {@code ((x − μ)·rstd)·γ + β}; rows in parallel, read in place from any view whose last dimension is
     * contiguous ({@link Rows}: the temporal attention's permuted tokens), written c-contiguous. Falls back to
     * {@link NnOps#layerNorm} (the twin) when something is recorded, x is not float32 with contiguous rows, or an input
     * is invalid.
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        INDArray in = x.data(), gamma = data(weight), beta = data(bias);
        long d = xs.length == 0 ? 0 : xs[xs.length - 1];
        Rows rows = d < 1 || recorded(x, weight, bias) ? null : Rows.of(in);
        if (rows == null || !perChannel(gamma, d) || !perChannel(beta, d))
            return NnOps.layerNorm(x, weight, bias, eps);
        int len = (int) d;
        float[] gam = values(gamma), bet = values(beta);
        INDArray out = Memory.uninitialized(DataType.FLOAT, xs);
        FloatBuffer src = Kernels.viewBuffer(in), dst = floats(out);
        inRowBlocks(rows.count, d, (r0, r1) -> {
            float[] row = new float[len];
            for (long r = r0; r < r1; r++) {
                int at = (int) (r * len);
                src.get((int) rows.start(r), row, 0, len);
                double mean = rowSum(row) / len;
                double rstd = 1.0 / Math.sqrt(rowSquaredDeviations(row, (float) mean) / len + eps);
                float m = (float) mean, k = (float) rstd;
                if (gam != null && bet != null) {
                    if (Kernels.VECTOR_API) VectorElementwise.normalize(row, len, m, k, gam, bet);
                    else for (int i = 0; i < len; i++) row[i] = Math.fma((row[i] - m) * k, gam[i], bet[i]);
                }
                else if (gam != null) for (int i = 0; i < len; i++) row[i] = (row[i] - m) * k * gam[i];
                else if (bet != null) for (int i = 0; i < len; i++) row[i] = (row[i] - m) * k + bet[i];
                else for (int i = 0; i < len; i++) row[i] = (row[i] - m) * k;
                dst.put(at, row, 0, len);
            }
        });
        return Ops.record("layerNorm", out, g -> null, x, weight, bias);
    }

    /** A block of rows {@code [r0, r1)}. */
    interface RowBlock {
        void run(long r0, long r1);
    }

    /**
     * Runs {@code body} over rows {@code [0, rows)} in blocks of about {@link #ROWS_BLOCK_ELEMENTS} elements (rows of
     * {@code rowElements} each), in parallel when there is more than one block.
     */
    static void inRowBlocks(long rows, long rowElements, RowBlock body) {
        int rowsPerTask = (int) Math.max(1, ROWS_BLOCK_ELEMENTS / rowElements);
        int tasks = (int) ((rows + rowsPerTask - 1) / rowsPerTask);
        IntStream range = IntStream.range(0, tasks);
        if (tasks > 1) range = range.parallel();
        range.forEach(t -> {
            long r0 = (long) t * rowsPerTask;
            body.run(r0, Math.min(rows, r0 + rowsPerTask));
        });
    }

    private static boolean recorded(Tensor... ts) {
        if (!Grad.isRecording()) return false;
        for (Tensor t : ts) if (t != null && t.requiresGrad()) return true;
        return false;
    }

    private static INDArray data(Tensor t) { return t == null ? null : t.data(); }

    /** Whether the Java kernels can read x through one FloatBuffer: float32, c-contiguous from offset 0, under 2³¹. */
    private static boolean kernelInput(INDArray x) {
        return x.dataType() == DataType.FLOAT && x.ordering() == 'c' && Shape.hasDefaultStridesForShape(x) && x.offset() == 0
                && x.data().length() <= Integer.MAX_VALUE;
    }

    /** An absent affine parameter, or a float32 one of {@code n} values. */
    private static boolean perChannel(INDArray p, long n) {
        return p == null || (p.dataType() == DataType.FLOAT && p.length() == n);
    }

    /** The values of a small parameter array (null stays null). */
    private static float[] values(INDArray p) {
        return p == null ? null : p.dup('c').data().asFloat();
    }

    /**
     * Group normalisation for inference over x viewed as rows: {@code rowShape} = (n, g, c/g) or (n, g, c/g, f), rows in
     * that c-order, each of length L = numel / rows; one group is the c/g rows sharing (n, g[, f]); γ and β (length
     * g·c/g, may be null) are per channel. Two passes per group read x to accumulate the mean and then the squared
     * deviations in double (the composed path's formula, with a wider accumulator), one pass writes
     * {@code x·(rstd·γ) + (β − μ·rstd·γ)}, then, with {@code silu}, x·σ(x) of it (the Vector API kernel). Groups run in
     * parallel. Returns null where the kernel does not apply (not float32, not c-contiguous from offset 0, over 2³¹
     * elements), so the caller takes its composed path.
     */
    private static INDArray groupNormRows(INDArray x, long[] rowShape, INDArray gamma, INDArray beta, double eps, boolean silu) {
        long channels = rowShape[1] * rowShape[2];
        if (!kernelInput(x) || !perChannel(gamma, channels) || !perChannel(beta, channels)) return null;
        long n = rowShape[0], g = rowShape[1], cg = rowShape[2], fo = rowShape.length > 3 ? rowShape[3] : 1;
        long rows = n * g * cg * fo;
        int len = (int) (x.length() / rows);
        float[] gam = values(gamma), bet = values(beta);
        INDArray out = Memory.uninitialized(DataType.FLOAT, x.shape());
        FloatBuffer src = floats(x), dst = floats(out);
        double count = (double) cg * len;
        IntStream groups = IntStream.range(0, (int) (n * g * fo));
        if (n * g * fo > 1 && x.length() > ROWS_BLOCK_ELEMENTS) groups = groups.parallel();
        groups.forEach(id -> {
            long f = id % fo, ng = id / fo, gi = ng % g;
            float[] row = new float[len];
            double sum = 0;
            for (long c = 0; c < cg; c++) {
                src.get((int) (((ng * cg + c) * fo + f) * len), row, 0, len);
                sum += rowSum(row);
            }
            double mean = sum / count, sq = 0;
            for (long c = 0; c < cg; c++) {
                src.get((int) (((ng * cg + c) * fo + f) * len), row, 0, len);
                sq += rowSquaredDeviations(row, (float) mean);
            }
            double rstd = 1.0 / Math.sqrt(sq / count + eps);
            for (long c = 0; c < cg; c++) {
                int ch = (int) (gi * cg + c), at = (int) (((ng * cg + c) * fo + f) * len);
                double scale = rstd * (gam == null ? 1.0 : gam[ch]);
                float a = (float) scale, b = (float) ((bet == null ? 0.0 : bet[ch]) - mean * scale);
                src.get(at, row, 0, len);
                if (Kernels.VECTOR_API) VectorElementwise.affine(row, len, a, b);
                else for (int i = 0; i < len; i++) row[i] = Math.fma(row[i], a, b);
                if (silu) VectorElementwise.siluChunk(row, len);
                dst.put(at, row, 0, len);
            }
        });
        return out;
    }

    /** {@link #sumOf}, in the Vector API when the JVM has it (the same double). */
    private static double rowSum(float[] v) {
        return Kernels.VECTOR_API ? VectorElementwise.sumOf(v) : sumOf(v);
    }

    /** {@link #squaredDeviations}, in the Vector API when the JVM has it (the same double). */
    private static double rowSquaredDeviations(float[] v, float m) {
        return Kernels.VECTOR_API ? VectorElementwise.squaredDeviations(v, m) : squaredDeviations(v, m);
    }

    /**
     * Σ v in double: {@link Kernels#LANES} float partial sums (lane l adds v[i + l + LANES·k]) over each block of 64,
     * the block's partial sums added in lane order in double to the total (independent chains the JIT can overlap; the
     * vector kernel's lanes, so that {@code VectorElementwise.sumOf} gives the same double).
     */
    static double sumOf(float[] v) {
        int lanes = Kernels.LANES;
        float[] s = new float[lanes];
        double total = 0;
        int i = 0;
        for (; i + 64 <= v.length; i += 64) {
            Arrays.fill(s, 0f);
            for (int j = i; j < i + 64; j += lanes)
                for (int l = 0; l < lanes; l++) s[l] += v[j + l];
            total += blockTotal(s);
        }
        for (; i < v.length; i++) total += v[i];
        return total;
    }

    /** Σ (v − m)² in double, as {@link #sumOf}. */
    static double squaredDeviations(float[] v, float m) {
        int lanes = Kernels.LANES;
        float[] s = new float[lanes];
        double total = 0;
        int i = 0;
        for (; i + 64 <= v.length; i += 64) {
            Arrays.fill(s, 0f);
            for (int j = i; j < i + 64; j += lanes)
                for (int l = 0; l < lanes; l++) {
                    float d = v[j + l] - m;
                    s[l] += d * d;
                }
            total += blockTotal(s);
        }
        for (; i < v.length; i++) {
            double d = v[i] - m;
            total += d * d;
        }
        return total;
    }

    /** (double) s[0] + s[1] + … in order: one block's partial sums. */
    static double blockTotal(float[] s) {
        double t = s[0];
        for (int l = 1; l < s.length; l++) t += s[l];
        return t;
    }

    /** The naive twin of {@link #geglu}: chunk, {@link Ops#gelu}, {@link Ops#mul}. */
    public static Tensor gegluNaive(Tensor h) {
        Tensor[] parts = Ops.chunk(h, 2, -1);
        Tensor gate = Ops.gelu(parts[1]);
        Tensor y = Ops.mul(parts[0], gate);
        Tensor.release(gate);
        return y;
    }

    /** The buffer of a float array (offset 0) as a native-order FloatBuffer. */
    private static FloatBuffer floats(INDArray x) {
        return x.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
    }
}
