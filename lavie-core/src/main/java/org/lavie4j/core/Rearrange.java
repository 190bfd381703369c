package org.lavie4j.core;

import java.util.Arrays;

/**
 * Named rearranges between the video layout and the token layouts of the attention layers, each with its
 * einops pattern. Differentiable (composed from {@link Ops#permute} and {@link Ops#reshape}); results are views
 * where the layout allows and row-major copies otherwise (a reshape of a permuted view copies).
 *
 * <p>Conventions (golden README): video {@code (B, C, F, H, W)}; cross-/spatial-attention tokens
 * {@code ((B·F), H·W, C)} with b outer, f inner and token index {@code y·W + x}; temporal-attention tokens
 * {@code ((B·H·W), F, C)} with b outer, then y, then x.
 */
public final class Rearrange {
    private Rearrange() {}

    /** {@code b c f h w -> (b f) c h w}: a video as a batch of frames (copies). */
    public static Tensor framesToBatch(Tensor x) {
        long[] s = shape(x, 5, "framesToBatch", "(B, C, F, H, W)");
        Tensor t = Ops.permute(x, 0, 2, 1, 3, 4);                 // (b, f, c, h, w)
        return Ops.reshape(t, s[0] * s[2], s[1], s[3], s[4]);     // (b*f, c, h, w)
    }

    /** {@code (b f) c h w -> b c f h w}: the inverse of {@link #framesToBatch} (a view). */
    public static Tensor batchToFrames(Tensor x, long frames) {
        long[] s = shape(x, 4, "batchToFrames", "(B*F, C, H, W)");
        long b = divide(s[0], frames, "batchToFrames", x, "frames");
        Tensor t = Ops.reshape(x, b, frames, s[1], s[2], s[3]);   // (b, f, c, h, w)
        return Ops.permute(t, 0, 2, 1, 3, 4);                     // (b, c, f, h, w)
    }

    /** {@code (b f) c h w -> (b f) (h w) c}: frames as spatial token sequences, token {@code y·W + x} (a view). */
    public static Tensor toSpatialTokens(Tensor x) {
        long[] s = shape(x, 4, "toSpatialTokens", "(B*F, C, H, W)");
        Tensor t = Ops.reshape(x, s[0], s[1], s[2] * s[3]);       // (b*f, c, h*w)
        return Ops.permute(t, 0, 2, 1);                           // (b*f, h*w, c)
    }

    /** {@code (b f) (h w) c -> (b f) c h w}: the inverse of {@link #toSpatialTokens} (copies). */
    public static Tensor fromSpatialTokens(Tensor x, long h, long w) {
        long[] s = shape(x, 3, "fromSpatialTokens", "(B*F, H*W, C)");
        if (h <= 0 || w <= 0 || s[1] != h * w)
            throw new IllegalArgumentException("fromSpatialTokens: " + s[1] + " tokens of " + Arrays.toString(s) + " are not h*w = " + h + "*" + w);
        Tensor t = Ops.permute(x, 0, 2, 1);                       // (b*f, c, h*w)
        return Ops.reshape(t, s[0], s[2], h, w);                  // (b*f, c, h, w)
    }

    /**
     * {@code (b f) (h w) c -> (b h w) f c}: spatial tokens to LaVie's temporal-attention input, one frame sequence
     * per batch item and pixel, b outer (copies).
     */
    public static Tensor toTemporalTokens(Tensor x, long frames) {
        long[] s = shape(x, 3, "toTemporalTokens", "(B*F, H*W, C)");
        long b = divide(s[0], frames, "toTemporalTokens", x, "frames");
        Tensor t = Ops.reshape(x, b, frames, s[1], s[2]);         // (b, f, h*w, c)
        t = Ops.permute(t, 0, 2, 1, 3);                           // (b, h*w, f, c)
        return Ops.reshape(t, b * s[1], frames, s[2]);            // (b*h*w, f, c)
    }

    /** {@code (b h w) f c -> (b f) (h w) c}: the inverse of {@link #toTemporalTokens} (copies). */
    public static Tensor fromTemporalTokens(Tensor x, long batch) {
        long[] s = shape(x, 3, "fromTemporalTokens", "(B*H*W, F, C)");
        long hw = divide(s[0], batch, "fromTemporalTokens", x, "batch");
        Tensor t = Ops.reshape(x, batch, hw, s[1], s[2]);         // (b, h*w, f, c)
        t = Ops.permute(t, 0, 2, 1, 3);                           // (b, f, h*w, c)
        return Ops.reshape(t, batch * s[1], hw, s[2]);            // (b*f, h*w, c)
    }

    /** {@code b c f h w -> (b h w) f c}: a video straight to temporal-attention tokens (copies). */
    public static Tensor videoToTemporalTokens(Tensor x) {
        long[] s = shape(x, 5, "videoToTemporalTokens", "(B, C, F, H, W)");
        Tensor t = Ops.permute(x, 0, 3, 4, 2, 1);                 // (b, h, w, f, c)
        return Ops.reshape(t, s[0] * s[3] * s[4], s[2], s[1]);    // (b*h*w, f, c)
    }

    /** {@code (b h w) f c -> b c f h w}: the inverse of {@link #videoToTemporalTokens} (a view). */
    public static Tensor temporalTokensToVideo(Tensor x, long batch, long h, long w) {
        long[] s = shape(x, 3, "temporalTokensToVideo", "(B*H*W, F, C)");
        if (batch <= 0 || h <= 0 || w <= 0 || s[0] != batch * h * w)
            throw new IllegalArgumentException("temporalTokensToVideo: " + s[0] + " sequences of " + Arrays.toString(s)
                    + " are not batch*h*w = " + batch + "*" + h + "*" + w);
        Tensor t = Ops.reshape(x, batch, h, w, s[1], s[2]);       // (b, h, w, f, c)
        return Ops.permute(t, 0, 4, 3, 1, 2);                     // (b, c, f, h, w)
    }

    private static long[] shape(Tensor x, int rank, String op, String expected) {
        if (x.rank() != rank) throw new IllegalArgumentException(op + ": expected " + expected + ", got " + Arrays.toString(x.shape()));
        return x.shape();
    }

    private static long divide(long n, long by, String op, Tensor x, String what) {
        if (by <= 0 || n % by != 0)
            throw new IllegalArgumentException(op + ": dim 0 of " + Arrays.toString(x.shape()) + " not divisible by " + what + " = " + by);
        return n / by;
    }
}
