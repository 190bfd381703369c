package org.lavie4j.core;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * 1×1 convolutions of every frame of a video for inference, as one GEMM per batch entry that reads and writes the
 * layouts around it in place: the video (B, C, F, H, W), whose entry is a (C, F·H·W) matrix, and the transformer's
 * tokens ((B·F), H·W, C), whose entry is an (F·H·W, C) matrix. The GEMM's leading dimensions absorb the rearranges that the reference makes as
 * copies ({@code b c f h w -> (b f) c h w}, then {@code (b f) c h w -> (b f) (h w) c} and back), and the results are
 * c-contiguous, so the layers after them (LayerNorm, residual adds) take their one-pass paths instead of strided ones.
 *
 * <p>Why: LaVie's {@code Transformer3DModel} (proj_in, proj_out) and its resnets' {@code conv_shortcut}. Composed
 * from views, the tokens reached the transformer block as a permuted view, where LayerNorm fell back to its composed
 * twin (58-97 ms at 16 × 2,560 × 320 against 15 ms) and the residual adds to ND4J's strided loops (55 against 5 ms), and
 * the 1×1 convolutions ran on ND4J's conv2d op at about half the GEMM rate (benchmarks/README.md).
 *
 * <p>A weight may be a 1×1 kernel (O, C, 1, 1) or a linear layer's (O, C): the same products (the x4 upscaler's
 * transformers project tokens with linear layers where the base UNet's use 1×1 convolutions).
 *
 * <p>Each method has its twin composed from {@link Rearrange}, {@link NnOps#conv2d} and {@link Ops#add}; results equal
 * the twin's up to float rounding (the GEMM sums in another order; the bias is added after the product, the residual
 * after the bias, as the reference does). The twin runs whenever something records, or an input is not float32 or
 * not c-contiguous.
 */
public final class Pointwise {
    private Pointwise() {}

    private static final int ROW_MAJOR = openblas_nolapack.CblasRowMajor, NO_TRANS = openblas_nolapack.CblasNoTrans,
            TRANS = openblas_nolapack.CblasTrans;

    /**
     * {@code conv1x1} of every frame: x (B, C, F, H, W), weight (O, C, 1, 1) (or a linear's (O, C)), bias (O) or null
     * -> (B, O, F, H, W),
     * c-contiguous: out[b, :, f] = W · x[b, :, f] + bias.
     */
    public static Tensor video(Tensor x, Tensor weight, Tensor bias) {
        long[] xs = shape5(x, "Pointwise.video");
        long o = outChannels(weight, xs[1], "Pointwise.video");
        if (!fast(x, weight, bias)) return Rearrange.batchToFrames(NnOps.conv2d(Rearrange.framesToBatch(x), kernel(weight), bias, 1, 0), xs[2]);
        long b = xs[0], c = xs[1], f = xs[2], hw = xs[3] * xs[4];
        INDArray out = Memory.uninitialized(DataType.FLOAT, b, o, f, xs[3], xs[4]);
        FloatPointer xp = pointer(x.data()), wp = pointer(matrix(weight)), op = pointer(out);
        for (long bi = 0; bi < b; bi++)                                       // (O, F·HW) = (O, C) · (C, F·HW)
            sgemm(NO_TRANS, NO_TRANS, o, f * hw, c, wp, 0, c, xp, bi * c * f * hw, f * hw, op, bi * o * f * hw, f * hw);
        if (bias != null) addPerRow(out, values(bias), hw, null);
        return Ops.record("conv2d", out, g -> null, x, weight, bias);
    }

