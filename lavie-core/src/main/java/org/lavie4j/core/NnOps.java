package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
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
     * A 2-D convolution of every frame of a video, for inference: x (B, C, F, H, W) -> (B·F, C', H', W'), the result of
     * {@code conv2d(Rearrange.framesToBatch(x), ...)}, bit for bit (NnOpsTest). When nothing records and x is float32,
     * row-major with default strides, its frames are not first copied into a (B·F, C, H, W) batch (a full read and write
     * of x: 7% of a 3×3 convolution at 320 channels and 40×64): each batch entry's frames go to ND4J's conv2d as a
     * strided (F, C, H, W) view (its oneDNN path reorders its input itself) and the result is written straight into
     * that entry's part of the output. Anything else takes the fold-and-convolve twin.
     */
    public static Tensor conv2dFrames(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        long[] xs = x.shape();
        if (xs.length != 5) throw new IllegalArgumentException("conv2dFrames: expected a video (B, C, F, H, W), got " + Arrays.toString(xs));
        INDArray in = x.data();
        boolean direct = !recording(x, weight, bias) && in.dataType() == DataType.FLOAT && weight.dtype() == DataType.FLOAT
                && (bias == null || bias.dtype() == DataType.FLOAT) && in.ordering() == 'c' && Shape.hasDefaultStridesForShape(in)
                && xs[2] > 1;
        if (!direct) {
            Tensor folded = Rearrange.framesToBatch(x);
            Tensor y = conv2d(folded, weight, bias, stride, padding);
            if (!folded.sharesMemoryWith(x)) folded.release();
            return y;
        }
        long[] ws = weight.shape();
        long b = xs[0], f = xs[2];
        long[] os = conv2dShape(new long[]{b * f, xs[1], xs[3], xs[4]}, "video " + Arrays.toString(xs) + " (B, C, F, H, W)", ws, bias,
                stride, stride, padding, padding);
        long oH = os[2], oW = os[3];
        if (winogradApplies(x, weight, bias, ws, stride, stride, padding, padding))
            return Ops.record("conv2d", winograd(WinogradConv.Input.video(in), weight, bias, new long[]{b * f, ws[0], oH, oW}, 1), g -> null, x, weight, bias);
        INDArray w = contiguous(weight.data()), bi = bias == null ? null : contiguous(bias.data());
        int[] iArgs = {(int) ws[2], (int) ws[3], stride, stride, padding, padding, 1, 1, 0, 0, 1};
        INDArray out = Memory.uninitialized(DataType.FLOAT, b * f, ws[0], oH, oW);
        for (long i = 0; i < b; i++) {
            // entry i's frames as (F, C, H, W): strides (H·W, F·H·W, W, 1), no copy
            INDArray frames = Views.interval(in, 0, i, i + 1).reshape('c', xs[1], f, xs[3], xs[4]).permute(1, 0, 2, 3);
            INDArray target = Views.interval(out, 0, i * f, (i + 1) * f);
            exec("conv2d", bi == null ? new INDArray[]{frames, w} : new INDArray[]{frames, w, bi}, new INDArray[]{target}, iArgs);
        }
        if (w != weight.data()) Memory.free(w);
        if (bias != null && bi != bias.data()) Memory.free(bi);
        return Ops.record("conv2d", out, g -> null, x, weight, bias);
    }

    /**
     * A 2-D convolution of every frame of a video, for inference: x (B, C, F, H, W) -> (B, C', F, H', W'), the values of
     * {@code Rearrange.batchToFrames(conv2dFrames(x, ...), F)}. Where the Winograd kernel takes the convolution
     * ({@link #winogradKernel()}), its output transform writes the result c-contiguous in the video layout, so the
     * layers after it (GroupNorm, residual adds) read it as one run of floats; otherwise the result is
     * {@link #conv2dFrames}'s (B·F, C', H', W') seen as a video (a permuted view).
     */
    public static Tensor conv2dVideo(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        INDArray out = winogradVideo(x, weight, bias, stride, padding, null);
        if (out != null) return Ops.record("conv2d", out, g -> null, x, weight, bias);
        return Rearrange.batchToFrames(conv2dFrames(x, weight, bias, stride, padding), x.size(2));
    }

    /**
     * {@code add(conv2dVideo(x, weight, bias, stride, padding), addend)}: a resnet's convolution and what follows it, the
     * time embedding (addend (B, O, 1, 1, 1), broadcast over frames and pixels) or the shortcut (addend shaped as the
     * output). Where the Winograd kernel runs and nothing records, the addend joins each output value as the kernel writes
     * it, {@code (conv + bias) + addend}: the composed ops' floats without another pass over the output; otherwise the
     * composed ops ({@link Ops#addInto} into the convolution's result).
     */
    public static Tensor conv2dVideoAdd(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor addend) {
        INDArray out = recording(addend, null, null) ? null : winogradVideo(x, weight, bias, stride, padding, addend);
        if (out != null) return Ops.record("conv2d", out, g -> null, x, weight, bias, addend);
        Tensor y = conv2dVideo(x, weight, bias, stride, padding);
        Tensor sum = Ops.addInto(y, addend);
        if (sum != y) y.release();
        return sum;
    }

    /**
     * The Winograd kernel's (B, O, F, H, W) result for a video, plus the addend (null; (B, O, 1, 1, 1), one term per
     * plane; or a dense float32 array shaped as the output) as each value is written; null where the kernel does not
     * apply (see {@link #winogradApplies}; the input must be float32 c-contiguous) or the addend has another shape.
     */
    private static INDArray winogradVideo(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor addend) {
        long[] xs = x.shape();
        if (xs.length != 5) throw new IllegalArgumentException("conv2dVideo: expected a video (B, C, F, H, W), got " + Arrays.toString(xs));
        INDArray in = x.data();
        long[] ws = weight.shape();
        if (in.dataType() != DataType.FLOAT || in.ordering() != 'c' || !Shape.hasDefaultStridesForShape(in) || ws.length != 4
                || !winogradApplies(x, weight, bias, ws, stride, stride, padding, padding))
            return null;
        long b = xs[0], f = xs[2];
        long[] os = conv2dShape(new long[]{b * f, xs[1], xs[3], xs[4]}, "video " + Arrays.toString(xs) + " (B, C, F, H, W)", ws, bias,
                stride, stride, padding, padding);
        long[] shape = {b, ws[0], f, os[2], os[3]};
        if (addend == null) return winograd(WinogradConv.Input.video(in), weight, bias, shape, f, null, null);
        INDArray r = addend.data();
        if (Arrays.equals(addend.shape(), new long[]{b, ws[0], 1, 1, 1}) && addend.dtype() == DataType.FLOAT)
            return winograd(WinogradConv.Input.video(in), weight, bias, shape, f, r.dup('c').data().asFloat(), null);
        if (Arrays.equals(addend.shape(), shape) && Kernels.denseFloat(r))
            return winograd(WinogradConv.Input.video(in), weight, bias, shape, f, null, r);
        return null;
    }

    /**
     * 2-D cross-correlation with zero padding, groups 1, dilation 1: x (N, C, H, W), weight (O, C, kH, kW),
     * bias (O) or null -> (N, O, (H + 2pH − kH)/sH + 1, (W + 2pW − kW)/sW + 1).
     */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int strideH, int strideW, int padH, int padW) {
        long[] xs = x.shape(), ws = weight.shape();
        long[] os = conv2dShape(xs, Arrays.toString(xs) + " (N, C, H, W)", ws, bias, strideH, strideW, padH, padW);
        checkDtypes("conv2d", x, weight, bias);
        long oH = os[2], oW = os[3];
        if (winogradApplies(x, weight, bias, ws, strideH, strideW, padH, padW)) {
            INDArray in = contiguous(x.data());
            INDArray out = winograd(WinogradConv.Input.batch(in), weight, bias, new long[]{xs[0], ws[0], os[2], os[3]}, 1);
            if (in != x.data()) Memory.free(in);
            return Ops.record("conv2d", out, g -> null, x, weight, bias);
        }
        INDArray in = contiguous(x.data()), w = contiguous(weight.data()), b = bias == null ? null : contiguous(bias.data());
        // iArgs: kH, kW, sH, sW, pH, pW, dH, dW, paddingMode 0 (explicit), dataFormat 0 (NCHW), wFormat 1 ([O, C, kH, kW])
        int[] iArgs = {(int) ws[2], (int) ws[3], strideH, strideW, padH, padW, 1, 1, 0, 0, 1};
        INDArray out = Memory.uninitialized(x.dtype(), xs[0], ws[0], oH, oW);
        exec("conv2d", b == null ? new INDArray[]{in, w} : new INDArray[]{in, w, b}, new INDArray[]{out}, iArgs);
        Tensor result = Ops.record("conv2d", out, g -> {
            INDArray go = contiguous(g);
            INDArray gx = Memory.uninitialized(in.dataType(), xs), gw = Memory.uninitialized(w.dataType(), ws);
            if (b == null) {
                exec("conv2d_bp", new INDArray[]{in, w, go}, new INDArray[]{gx, gw}, iArgs);
            } else {
                INDArray gb = Memory.uninitialized(b.dataType(), b.shape());
                exec("conv2d_bp", new INDArray[]{in, w, b, go}, new INDArray[]{gx, gw, gb}, iArgs);
                if (go != g) Memory.free(go);
                return new INDArray[]{keepIf(x, gx), keepIf(weight, gw), keepIf(bias, gb)};
            }
            if (go != g) Memory.free(go);
            return new INDArray[]{keepIf(x, gx), keepIf(weight, gw), null};
        }, x, weight, bias);
        if (result.isLeaf()) closeCopies(x, in, weight, w, bias, b);
        return result;
    }

    // ------------------------------------------------------------------ Winograd

    /** Fewest input and output channels for the Winograd kernel: its matrix products are too thin below that. */
    static final long WINOGRAD_MIN_CHANNELS = 32;

    private static volatile boolean winograd = Kernels.VECTOR_API && !"nd4j".equals(System.getProperty("lavie.conv.kernel"));

    /**
     * Whether inference 3×3 convolutions with stride 1 and padding 1 run on the Winograd kernel ({@code WinogradConv}:
     * F(4×4, 3×3), 4x fewer multiply-adds, on images at least 29 pixels wide, F(2×2, 3×3), 2.25x fewer, on smaller
     * ones; {@code -Dlavie.conv.winogradTile=2} keeps F(2×2, 3×3), the more accurate, everywhere): true when the
     * JVM has the Vector API module ({@code --add-modules jdk.incubator.vector}; the launcher adds it) and the system
     * property {@code lavie.conv.kernel} is not {@code nd4j}. It applies to float32 convolutions of at least
     * {@value #WINOGRAD_MIN_CHANNELS} input and output channels outside any gradient recording scope
     * ({@link Grad#inTraining()}); all others run ND4J's convolution.
     */
    public static boolean winogradKernel() { return winograd; }

    /** Turns the Winograd kernel on or off (for tests and benchmarks; on needs the module); returns the previous setting. */
    static boolean winogradKernel(boolean on) {
        if (on && !Kernels.VECTOR_API) throw new IllegalStateException("the Winograd kernel needs --add-modules jdk.incubator.vector");
        boolean was = winograd;
        winograd = on;
        return was;
    }

    private static boolean winogradApplies(Tensor x, Tensor weight, Tensor bias, long[] ws, int strideH, int strideW, int padH, int padW) {
        // only outside any recording scope: a checkpointed segment's first forward must give its recomputation's bits
        return winograd && ws[2] == 3 && ws[3] == 3 && strideH == 1 && strideW == 1 && padH == 1 && padW == 1
                && ws[0] >= WINOGRAD_MIN_CHANNELS && ws[1] >= WINOGRAD_MIN_CHANNELS && WinogradConv.fits(ws[1], ws[0])
                && x.dtype() == DataType.FLOAT && weight.dtype() == DataType.FLOAT && (bias == null || bias.dtype() == DataType.FLOAT)
                && !recording(x, weight, bias) && !Grad.inTraining();
    }

    /**
     * conv2d(input, weight, bias, 1, 1) on the Winograd kernel into a fresh c-order array of {@code shape}: (N, O, H, W)
     * with {@code frames} 1, or a video (B, O, F, H, W) with F = frames (the input's B·F images, entry outer).
     */
    private static INDArray winograd(WinogradConv.Input input, Tensor weight, Tensor bias, long[] shape, long frames) {
        return winograd(input, weight, bias, shape, frames, null, null);
    }

    /** {@link #winograd(WinogradConv.Input, Tensor, Tensor, long[], long)} plus per-plane terms and a residual (or null). */
    private static INDArray winograd(WinogradConv.Input input, Tensor weight, Tensor bias, long[] shape, long frames, float[] planeTerms, INDArray residual) {
        INDArray wc = contiguous(weight.data()), b = bias == null ? null : contiguous(bias.data());
        INDArray out = Memory.uninitialized(DataType.FLOAT, shape);
        try {
            WinogradConv.Tile tile = WinogradConv.Tile.choose(input.height(), input.width());
            WinogradConv.forward(input, wc, b, planeTerms, residual, out, frames, Kernels.threads(),
                    WinogradConv.chunkBytes(tile, input.channels(), wc.size(0)), tile);
        } finally {
            if (wc != weight.data()) Memory.free(wc);
            if (bias != null && b != bias.data()) Memory.free(b);
        }
        return out;
    }

    /**
     * The output shape of a 2-D convolution of an (N, C, H, W) input by an (O, C, kH, kW) weight, after checking the
     * shapes, the bias, the strides and the padding; errors name them, the input as {@code input} describes it.
     */
    private static long[] conv2dShape(long[] xs, String input, long[] ws, Tensor bias, int strideH, int strideW, int padH, int padW) {
        if (xs.length != 4 || ws.length != 4 || ws[1] != xs[1])
            throw new IllegalArgumentException("conv2d: input " + input + " does not fit weight "
                    + Arrays.toString(ws) + " (O, C, kH, kW)");
        if (bias != null && (bias.rank() != 1 || bias.size(0) != ws[0]))
            throw new IllegalArgumentException("conv2d: bias " + Arrays.toString(bias.shape()) + " for weight " + Arrays.toString(ws));
        if (strideH < 1 || strideW < 1 || padH < 0 || padW < 0)
            throw new IllegalArgumentException("conv2d: stride (" + strideH + ", " + strideW + ") must be >= 1 and padding ("
                    + padH + ", " + padW + ") >= 0");
        if (xs[2] + 2L * padH < ws[2] || xs[3] + 2L * padW < ws[3])
            throw new IllegalArgumentException("conv2d: kernel " + Arrays.toString(ws) + " larger than padded input " + input
                    + " with padding (" + padH + ", " + padW + ")");
        return new long[]{xs[0], ws[0], (xs[2] + 2L * padH - ws[2]) / strideH + 1, (xs[3] + 2L * padW - ws[3]) / strideW + 1};
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
        INDArray big = Memory.uninitialized(in.dataType(), lead, 1, 2 * h, 2 * w);
        exec("upsampling2d", new INDArray[]{in.reshape('c', lead, 1, h, w)}, new INDArray[]{big}, new int[]{2, 2, 1}); // 1: NCHW
        if (in != x.data()) Memory.free(in);
        long[] ys = xs.clone();
        ys[ys.length - 2] = 2 * h;
        ys[ys.length - 1] = 2 * w;
        return Ops.record("upsampleNearest2x", big.reshape('c', ys),
                g -> new INDArray[]{g.reshape('c', lead, h, 2, w, 2).sum(false, 2, 4).reshape('c', xs)}, x);   // sum each 2×2 block
    }

    /**
     * {@code F.interpolate(x, size=(outH, outW), mode="nearest")} for x (N, C, H, W), and {@code size=(F, outH, outW)}
     * for (N, C, F, H, W) (frames untouched): source index {@code min(⌊dst·(in/out)⌋, in − 1)} with the scale in
     * float, as torch's nearest_idx computes it.
     */
    public static Tensor interpolateNearest(Tensor x, int outH, int outW) {
        checkResize("interpolateNearest", x, outH, outW, 5);
        long[] xs = x.shape();
        DataType t = x.dtype();
        int r = xs.length;
        return separableResize("interpolateNearest", x, nearestMatrix((int) xs[r - 2], outH, t), nearestMatrix((int) xs[r - 1], outW, t));
    }

    /**
     * {@code F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=alignCorners)} (antialias off) for
     * x (N, C, H, W). Computed as y = A_h · x · A_wᵀ per channel with the interpolation weight matrices, whose
     * entries follow torch's index rule (source clamped at 0, upper neighbour clamped at the border); weights are
     * computed in float for float inputs and in double for double inputs, as torch's opmath does.
     */
    public static Tensor resizeBilinear(Tensor x, int outH, int outW, boolean alignCorners) {
        checkResize("resizeBilinear", x, outH, outW, 4);
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
        checkGroups("groupNorm", xs, groups, weight, bias);
        checkDtypes("groupNorm", x, weight, bias);
        // rows (n, g, c/g), each of length prod(*); a group is c/g consecutive rows
        return groupRows("groupNorm", x, new long[]{xs[0], groups, xs[1] / groups}, new int[]{0}, weight, bias, eps);
    }

    /**
     * GroupNorm applied to every frame of a video independently (LaVie's Transformer3DModel entrance): equal to
     * folding (N, C, F, H, W) -> (N·F, C, H, W), {@link #groupNorm}, and unfolding, but computed on the 5-D layout
     * (statistics per (sample, group, frame) over C/G × H × W) without the two transposing copies.
     */
    public static Tensor groupNormPerFrame(Tensor x, int groups, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        if (xs.length != 5) throw new IllegalArgumentException("groupNormPerFrame: input " + Arrays.toString(xs) + " must be (N, C, F, H, W)");
        checkGroups("groupNormPerFrame", xs, groups, weight, bias);
        checkDtypes("groupNormPerFrame", x, weight, bias);
        // rows (n, g, c/g, f), each of length h·w; a group gathers the c/g rows of one (n, g, f)
        return groupRows("groupNormPerFrame", x, new long[]{xs[0], groups, xs[1] / groups, xs[2]}, new int[]{0, 3}, weight, bias, eps);
    }

    /**
     * Group normalisation over rows: x viewed as (R, L) with R = prod(rowShape), rowShape = (n, g, c/g, [f]); the
     * statistics of a group sum over rowShape's dim 2 (channels of the group) and the row length; γ and β are indexed
     * by (g, c/g); {@code otherDims} are the rowShape dims that are neither (used to sum parameter gradients).
     * Everything large is done with per-row (column-vector) broadcasts, which ND4J runs fast; the small per-row
     * vectors (length R) carry the group statistics and parameters.
     */
    private static Tensor groupRows(String op, Tensor x, long[] rowShape, int[] otherDims, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        long rows = Arrays.stream(rowShape).reduce(1, (p, q) -> p * q), len = x.numel() / rows;
        double invM = 1.0 / (rowShape[2] * len);                                         // 1 / elements per group
        long[] paramShape = new long[rowShape.length];
        Arrays.fill(paramShape, 1);
        paramShape[1] = rowShape[1];
        paramShape[2] = rowShape[2];
        INDArray src = x.data(), in = contiguous(src);
        boolean copied = in != src;
        INDArray x2 = in.reshape('c', rows, len);                                         // (R, L)
        INDArray mean = perRow(groupSum(x2.sum(true, 1), rowShape).muli(invM), rowShape);
        INDArray xhat = copied ? x2.subiColumnVector(mean) : x2.subColumnVector(mean);  // centred; x̂ below
        Memory.free(mean);
        INDArray sq = xhat.norm2(true, 1);
        sq.muli(sq);                                                                      // Σ(x − μ)² per row
        INDArray rstd = perRow(rsqrt(groupSum(sq, rowShape).muli(invM).addi(eps)), rowShape);
        Memory.free(sq);
        xhat.muliColumnVector(rstd);
        INDArray gammaRow = weight == null ? null : perRow(weight.data().reshape('c', paramShape), rowShape);
        INDArray betaRow = bias == null ? null : perRow(bias.data().reshape('c', paramShape), rowShape);
        INDArray y = affine(xhat, gammaRow, betaRow, recording(x, weight, bias), true);
        Tensor result = Ops.record(op, y.reshape('c', xs), g -> {
            INDArray gc = contiguous(g);
            INDArray g2 = gc.reshape('c', rows, len);
            INDArray gs = g2.sum(true, 1);                                                // Σ g per row
            INDArray tmp = g2.mul(xhat);
            INDArray gxs = tmp.sum(true, 1);                                              // Σ g·x̂ per row
            INDArray gb = bias != null && bias.requiresGrad() ? paramSum(gs, rowShape, otherDims) : null;
            INDArray gw = weight != null && weight.requiresGrad() ? paramSum(gxs, rowShape, otherDims) : null;
            INDArray gx = null;
            if (x.requiresGrad()) {
                // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = γ·g, means over the group
                if (gammaRow != null) {
                    gs.muli(gammaRow);
                    gxs.muli(gammaRow);
                }
                INDArray a = perRow(groupSum(gs, rowShape).muli(invM), rowShape).muli(rstd).negi();   // −rstd·mean(ĝ)
                INDArray b = perRow(groupSum(gxs, rowShape).muli(invM), rowShape).muli(rstd).negi();  // −rstd·mean(ĝ·x̂)
                INDArray scale = gammaRow == null ? rstd : rstd.mul(gammaRow);
                // (ND4J's BroadcastMulOp into a separate output takes a slow generic path: assign, then multiply in place)
                tmp.assign(xhat).muliColumnVector(b).addiColumnVector(a);
                gx = g2.mulColumnVector(scale).addi(tmp).reshape('c', xs);
            }
            Memory.free(tmp);
            if (gc != g) Memory.free(gc);
            freeSaved(xhat, y, rstd);          // the tape calls backward once: the saved statistics die here
            return new INDArray[]{gx, gw, gb};
        }, x, weight, bias);
        if (result.isLeaf()) Memory.free(rstd);
        return result;
    }

    /**
     * {@code F.layer_norm} over the last dim: y = (x − μ)/√(σ² + eps)·γ + β, biased variance, γ and β of the last
     * dim's size (each may be null).
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        long[] xs = x.shape();
        long d = xs[xs.length - 1], rows = x.numel() / d;
        for (Tensor p : new Tensor[]{weight, bias})
            if (p != null && (p.rank() != 1 || p.size(0) != d))
                throw new IllegalArgumentException("layerNorm: affine parameter " + Arrays.toString(p.shape()) + " for input " + Arrays.toString(xs));
        checkDtypes("layerNorm", x, weight, bias);
        INDArray src = x.data(), in = contiguous(src);
        boolean copied = in != src;
        INDArray x2 = in.reshape('c', rows, d);                                           // (rows, d)
        INDArray mean = x2.mean(true, 1);
        INDArray xhat = copied ? x2.subiColumnVector(mean) : x2.subColumnVector(mean);
        Memory.free(mean);
        INDArray rstd = xhat.norm2(true, 1);
        rsqrt(rstd.muli(rstd).muli(1.0 / d).addi(eps));
        xhat.muliColumnVector(rstd);
        INDArray gamma = weight == null ? null : weight.data().reshape('c', 1, d);
        INDArray beta = bias == null ? null : bias.data().reshape('c', 1, d);
        INDArray y = affine(xhat, gamma, beta, recording(x, weight, bias), false);
        Tensor result = Ops.record("layerNorm", y.reshape('c', xs), g -> {
            INDArray gc = contiguous(g);
            INDArray g2 = gc.reshape('c', rows, d);
            INDArray tmp = g2.mul(xhat);                                                  // g·x̂
            INDArray gb = bias != null && bias.requiresGrad() ? g2.sum(false, 0) : null;
            INDArray gw = weight != null && weight.requiresGrad() ? tmp.sum(false, 0) : null;
            INDArray gx = null;
            if (x.requiresGrad()) {
                // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = γ·g, means over the row
                INDArray gh = gamma == null ? g2.dup('c') : g2.mulRowVector(gamma);
                if (gamma != null) tmp.muliRowVector(gamma);
                INDArray b = tmp.mean(true, 1), a = gh.mean(true, 1);
                tmp.assign(xhat).muliColumnVector(b);
                gx = gh.subi(tmp).subiColumnVector(a).muliColumnVector(rstd).reshape('c', xs);
            }
            Memory.free(tmp);
            if (gc != g) Memory.free(gc);
            freeSaved(xhat, y, rstd);          // the tape calls backward once: the saved statistics die here
            return new INDArray[]{gx, gw, gb};
        }, x, weight, bias);
        if (result.isLeaf()) Memory.free(rstd);
        return result;
    }

    /** Frees x̂ (unless it is the output itself) and the per-row 1/σ saved for a norm's backward pass. */
    private static void freeSaved(INDArray xhat, INDArray y, INDArray rstd) {
        if (xhat != y) Memory.free(xhat);
        Memory.free(rstd);
    }

    /** True when the op's result will be recorded (so x̂ must survive for the backward pass). */
    private static boolean recording(Tensor x, Tensor weight, Tensor bias) {
        return Grad.isRecording() && (x.requiresGrad() || (weight != null && weight.requiresGrad()) || (bias != null && bias.requiresGrad()));
    }

    /** x̂·γ + β with per-row ({@code columns}) or per-column γ, β; in place on x̂ unless x̂ must be kept. */
    private static INDArray affine(INDArray xhat, INDArray gamma, INDArray beta, boolean keepXhat, boolean columns) {
        if (gamma == null && beta == null) return xhat;
        INDArray y;
        if (gamma != null) y = columns ? (keepXhat ? xhat.mulColumnVector(gamma) : xhat.muliColumnVector(gamma))
                : (keepXhat ? xhat.mulRowVector(gamma) : xhat.muliRowVector(gamma));
        else y = keepXhat ? xhat.dup('c') : xhat;
        if (beta != null) {
            if (columns) y.addiColumnVector(beta);
            else y.addiRowVector(beta);
        }
        return y;
    }

    /** Per-row values (R, 1) -> per-group sums, shape rowShape with dim 2 set to 1. */
    private static INDArray groupSum(INDArray perRow, long[] rowShape) {
        return perRow.reshape('c', rowShape).sum(true, 2);
    }

    /** Broadcasts a small array (broadcastable to rowShape) to one value per row, shape (R, 1). */
    private static INDArray perRow(INDArray small, long[] rowShape) {
        INDArray out = Nd4j.zeros(small.dataType(), rowShape).addi(small);
        return out.reshape('c', out.length(), 1);
    }

    /** Per-row values (R, 1) summed to one value per channel (g·c/g). */
    private static INDArray paramSum(INDArray perRow, long[] rowShape, int[] otherDims) {
        return perRow.reshape('c', rowShape).sum(false, otherDims).reshape('c', new long[]{rowShape[1] * rowShape[2]});
    }

    /** In place 1/√v. */
    private static INDArray rsqrt(INDArray v) {
        return Transforms.sqrt(v, false).rdivi(1.0);
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

    private static void checkResize(String op, Tensor x, int outH, int outW, int maxRank) {
        if (x.rank() != 4 && x.rank() != maxRank)
            throw new IllegalArgumentException(op + ": expected (N, C, H, W)" + (maxRank == 5 ? " or (N, C, F, H, W)" : "") + ", got " + Arrays.toString(x.shape()));
        if (outH < 1 || outW < 1) throw new IllegalArgumentException(op + ": output size (" + outH + ", " + outW + ") for input " + Arrays.toString(x.shape()));
    }

    /** y[.., :, :] = ah · x[.., :, :] · awᵀ over the last two dims, ah (outH, H), aw (outW, W); backward uses the transposes. */
    private static Tensor separableResize(String op, Tensor x, INDArray ah, INDArray aw) {
        INDArray y = separable(x.data(), ah, aw);
        INDArray ahT = ah.transpose().dup('c'), awT = aw.transpose().dup('c');
        return Ops.record(op, y, g -> new INDArray[]{separable(g, ahT, awT)}, x);
    }

    private static INDArray separable(INDArray x, INDArray ah, INDArray aw) {
        int r = x.rank();
        long h = x.size(r - 2), w = x.size(r - 1), oH = ah.size(0), oW = aw.size(0), b = x.length() / (h * w);
        INDArray in = contiguous(x);
        INDArray t = Nd4j.matmul(in.reshape('c', b * h, w), aw, false, true, false);   // (b*h, oW)
        if (in != x) Memory.free(in);
        INDArray ahb = Nd4j.zeros(ah.dataType(), b, oH, h).addi(ah.reshape('c', 1, oH, h)); // matmul does not broadcast batch dims
        INDArray y = Nd4j.matmul(ahb, t.reshape('c', b, h, oW));                        // (b, oH, oW)
        Memory.free(ahb);
        Memory.free(t);
        long[] ys = x.shape().clone();                                                  // shape() is the live array
        ys[r - 2] = oH;
        ys[r - 1] = oW;
        return y.reshape('c', ys);
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
        Memory.free(grad);
        return null;
    }

    private static void closeCopies(Tensor x, INDArray in, Tensor w, INDArray wc, Tensor b, INDArray bc) {
        if (in != x.data()) Memory.free(in);
        if (wc != w.data()) Memory.free(wc);
        if (b != null && bc != b.data()) Memory.free(bc);
    }

    private static void exec(String name, INDArray[] inputs, INDArray[] outputs, int[] iArgs) {
        DynamicCustomOp op = DynamicCustomOp.builder(name).addInputs(inputs).addOutputs(outputs).addIntegerArguments(iArgs).build();
        Nd4j.exec(op);
    }
}
