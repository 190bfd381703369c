package org.lavie4j.benchmarks;

import java.io.IOException;
import java.util.Locale;

/**
 * The kernels of {@link KernelBenchmark} at the shapes of LaVie's base UNet ({@code UNetConfig.lavieBase()}, one
 * sample with classifier-free guidance: batch 2 × 16 frames = 32 frame images of 40 × 64 latents at level 0), and
 * the work each does: multiply-adds counted from the shapes (pure arithmetic, checked in {@code KernelShapesTest}),
 * bytes for the memory-bound GroupNorm. GFLOP/s = 2 · MAC / seconds.
 *
 * <p>The machine's FP32 peak is {@code -Dlavie.peakGflops=...} when given, else measured on this machine with an FMA
 * loop ({@link PeakFlops}, once per JVM, all available processors), else (the measurement failed)
 * {@value #DEFAULT_PEAK_GFLOPS} GFLOPS, the figure of {@code ../shared/docs/nd4j-notes.md} (2 vCPU Emerald Rapids,
 * AVX-512: ~165 GFLOPS per core). {@link #peakSource()} says which, for printing beside the figures.
 */
public final class KernelShapes {
    /** FP32 peak of the 2-core machine of nd4j-notes.md, GFLOPS (its FMA loop, both cores): the fallback. */
    public static final double DEFAULT_PEAK_GFLOPS = 330.0;
    private static double measuredPeak;    // 0 until first measured
    private static String measuredSource;

    /** LaVie base: 2 (guidance) × 16 frames. */
    public static final int BATCH = 2, FRAMES = 16;
    /** Level-0 latent size (320 × 512 pixels / 8). */
    public static final int H = 40, W = 64;
    /** Level-0 width, heads (head size 40 at level 0), text tokens and width, GroupNorm groups. */
    public static final int CHANNELS = 320, HEADS = 8, TEXT_TOKENS = 77, TEXT_DIM = 768, GROUPS = 32;

    private KernelShapes() {}