    /**
     * {@code Rearrange.toSpatialTokens(conv1x1(Rearrange.framesToBatch(x)))}: x (B, C, F, H, W), weight (O, C, 1, 1),
     * bias (O) or null -> ((B·F), H·W, O), c-contiguous: tokens[b·F + f] = x[b, :, f]ᵀ · Wᵀ + bias.
     */
    public static Tensor toTokens(Tensor x, Tensor weight, Tensor bias) {
        long[] xs = shape5(x, "Pointwise.toTokens");
        long o = outChannels(weight, xs[1], "Pointwise.toTokens");
        if (!fast(x, weight, bias))
            return Rearrange.toSpatialTokens(NnOps.conv2d(Rearrange.framesToBatch(x), kernel(weight), bias, 1, 0));
        long b = xs[0], c = xs[1], f = xs[2], hw = xs[3] * xs[4];
        INDArray out = Memory.uninitialized(DataType.FLOAT, b * f, hw, o);
        FloatPointer xp = pointer(x.data()), wp = pointer(matrix(weight)), op = pointer(out);
        for (long bi = 0; bi < b; bi++)                                       // (F·HW, O) = (C, F·HW)ᵀ · (O, C)ᵀ
            sgemm(TRANS, TRANS, f * hw, o, c, xp, bi * c * f * hw, f * hw, wp, 0, c, op, bi * f * hw * o, o);
        if (bias != null) addToEveryRow(out, values(bias));
        return Ops.record("conv2d", out, g -> null, x, weight, bias);
    }

    /**
     * {@code Rearrange.batchToFrames(conv1x1(Rearrange.fromSpatialTokens(tokens, h, w)), F) + residual}: tokens
     * ((B·F), H·W, C), weight (O, C, 1, 1), bias (O) or null, residual (B, O, F, H, W) -> (B, O, F, H, W), c-contiguous:
     * out[b, :, f] = (W · tokens[b·F + f]ᵀ + bias) + residual[b, :, f].
     */
    public static Tensor fromTokensPlus(Tensor tokens, Tensor weight, Tensor bias, Tensor residual) {
        long[] ts = tokens.shape(), rs = shape5(residual, "Pointwise.fromTokensPlus residual");
        long b = rs[0], o = rs[1], f = rs[2], h = rs[3], w = rs[4], hw = h * w;
        if (ts.length != 3 || ts[0] != b * f || ts[1] != hw)
            throw new IllegalArgumentException("Pointwise.fromTokensPlus: tokens " + Arrays.toString(ts) + " are not (" + b * f + ", " + hw
                    + ", C) for the residual " + Arrays.toString(rs));
        long c = ts[2];
        if (outChannels(weight, c, "Pointwise.fromTokensPlus") != o)
            throw new IllegalArgumentException("Pointwise.fromTokensPlus: weight " + Arrays.toString(weight.shape()) + " gives " + weight.size(0)
                    + " channels, the residual " + Arrays.toString(rs) + " has " + o);
        if (!fast(tokens, weight, bias) || !fast(residual, weight, null)) {
            Tensor img = Rearrange.fromSpatialTokens(tokens, h, w);
            Tensor y = NnOps.conv2d(img, kernel(weight), bias, 1, 0);
            if (!img.sharesMemoryWith(tokens)) img.release();
            Tensor video = Rearrange.batchToFrames(y, f);
            Tensor out = Ops.add(video, residual);
            if (out != video) video.release();
            return out;
        }
        INDArray out = Memory.uninitialized(DataType.FLOAT, b, o, f, h, w);
        FloatPointer tp = pointer(tokens.data()), wp = pointer(matrix(weight)), op = pointer(out);
        for (long bi = 0; bi < b; bi++)                                       // (O, F·HW) = (O, C) · (F·HW, C)ᵀ
            sgemm(NO_TRANS, TRANS, o, f * hw, c, wp, 0, c, tp, bi * f * hw * c, c, op, bi * o * f * hw, f * hw);
        addPerRow(out, bias == null ? null : values(bias), hw, residual.data());
        return Ops.record("conv2d", out, g -> null, tokens, weight, bias, residual);
    }

    // ------------------------------------------------------------------ helpers

    private static long[] shape5(Tensor x, String op) {
        long[] s = x.shape();
        if (s.length != 5) throw new IllegalArgumentException(op + ": expected a video (B, C, F, H, W), got " + Arrays.toString(s));
        return s;
    }

    /** O of an (O, C, 1, 1) weight or an (O, C) linear weight, after checking it against C input channels. */
    private static long outChannels(Tensor weight, long c, String op) {
        long[] ws = weight.shape();
        if (!(ws.length == 4 && ws[1] == c && ws[2] == 1 && ws[3] == 1) && !(ws.length == 2 && ws[1] == c))
            throw new IllegalArgumentException(op + ": weight " + Arrays.toString(ws) + " is neither a 1x1 kernel (O, " + c
                    + ", 1, 1) nor a linear weight (O, " + c + ")");
        return ws[0];
    }

