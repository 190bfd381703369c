package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastTo;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * Differentiable layer-level ops with PyTorch semantics: convolution ({@code torch.nn.functional.conv2d}, a
 * frames-only {@code conv3d}), nearest and bilinear resizing ({@code F.interpolate}), zero padding ({@code F.pad}),
 * and group / layer normalisation with epsilon.
 *
 * <p>Convolutions run ND4J's {@code conv2d} / {@code conv2d_bp} with the PyTorch weight layout [O, C, kH, kW]
 * (wFormat 1). ND4J has no group-norm op and its {@code layer_norm} has no epsilon, so both normalisations are
 * composed from reductions with a hand-written backward. Every op is checked against a naive loop and by
 * double-precision finite differences in {@code NnOpsTest}.
 */
public final class NnOps {
    private NnOps() {}

    // ------------------------------------------------------------------ convolution

    /** {@code F.conv2d(x, weight, bias, stride, padding)} with equal stride and padding on both axes. */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        return conv2d(x, weight, bias, stride, stride, padding, padding);
    }

    /**
     * 2-D cross-correlation with zero padding, groups 1, dilation 1: x (N, C, H, W), weight (O, C, kH, kW),
     * bias (O) or null -> (N, O, (H + 2pH − kH)/sH + 1, (W + 2pW − kW)/sW + 1).
     */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int strideH, int strideW, int padH, int padW) {
        long[] xs = x.shape(), ws = weight.shape();
        if (xs.length != 4 || ws.length != 4 || ws[1] != xs[1])
            throw new IllegalArgumentException("conv2d: input " + Arrays.toString(xs) + " (N, C, H, W) does not fit weight "
                    + Arrays.toString(ws) + " (O, C, kH, kW)");
        if (bias != null && (bias.rank() != 1 || bias.size(0) != ws[0]))
            throw new IllegalArgumentException("conv2d: bias " + Arrays.toString(bias.shape()) + " for weight " + Arrays.toString(ws));
        if (strideH < 1 || strideW < 1 || padH < 0 || padW < 0)
            throw new IllegalArgumentException("conv2d: stride (" + strideH + ", " + strideW + ") must be >= 1 and padding ("
                    + padH + ", " + padW + ") >= 0");
        checkDtypes("conv2d", x, weight, bias);
        long oH = (xs[2] + 2L * padH - ws[2]) / strideH + 1, oW = (xs[3] + 2L * padW - ws[3]) / strideW + 1;
        if (xs[2] + 2L * padH < ws[2] || xs[3] + 2L * padW < ws[3])
            throw new IllegalArgumentException("conv2d: kernel " + Arrays.toString(ws) + " larger than padded input " + Arrays.toString(xs)
                    + " with padding (" + padH + ", " + padW + ")");
        INDArray in = contiguous(x.data()), w = contiguous(weight.data()), b = bias == null ? null : contiguous(bias.data());
        // iArgs: kH, kW, sH, sW, pH, pW, dH, dW, paddingMode 0 (explicit), dataFormat 0 (NCHW), wFormat 1 ([O, C, kH, kW])
        int[] iArgs = {(int) ws[2], (int) ws[3], strideH, strideW, padH, padW, 1, 1, 0, 0, 1};
        INDArray out = Nd4j.createUninitialized(x.dtype(), xs[0], ws[0], oH, oW);
        exec("conv2d", b == null ? new INDArray[]{in, w} : new INDArray[]{in, w, b}, new INDArray[]{out}, iArgs);
        Tensor result = Ops.record("conv2d", out, g -> {
            INDArray go = contiguous(g);
            INDArray gx = Nd4j.createUninitialized(in.dataType(), xs), gw = Nd4j.createUninitialized(w.dataType(), ws);
            if (b == null) {
                exec("conv2d_bp", new INDArray[]{in, w, go}, new INDArray[]{gx, gw}, iArgs);
            } else {
                INDArray gb = Nd4j.createUninitialized(b.dataType(), b.shape());
                exec("conv2d_bp", new INDArray[]{in, w, b, go}, new INDArray[]{gx, gw, gb}, iArgs);
                if (go != g) go.close();
                return new INDArray[]{keepIf(x, gx), keepIf(weight, gw), keepIf(bias, gb)};
            }
            if (go != g) go.close();
            return new INDArray[]{keepIf(x, gx), keepIf(weight, gw), null};
        }, x, weight, bias);
        if (result.isLeaf()) closeCopies(x, in, weight, w, bias, b);
        return result;
    }

    /**
     * {@code nn.Conv3d} with kernel (kF, 1, 1), padding (padF, 0, 0), stride 1: a 1-D convolution over frames at every
     * pixel, zero-padded at the clip borders (LaVie VSR's temporal convolutions). x (N, C, F, H, W), weight
     * (O, C, kF, 1, 1), bias (O) or null -> (N, O, F + 2·padF − kF + 1, H, W).
     */
    public static Tensor conv3dTemporal(Tensor x, Tensor weight, Tensor bias, int padF) {
        long[] xs = x.shape(), ws = weight.shape();
        if (xs.length != 5 || ws.length != 5 || ws[1] != xs[1] || ws[3] != 1 || ws[4] != 1)
            throw new IllegalArgumentException("conv3dTemporal: input " + Arrays.toString(xs) + " (N, C, F, H, W) does not fit weight "
                    + Arrays.toString(ws) + " (O, C, kF, 1, 1)");
        // Viewing (F, H·W) as a 2-D image, a (kF, 1) kernel with padding (padF, 0) is exactly the temporal conv.
        Tensor x4 = Ops.reshape(x, xs[0], xs[1], xs[2], xs[3] * xs[4]);              // (n, c, f, h*w)
        Tensor w4 = Ops.reshape(weight, ws[0], ws[1], ws[2], 1);                       // (o, c, kf, 1)
        Tensor y4 = conv2d(x4, w4, bias, 1, 1, padF, 0);                               // (n, o, f', h*w)
        return Ops.reshape(y4, xs[0], ws[0], y4.size(2), xs[3], xs[4]);               // (n, o, f', h, w)
    }

    // ------------------------------------------------------------------ resizing and padding

    /**
     * Nearest-neighbour ×2 upsampling of the last two dims, {@code F.interpolate(x, scale_factor=2)} for (N, C, H, W)
     * and {@code scale_factor=(1, 2, 2)} for (N, C, F, H, W) (frames untouched): out[.., y, x] = in[.., ⌊y/2⌋, ⌊x/2⌋].
     */
    public static Tensor upsampleNearest2x(Tensor x) {
        long[] xs = x.shape();
        if (xs.length != 4 && xs.length != 5)
            throw new IllegalArgumentException("upsampleNearest2x: expected (N, C, H, W) or (N, C, F, H, W), got " + Arrays.toString(xs));
        long h = xs[xs.length - 2], w = xs[xs.length - 1], lead = x.numel() / (h * w);
        INDArray in = contiguous(x.data());
        INDArray big = Nd4j.createUninitialized(in.dataType(), lead, h, 2, w, 2);   // (lead, h, 2, w, 2)
        Nd4j.exec(new BroadcastTo(in.reshape('c', lead, h, 1, w, 1), big.shape(), big));
        if (in != x.data()) in.close();
        long[] ys = xs.clone();
        ys[ys.length - 2] = 2 * h;
        ys[ys.length - 1] = 2 * w;
        return Ops.record("upsampleNearest2x", big.reshape('c', ys),
                g -> new INDArray[]{g.reshape('c', lead, h, 2, w, 2).sum(false, 2, 4).reshape('c', xs)}, x);
    }

    /**
     * {@code F.interpolate(x, size=(outH, outW), mode="nearest")} for x (N, C, H, W): source index
     * {@code min(⌊dst·(in/out)⌋, in − 1)} with the scale in float, as torch computes it.
     */
    public static Tensor interpolateNearest(Tensor x, int outH, int outW) {
        checkResize("interpolateNearest", x, outH, outW);
        long[] xs = x.shape();
        DataType t = x.dtype();
        return separableResize("interpolateNearest", x, nearestMatrix((int) xs[2], outH, t), nearestMatrix((int) xs[3], outW, t));
    }

    /**
     * {@code F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=alignCorners)} (antialias off) for
     * x (N, C, H, W). Computed as y = A_h · x · A_wᵀ per channel with the interpolation weight matrices, whose
     * entries follow torch's index rule (source clamped at 0, upper neighbour clamped at the border); weights are
     * computed in float for float inputs and in double for double inputs, as torch's opmath does.
     */
    public static Tensor resizeBilinear(Tensor x, int outH, int outW, boolean alignCorners) {
        checkResize("resizeBilinear", x, outH, outW);
        long[] xs = x.shape();
        DataType t = x.dtype();
        return separableResize("resizeBilinear", x, bilinearMatrix((int) xs[2], outH, alignCorners, t),
                bilinearMatrix((int) xs[3], outW, alignCorners, t));
    }

    /**
     * Constant-zero padding in {@code F.pad} order: {@code padding} holds (before, after) pairs starting from the
     * last dim, e.g. {left, right, top, bottom}. Pads may be asymmetric; they must be non-negative.
     */
    public static Tensor pad(Tensor x, long... padding) {
        long[] xs = x.shape();
        if (padding.length % 2 != 0 || padding.length > 2 * xs.length)
            throw new IllegalArgumentException("pad: " + Arrays.toString(padding) + " must hold (before, after) pairs for at most "
                    + xs.length + " dims of " + Arrays.toString(xs));
        long[] ys = xs.clone();
        INDArrayIndex[] idx = new INDArrayIndex[xs.length];
        Arrays.fill(idx, NDArrayIndex.all());
        for (int p = 0; p < padding.length / 2; p++) {
            int d = xs.length - 1 - p;
            long before = padding[2 * p], after = padding[2 * p + 1];
            if (before < 0 || after < 0)
                throw new IllegalArgumentException("pad: negative padding " + Arrays.toString(padding) + " for " + Arrays.toString(xs));
            ys[d] = xs[d] + before + after;
            idx[d] = NDArrayIndex.interval(before, before + xs[d]);
        }
        INDArray out = Nd4j.zeros(x.dtype(), ys);
        out.get(idx).assign(x.data());
        return Ops.record("pad", out, g -> new INDArray[]{g.get(idx)}, x);
    }

    // ------------------------------------------------------------------ normalisation

    /**
     * {@code F.group_norm}: x (N, C, *) of rank ≥ 3, statistics per (sample, group) over C/G channels and every
     * remaining dim (for a 5-D video (N, C, F, H, W) that is C/G × F × H × W, shared by all frames, as LaVie's
     * ResnetBlock3D); biased variance; y = (x − μ)/√(σ² + eps)·γ + β with per-channel γ, β (each may be null).
     */
    public static Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        if (xs.length < 3) throw new IllegalArgumentException("groupNorm: input " + Arrays.toString(xs) + " must be (N, C, *) of rank >= 3");
        long n = xs[0], c = xs[1], s = x.numel() / (n * c);
        checkGroups("groupNorm", xs, groups, weight, bias);
        checkDtypes("groupNorm", x, weight, bias);
        // (n, g, c/g·s): one row of statistics per (sample, group)
        return normalize("groupNorm", x, new long[]{n, groups, c / groups * s}, new int[]{2}, n, c, s, weight, bias, eps);
    }

    /**
     * GroupNorm applied to every frame of a video independently (LaVie's Transformer3DModel entrance): equal to
     * folding (N, C, F, H, W) -> (N·F, C, H, W), {@link #groupNorm}, and unfolding, but computed in place on the 5-D
     * layout (statistics per (sample, group, frame) over C/G × H × W) without the two transposing copies.
     */
    public static Tensor groupNormPerFrame(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        if (xs.length != 5) throw new IllegalArgumentException("groupNormPerFrame: input " + Arrays.toString(xs) + " must be (N, C, F, H, W)");
        checkGroups("groupNormPerFrame", xs, groups, weight, bias);
        checkDtypes("groupNormPerFrame", x, weight, bias);
        long n = xs[0], c = xs[1], f = xs[2], hw = xs[3] * xs[4];
        // (n, g, c/g, f, h*w): statistics over dims 2 and 4
        return normalize("groupNormPerFrame", x, new long[]{n, groups, c / groups, f, hw}, new int[]{2, 4}, n, c, f * hw, weight, bias, eps);
    }

    /**
     * {@code F.layer_norm} over the last dim: y = (x − μ)/√(σ² + eps)·γ + β, biased variance, γ and β of the last
     * dim's size (each may be null).
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        long d = xs[xs.length - 1];
        for (Tensor p : new Tensor[]{weight, bias})
            if (p != null && (p.rank() != 1 || p.size(0) != d))
                throw new IllegalArgumentException("layerNorm: affine parameter " + Arrays.toString(p.shape()) + " for input " + Arrays.toString(xs));
        checkDtypes("layerNorm", x, weight, bias);
        long rows = x.numel() / d;
        // statistics per row of (rows, d); the affine part sees the same rows as (1·rows, d, 1)-free layout (rows, d)
        return normalize("layerNorm", x, new long[]{rows, d}, new int[]{1}, -1, d, 1, weight, bias, eps);
    }

    /**
     * Shared normalisation: views x as {@code statShape}, standardises over {@code statDims} with eps, then applies the
     * per-channel affine in the layout (n, c, s) ({@code n == -1}: layer norm, layout (rows, c)).
     */
    private static Tensor normalize(String op, Tensor x, long[] statShape, int[] statDims, long n, long c, long s,
                                    Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        long m = 1;
        for (int d : statDims) m *= statShape[d];
        double invM = 1.0 / m;
        INDArray in = contiguous(x.data());
        INDArray xr = in.reshape('c', statShape);
        INDArray mean = xr.mean(true, statDims);
        INDArray xhat = xr.sub(mean);                                                   // centred; becomes x̂ below
        if (in != x.data()) in.close();
        INDArray rstd = xhat.norm2(true, statDims);                                     // √(Σ(x−μ)²)
        rstd.muli(rstd).muli(invM).addi(eps);                                           // σ² + eps
        Transforms.sqrt(rstd, false).rdivi(1.0);                                         // 1/√(σ² + eps)
        xhat.muli(rstd);
        mean.close();
        long[] affine = n < 0 ? new long[]{x.numel() / c, c} : new long[]{n, c, s};
        long[] param = n < 0 ? new long[]{1, c} : new long[]{1, c, 1};
        INDArray xa = xhat.reshape('c', affine);
        INDArray gamma = weight == null ? null : weight.data().reshape('c', param);
        INDArray beta = bias == null ? null : bias.data().reshape('c', param);
        boolean recording = Grad.isRecording() && (x.requiresGrad() || (weight != null && weight.requiresGrad())
                || (bias != null && bias.requiresGrad()));
        INDArray y;
        if (gamma == null && beta == null) y = xa;
        else {
            // in place when x̂ need not survive for a backward pass
            y = recording ? (gamma != null ? xa.mul(gamma) : xa.add(beta)) : (gamma != null ? xa.muli(gamma) : xa.addi(beta));
            if (gamma != null && beta != null) y.addi(beta);
        }
        INDArray out = y.reshape('c', xs);
        int[] paramSumDims = n < 0 ? new int[]{0} : new int[]{0, 2};
        Tensor result = Ops.record(op, out, g -> {
            INDArray ga = g.reshape('c', affine);
            INDArray gw = null, gb = null;
            if (bias != null && bias.requiresGrad()) gb = ga.sum(false, paramSumDims);
            INDArray gxa = ga.mul(xa);                                                  // g·x̂
            if (weight != null && weight.requiresGrad()) gw = gxa.sum(false, paramSumDims);
            INDArray gx = null;
            if (x.requiresGrad()) {
                // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = g·γ, means over the statistics dims
                if (gamma != null) gxa.muli(gamma);
                INDArray b = gxa.reshape('c', statShape).mean(true, statDims);
                INDArray gh = gamma != null ? ga.mul(gamma) : ga.dup('c');
                INDArray ghr = gh.reshape('c', statShape);
                INDArray a = ghr.mean(true, statDims);
                gxa.assign(xa).reshape('c', statShape).muli(b);                         // reuse buffer: x̂·mean(ĝ·x̂)
                ghr.subi(a).subi(gxa.reshape('c', statShape)).muli(rstd);
                gx = ghr.reshape('c', xs);
                a.close();
                b.close();
            }
            gxa.close();
            return new INDArray[]{gx, gw, gb};
        }, x, weight, bias);
        if (result.isLeaf()) rstd.close();
        return result;
    }

    // ------------------------------------------------------------------ helpers

    private static void checkGroups(String op, long[] xs, int groups, Tensor weight, Tensor bias) {
        long c = xs[1];
        if (groups < 1 || c % groups != 0)
            throw new IllegalArgumentException(op + ": " + c + " channels of input " + Arrays.toString(xs) + " not divisible into " + groups + " groups");
        for (Tensor p : new Tensor[]{weight, bias})
            if (p != null && (p.rank() != 1 || p.size(0) != c))
                throw new IllegalArgumentException(op + ": affine parameter " + Arrays.toString(p.shape()) + " for input " + Arrays.toString(xs));
    }

    private static void checkDtypes(String op, Tensor x, Tensor... others) {
        for (Tensor t : others)
            if (t != null && t.dtype() != x.dtype())
                throw new IllegalArgumentException(op + ": dtypes differ (input " + x.dtype() + " " + Arrays.toString(x.shape())
                        + " vs " + t.dtype() + " " + Arrays.toString(t.shape()) + ")");
    }

    private static void checkResize(String op, Tensor x, int outH, int outW) {
        if (x.rank() != 4) throw new IllegalArgumentException(op + ": expected (N, C, H, W), got " + Arrays.toString(x.shape()));
        if (outH < 1 || outW < 1) throw new IllegalArgumentException(op + ": output size (" + outH + ", " + outW + ") for input " + Arrays.toString(x.shape()));
    }

    /** y[n, c] = ah · x[n, c] · awᵀ with ah (outH, H), aw (outW, W); backward uses the transposed matrices. */
    private static Tensor separableResize(String op, Tensor x, INDArray ah, INDArray aw) {
        INDArray y = separable(x.data(), ah, aw);
        INDArray ahT = ah.transpose().dup('c'), awT = aw.transpose().dup('c');
        return Ops.record(op, y, g -> new INDArray[]{separable(g, ahT, awT)}, x);
    }

    private static INDArray separable(INDArray x4, INDArray ah, INDArray aw) {
        long n = x4.size(0), c = x4.size(1), h = x4.size(2), w = x4.size(3), oH = ah.size(0), oW = aw.size(0);
        long b = n * c;
        INDArray in = contiguous(x4);
        INDArray t = Nd4j.matmul(in.reshape('c', b * h, w), aw, false, true, false);   // (b*h, oW)
        if (in != x4) in.close();
        INDArray ahb = Nd4j.createUninitialized(ah.dataType(), b, oH, h);
        Nd4j.exec(new BroadcastTo(ah.reshape('c', 1, oH, h), ahb.shape(), ahb));      // matmul does not broadcast batch dims
        INDArray y = Nd4j.matmul(ahb, t.reshape('c', b, h, oW));                        // (b, oH, oW)
        ahb.close();
        t.close();
        return y.reshape('c', n, c, oH, oW);
    }

    private static INDArray nearestMatrix(int in, int out, DataType type) {
        double[][] m = new double[out][in];
        float scale = (float) in / out;
        for (int dst = 0; dst < out; dst++) m[dst][nearestIndex(dst, in, out, scale)] = 1.0;
        return Nd4j.create(m).castTo(type);
    }

    /** torch's nearest_idx (aten/src/ATen/native/UpSample.h). */
    static int nearestIndex(int dst, int in, int out, float scale) {
        if (out == in) return dst;
        if (out == 2 * in) return dst >> 1;
        return Math.min((int) Math.floor(dst * scale), in - 1);
    }

    private static INDArray bilinearMatrix(int in, int out, boolean alignCorners, DataType type) {
        double[][] m = new double[out][in];
        for (int dst = 0; dst < out; dst++) {
            double[] l = new double[2];
            int i0 = bilinearSource(dst, in, out, alignCorners, type == DataType.DOUBLE, l);
            int i1 = i0 < in - 1 ? i0 + 1 : i0;
            m[dst][i0] += l[0];
            m[dst][i1] += l[1];
        }
        return Nd4j.create(m).castTo(type);
    }

    /**
     * torch's linear source index and weights (area_pixel_compute_source_index, compute_indices_weights_linear):
     * returns the lower index and writes (λ0, λ1) into {@code lambdas}; arithmetic in float unless {@code dbl}.
     */
    static int bilinearSource(int dst, int in, int out, boolean alignCorners, boolean dbl, double[] lambdas) {
        double src;
        if (dbl) {
            double scale = alignCorners ? (out > 1 ? (double) (in - 1) / (out - 1) : 0.0) : (double) in / out;
            src = alignCorners ? scale * dst : Math.max(scale * (dst + 0.5) - 0.5, 0.0);
        } else {
            float scale = alignCorners ? (out > 1 ? (float) (in - 1) / (out - 1) : 0f) : (float) in / out;
            float s = alignCorners ? scale * dst : scale * (dst + 0.5f) - 0.5f;
            src = Math.max(s, 0f);
        }
        int i0 = Math.min((int) src, in - 1);
        double l1 = Math.min(Math.max(src - i0, 0.0), 1.0);
        if (!dbl) l1 = (float) l1;
        lambdas[0] = dbl ? 1.0 - l1 : (float) (1.0f - (float) l1);
        lambdas[1] = l1;
        return i0;
    }

    /** The array itself when it is row-major with default strides, else a row-major copy. */
    static INDArray contiguous(INDArray a) {
        return a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) ? a : a.dup('c');
    }

    private static INDArray keepIf(Tensor t, INDArray grad) {
        if (t != null && t.requiresGrad()) return grad;
        grad.close();
        return null;
    }

    private static void closeCopies(Tensor x, INDArray in, Tensor w, INDArray wc, Tensor b, INDArray bc) {
        if (in != x.data()) in.close();
        if (wc != w.data()) wc.close();
        if (b != null && bc != b.data()) bc.close();
    }

    private static void exec(String name, INDArray[] inputs, INDArray[] outputs, int[] iArgs) {
        DynamicCustomOp op = DynamicCustomOp.builder(name).addInputs(inputs).addOutputs(outputs).addIntegerArguments(iArgs).build();
        Nd4j.exec(op);
    }
}