    /**
     * The FP32 peak used for "% of peak": {@code -Dlavie.peakGflops}, else measured ({@link PeakFlops}, all available
     * processors, once per JVM), else {@value #DEFAULT_PEAK_GFLOPS}.
     */
    public static synchronized double peakGflops() {
        String v = System.getProperty("lavie.peakGflops");
        if (v != null && !v.isBlank()) {
            double p;
            try {
                p = Double.parseDouble(v.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("lavie.peakGflops must be a number, got '" + v + "'", e);
            }
            if (!(p > 0) || Double.isInfinite(p)) throw new IllegalArgumentException("lavie.peakGflops must be positive, got " + v);
            return p;
        }
        if (measuredPeak == 0) {
            int threads = Runtime.getRuntime().availableProcessors();
            try {
                measuredPeak = PeakFlops.measure(threads);
                measuredSource = String.format(Locale.ROOT, "measured: FMA loop, %d threads", threads);
            } catch (IOException | RuntimeException e) {
                measuredPeak = DEFAULT_PEAK_GFLOPS;
                measuredSource = "default; the FMA loop failed: " + e.getMessage();
            }
        }
        return measuredPeak;
    }

    /** Where {@link #peakGflops()}'s figure came from ("-Dlavie.peakGflops", "measured: FMA loop, 2 threads", ...). */
    public static synchronized String peakSource() {
        String v = System.getProperty("lavie.peakGflops");
        if (v != null && !v.isBlank()) return "-Dlavie.peakGflops";
        peakGflops();
        return measuredSource;
    }

    /** A k×k convolution, stride 1, 'same' padding, over {@code images} frames of h × w: outC·inC·k² per output position. */
    public static double convMacs(long images, long inC, long outC, long k, long h, long w) {
        return (double) images * h * w * outC * inC * k * k;
    }

    /** A linear layer over {@code rows} rows: in·out per row. */
    public static double linearMacs(long rows, long in, long out) {
        return (double) rows * in * out;
    }

    /** The two attention products QKᵀ and PV: {@code 2 · batch · heads · queries · keys · headDim}. */
    public static double attentionProductMacs(long batch, long heads, long queries, long keys, long headDim) {
        return 2.0 * batch * heads * queries * keys * headDim;
    }

    /**
     * A whole attention module as {@code CrossAttention} / {@code TemporalAttention} run it: to_q over the queries,
     * to_k and to_v over the keys (from {@code keyDim} wide states), both products, to_out over the queries.
     * {@code batch} is the number of independent sequences.
     */
    public static double attentionModuleMacs(long batch, long queries, long keys, long dim, long keyDim, long heads) {
        long inner = dim;                                             // heads × head size = dim in LaVie
        return linearMacs(batch * queries, dim, inner)               // to_q
                + 2 * linearMacs(batch * keys, keyDim, inner)        // to_k, to_v
                + attentionProductMacs(batch, heads, queries, keys, inner / heads)
                + linearMacs(batch * queries, inner, dim);           // to_out.0
    }

    /**
     * One {@code Transformer3DModel} (base block) on (batch, c, frames, h, w) with text (batch, tokens, textDim):
     * proj_in and proj_out (1×1), spatial self-attention within each frame, cross-attention to the text, temporal
     * attention over frames at every position, and the GEGLU feed-forward (c -> 2·4c, 4c -> c).
     */
    public static double transformerMacs(long batch, long frames, long c, long h, long w, long heads, long tokens, long textDim) {
        long images = batch * frames, hw = h * w, rows = images * hw;
        return 2 * linearMacs(rows, c, c)                                              // proj_in, proj_out
                + attentionModuleMacs(images, hw, hw, c, c, heads)                     // attn1
                + attentionModuleMacs(images, hw, tokens, c, textDim, heads)           // attn2
                + attentionModuleMacs(batch * hw, frames, frames, c, c, heads)         // attn_temp
                + linearMacs(rows, c, 8 * c) + linearMacs(rows, 4 * c, c);            // ff: GEGLU proj, net.2
    }

    /** GroupNorm's least memory traffic: read the input once and write the output once (float32). */
    public static double groupNormBytes(long elements) {
        return 2.0 * elements * Float.BYTES;
    }

    /** The kernels, each a {@code @Param} value of {@link KernelBenchmark}. */
    public enum Kernel {
        CONV320("conv 3x3 320->320, 32 x 40x64"),
        CONV640("conv 3x3 640->640, 32 x 20x32"),
        CONV1280("conv 3x3 1280->1280, 32 x 10x16"),
        SPATIAL_ATTENTION("attn1: self-attention, 32 x 2560 tokens, 8 x 40"),
        TEMPORAL_ATTENTION("attn_temp: 5120 x 16 frames, RoPE + rel. bias"),
        CROSS_ATTENTION("attn2: 32 x 2560 queries, 77 x 768 text"),
        GROUP_NORM("GroupNorm 32 groups, 2x320x16x40x64"),
        TRANSFORMER("Transformer3DModel, level 0 (320 ch)");

        private final String shape;

        Kernel(String shape) { this.shape = shape; }

        /** The shape at LaVie's size (16 frames). */
        public String shape() { return shape; }

        /** Multiply-adds of one call at {@code frames} frames per sample (0 for GroupNorm). */
        public double macs(int frames) {
            long images = (long) BATCH * frames;
            return switch (this) {
                case CONV320 -> convMacs(images, 320, 320, 3, H, W);
                case CONV640 -> convMacs(images, 640, 640, 3, H / 2, W / 2);
                case CONV1280 -> convMacs(images, 1280, 1280, 3, H / 4, W / 4);
                case SPATIAL_ATTENTION -> attentionModuleMacs(images, H * W, H * W, CHANNELS, CHANNELS, HEADS);
                case TEMPORAL_ATTENTION -> attentionModuleMacs((long) BATCH * H * W, frames, frames, CHANNELS, CHANNELS, HEADS);
                case CROSS_ATTENTION -> attentionModuleMacs(images, H * W, TEXT_TOKENS, CHANNELS, TEXT_DIM, HEADS);
                case GROUP_NORM -> 0;
                case TRANSFORMER -> transformerMacs(BATCH, frames, CHANNELS, H, W, HEADS, TEXT_TOKENS, TEXT_DIM);
            };
        }

        /** Bytes moved (GroupNorm only; 0 for the compute-bound kernels). */
        public double bytes(int frames) {
            return this == GROUP_NORM ? groupNormBytes((long) BATCH * CHANNELS * frames * H * W) : 0;
        }

        /** "GFLOP/s x (y% of peak)" or "GB/s" for a measured time. */
        public String rate(int frames, double seconds, double peakGflops) {
            if (this == GROUP_NORM) return String.format(Locale.ROOT, "%.1f GB/s", bytes(frames) / seconds / 1e9);
            double gflops = 2 * macs(frames) / seconds / 1e9;
            return String.format(Locale.ROOT, "%.1f GFLOP/s (%.1f%% of %.0f)", gflops, 100 * gflops / peakGflops, peakGflops);
        }
    }
}