    /** The weight as a 1×1 kernel (O, C, 1, 1), for the twins' conv2d (a view of a linear weight). */
    private static Tensor kernel(Tensor weight) {
        return weight.rank() == 4 ? weight : Ops.reshape(weight, weight.size(0), weight.size(1), 1, 1);
    }

    /**
     * Whether the GEMM path applies: nothing records, float32 c-contiguous operands (the weight as its (O, C) matrix:
     * ND4J does not count an (O, C, 1, 1) array's strides as default), sizes within BLAS's ints.
     */
    private static boolean fast(Tensor x, Tensor weight, Tensor bias) {
        if (Grad.isRecording() && (x.requiresGrad() || weight.requiresGrad() || bias != null && bias.requiresGrad())) return false;
        INDArray w = weight.data();
        return Kernels.denseFloat(x.data()) && Kernels.denseFloat(w.reshape('c', w.size(0), w.size(1)))
                && (bias == null || Kernels.denseFloat(bias.data()) && bias.numel() == weight.size(0));
    }

    /** The (O, C) matrix of an (O, C, 1, 1) weight: a view, as {@link #fast} checked. */
    private static INDArray matrix(Tensor weight) {
        INDArray w = weight.data();
        return w.reshape('c', w.size(0), w.size(1));
    }


    /** A pointer to a's first element (a view's buffer pointer already starts there). */
    private static FloatPointer pointer(INDArray a) {
        return new FloatPointer(a.data().addressPointer());
    }

    /** Row-major C[m×n] = op(A)·op(B) on OpenBLAS (the library ND4J's matmul calls, with its thread count). */
    private static void sgemm(int transA, int transB, long m, long n, long k, FloatPointer a, long aAt, long lda,
                              FloatPointer b, long bAt, long ldb, FloatPointer c, long cAt, long ldc) {
        openblas_nolapack.cblas_sgemm(ROW_MAJOR, transA, transB, (int) m, (int) n, (int) k, 1f,
                new FloatPointer(a).position(aAt), (int) lda, new FloatPointer(b).position(bAt), (int) ldb,
                0f, new FloatPointer(c).position(cAt), (int) ldc);
    }

    private static float[] values(Tensor t) { return t.data().dup('c').data().asFloat(); }

    /**
     * For every row (b, o, f) of a (B, O, F, H, W) array, rows of {@code len} = H·W: row = (row + bias[o]) + residual's
     * row (either may be null); rows in parallel.
     */
    private static void addPerRow(INDArray out, float[] bias, long len, INDArray residual) {
        long[] s = out.shape();
        long f = s[2], o = s[1];
        FloatPointer dst = pointer(out), res = residual == null ? null : pointer(residual);
        int n = (int) len;
        Fused.inRowBlocks(out.length() / len, n, (r0, r1) -> {
            FloatPointer d = new FloatPointer(dst), a = res == null ? null : new FloatPointer(res);   // private cursors
            float[] row = new float[n], add = res == null ? null : new float[n];
            for (long r = r0; r < r1; r++) {
                float bv = bias == null ? 0f : bias[(int) (r / f % o)];
                d.position(r * len).get(row, 0, n);
                if (add == null) {
                    for (int i = 0; i < n; i++) row[i] += bv;
                } else {
                    a.position(r * len).get(add, 0, n);
                    if (bias == null) for (int i = 0; i < n; i++) row[i] += add[i];
                    else for (int i = 0; i < n; i++) row[i] = (row[i] + bv) + add[i];
                }
                d.position(r * len).put(row, 0, n);
            }
        });
    }

    /** out (…, len) += bias on every row; rows in parallel. */
    private static void addToEveryRow(INDArray out, float[] bias) {
        int n = bias.length;
        FloatPointer dst = pointer(out);
        Fused.inRowBlocks(out.length() / n, n, (r0, r1) -> {
            FloatPointer d = new FloatPointer(dst);
            float[] row = new float[n];
            for (long r = r0; r < r1; r++) {
                d.position(r * n).get(row, 0, n);
                for (int i = 0; i < n; i++) row[i] += bias[i];
                d.position(r * n).put(row, 0, n);
            }
        });
    }
}
