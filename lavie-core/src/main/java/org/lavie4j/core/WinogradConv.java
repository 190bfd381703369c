package org.lavie4j.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The 3×3 convolution with stride 1 and padding 1 by Winograd's minimal filtering algorithms F(2×2, 3×3) and
 * F(4×4, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for inference on the CPU.
 *
 * <p>Why: the UNet's 3×3 convolutions are a third of its forward, and ND4J's (oneDNN's direct convolution) runs them at
 * 64-71% of the FMA peak of an AVX2 core. F(m×m, 3×3) computes each m×m block of outputs from an (m+2)×(m+2) tile of
 * the input with (m+2)² multiplications per input channel instead of 9m²: F(2×2, 3×3) 16 instead of 36 (2.25 times
 * fewer multiply-adds), F(4×4, 3×3) 36 instead of 144 (4 times fewer; the tile oneDNN's and cuDNN's Winograd use). The
 * multiply-adds become (m+2)² ordinary matrix products, one per point ξ of the transformed tile:
 * {@code M[ξ] (O × T) = V[ξ] (O × C) · U[ξ] (C × T)} over the T tiles, run as one batched ND4J matmul (OpenBLAS).
 *
 * <p>F(2×2, 3×3) (interpolation points 0, ±1, ∞):
 * <ul>
 *   <li>weights: {@code V = G·g·Gᵀ} per (output, input) channel pair, G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]];
 *   <li>input: {@code U = Bᵀ·d·B} per 4×4 tile d (tiles start every 2 pixels, at (2ty − 1, 2tx − 1): the padding),
 *       Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]];
 *   <li>output: {@code Y = Aᵀ·M·A + bias} per tile, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]], a 2×2 block (cut at an odd
 *       border).
 * </ul>
 * F(4×4, 3×3) (6×6 tiles every 4 pixels, at (4ty − 1, 4tx − 1)) with the interpolation points 0, 1, −1, ½, −2, ∞
 * rather than Lavin and Gray's 0, ±1, ±2, ∞: the pair ½, −2 balances the transforms' magnitudes, which measured 3 times
 * smaller maximum and 1.5 times smaller RMS errors against double at 320 and 960 channels (the choice Barabasz et al.,
 * "Error analysis and improving the accuracy of Winograd convolution for deep neural networks", 2020, recommend):
 * G = [[1, 0, 0], [⅓, ⅓, ⅓], [−⅓, ⅓, −⅓], [−16/15, −8/15, −4/15], [1/15, −2/15, 4/15], [0, 0, 1]],
 * Bᵀ = [[1, −3/2, −2, 3/2, 1, 0], [0, −1, ½, 5/2, 1, 0], [0, 1, −5/2, ½, 1, 0], [0, −2, −1, 2, 1, 0],
 * [0, ½, −1, −½, 1, 0], [0, 1, −3/2, −2, 3/2, 1]], Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, ½, −2, 0], [0, 1, 1, ¼, 4, 0],
 * [0, 1, −1, ⅛, −8, 1]]; the 4×4 block is cut at borders that are not multiples of 4. {@link Tile#choose} picks the
 * tile per image size.
 *
 * <p>The input and output transforms run in Java's Vector API ({@link #LANES} neighbouring tiles per vector: each
 * image row is first split into its m phases, the columns x ≡ k − 1 (mod m)) on heap copies of image rows, split over
 * threads by channel.
 * Tiles are processed in chunks of whole tile rows (at most {@link #chunkBytes}: {@link #CHUNK_BYTES} or the size of the
 * transformed weights, for the transformed input and for the products), so the extra memory stays bounded whatever the
 * image size; the transformed weights ((m+2)²/9 of the weights, recomputed by vector kernels at every call) live for
 * one call. Numerics: every output is the same sum of products as the direct convolution, computed
 * through the transforms. F(2×2, 3×3)'s transforms only add, subtract and halve (exact in binary floating point for G's
 * halves), so its results differ from the direct convolution by float rounding of the same order (tested against a
 * double-precision loop and ND4J's convolution, and by the golden cases). F(4×4, 3×3)'s larger tiles and constants
 * (5/2, 8, thirds and fifteenths) make its rounding error larger: at 320 and 960 channels (16 × 16 images, against
 * double) max 3.3e-5 and 2.6e-5, RMS 3.1e-6 and 3.2e-6, against ND4J's direct convolution's max 1.3e-5 and 2.3e-5, RMS
 * 1.3e-6 and 2.2e-6 (F(2×2, 3×3): max 4.9e-6 and 3.6e-6). The weights are transformed in double and rounded once.
 */
final class WinogradConv {
    private static final VectorSpecies<Float> F = VectorWidth.FLOAT;
    /** Floats of one vector ({@link VectorWidth}); the heap buffers have this much slack so that loops run whole vectors. */
    static final int LANES = VectorWidth.LANES;
    /**
     * {@link Tile#choose}'s least tiles per row of F(4×4, 3×3): 8, measured with 8-float vectors (a row of tiles filled
     * one vector); with 16-float vectors the choice stays the same.
     */
    static final int F4_MIN_TILES_PER_ROW = 8;
    /**
     * Bytes of transformed input (and of products) per chunk of tile rows: 24 MiB, or the system property
     * {@code lavie.conv.winogradChunkBytes}.
     */
    static final long CHUNK_BYTES = Math.max(1, Long.getLong("lavie.conv.winogradChunkBytes", 24L << 20));
    /** The most points of a transformed tile (F(4×4, 3×3)'s 6×6). */
    private static final int MAX_POINTS = 36;

    private WinogradConv() {}

    /** The output block of one tile: F(2×2, 3×3) or F(4×4, 3×3). */
    enum Tile {
        F2(2), F4(4);

        /** Outputs per side of a tile's block (m) and points of a transformed tile ((m + 2)²). */
        final int m, points;

        Tile(int m) {
            this.m = m;
            this.points = (m + 2) * (m + 2);
        }

        /**
         * The tile for h × w images: the system property {@code lavie.conv.winogradTile} ({@code 2} or {@code 4}) when
         * set to one, else ({@code auto}, the default) F(4×4, 3×3) where a row has at least {@link #F4_MIN_TILES_PER_ROW}
         * tiles (at least 29 pixels wide; with 8-float vectors a narrower row leaves them half empty) and its
         * products, cut border tiles included, are at most {@link #F4_SHARE} of F(2×2, 3×3)'s; F(2×2, 3×3) elsewhere.
         * Measured inside the full-size base UNet forward (16 frames, 2 threads, F(4×4) against F(2×2) time, each tile
         * forced everywhere): 40 × 64 0.59-0.75 (320 to 960 channels in), 20 × 32 0.72-0.94, 10 × 16 1.26-1.59 at 1,280
         * channels (4 tiles a row; products 0.675), 5 × 8 1.45-1.63 (products 0.75).
         */
        static Tile choose(long h, long w) {
            String p = setting();
            switch (p) {
                case "2": return F2;
                case "4": return F4;
                case "auto": break;
                default: throw new IllegalArgumentException(PROPERTY + " must be 2, 4 or auto, not '" + p + "'");
            }
            double f4 = F4.products(h, w), f2 = F2.products(h, w);
            return (w + F4.m - 1) / F4.m >= F4_MIN_TILES_PER_ROW && f4 <= F4_SHARE * f2 ? F4 : F2;
        }

        /** The system property that picks the tile. */
        static final String PROPERTY = "lavie.conv.winogradTile";

        /** The property's value, {@code auto} when unset (read at every call: tests and benchmarks switch it). */
        static String setting() { return System.getProperty(PROPERTY, "auto").trim(); }

        /** Products per (output, input) channel pair for one h × w image: points × tiles. */
        long products(long h, long w) { return (long) points * ((h + m - 1) / m) * ((w + m - 1) / m); }
    }

    /** {@link Tile#choose}'s threshold: F(4×4, 3×3) where it needs at most this share of F(2×2, 3×3)'s products. */
    static final double F4_SHARE = 0.6;

    /**
     * Where the input's values are: image n (of {@code images}), channel c, row y, column x is the float at
     * {@code (n / frames)·entryStride + (n % frames)·frameStride + c·channelStride + y·width + x} from element 0 of
     * {@code array}. A plain (N, C, H, W) batch has frames 1 and entryStride C·H·W; a video (B, C, F, H, W) read as its
     * B·F frames has frames F, entryStride C·F·H·W, frameStride H·W and channelStride F·H·W.
     */
    record Input(INDArray array, long images, long channels, long height, long width, long frames, long entryStride,
                 long frameStride, long channelStride) {
        static Input batch(INDArray x) {
            long[] s = x.shape();
            return new Input(x, s[0], s[1], s[2], s[3], 1, s[1] * s[2] * s[3], 0, s[2] * s[3]);
        }

        static Input video(INDArray x) {
            long[] s = x.shape();
            long plane = s[3] * s[4];
            return new Input(x, s[0] * s[2], s[1], s[3], s[4], s[2], s[1] * s[2] * plane, plane, s[2] * plane);
        }

        long plane(long n, long c) { return n / frames * entryStride + n % frames * frameStride + c * channelStride; }
    }

    /** Whether the buffers of a convolution of C to O channels are addressable by this kernel (int indices). */
    static boolean fits(long channels, long outChannels) {
        return (long) MAX_POINTS * channels * outChannels < Integer.MAX_VALUE;
    }

    /**
     * out (N, O, H, W), c-order, = conv2d(input, weight, bias, stride 1, padding 1).
     *
     * @param in     the input's values (float32)
     * @param weight (O, C, 3, 3) float32, c-order contiguous
     * @param bias   (O) float32 contiguous, or null
     * @param out    (N, O, H, W) float32 c-order contiguous, written
     * @param threads threads for the transforms (the matrix products use ND4J's)
     */
    static void forward(Input in, INDArray weight, INDArray bias, INDArray out, int threads) {
        forward(in, weight, bias, out, 1, threads);
    }

    /**
     * {@link #forward(Input, INDArray, INDArray, INDArray, long, int, long, Tile)} with {@link Tile#choose}'s tile, in
     * {@link #chunkBytes}' chunks.
     */
    static void forward(Input in, INDArray weight, INDArray bias, INDArray out, long outFrames, int threads) {
        Tile tile = Tile.choose(in.height, in.width);
        forward(in, weight, bias, out, outFrames, threads, chunkBytes(tile, in.channels, weight.size(0)), tile);
    }

    /**
     * Bytes of transformed input per chunk for a convolution of c to o channels: {@link #CHUNK_BYTES}, or the size of
     * the transformed weights where they are larger. Each chunk's batched product streams all of the transformed
     * weights from memory once, and its last chunk is a remainder of tile rows; at the deep levels, where the weights
     * are large and the images small, 24 MiB chunks made those two costs a sixth of the convolution (16 frames of
     * 10 × 16, 1,280 → 1,280 channels: 334 against 275 ms a call in chunks of 128 MiB; 2,560 → 1,280: 705 against 602
     * ms; 640 → 640 at 20 × 32, F(4×4): 224 against 196 ms in chunks of 64 MiB). So the chunks (and the products, at
     * most as large) add at most twice the transformed weights, which exist during the call anyway.
     */
    static long chunkBytes(Tile tile, long c, long o) {
        return Math.max(CHUNK_BYTES, (long) tile.points * c * o * Float.BYTES);
    }

    /**
     * {@link #forward(Input, INDArray, INDArray, INDArray, int)} into {@code out} laid out as a video (B, O, F, H, W),
     * c-order contiguous, where image n of the input is frame n % F of entry n / F ({@code outFrames} = F; 1 is the
     * (N, O, H, W) batch), with the given tile, in chunks of at most {@code chunkBytes} of transformed input.
     */
    static void forward(Input in, INDArray weight, INDArray bias, INDArray out, long outFrames, int threads, long chunkBytes, Tile tile) {
        forward(in, weight, bias, null, null, out, outFrames, threads, chunkBytes, tile);
    }

    /**
     * {@link #forward(Input, INDArray, INDArray, INDArray, long, int, long, Tile)} with terms added to each output as it is
     * written: {@code ((conv + bias) + planeTerms[e·O + o]) + residual[…]} for output channel o of batch entry e (the
     * floats of the convolution and then ND4J's adds of each): a resnet's time embedding, (B, O, 1, 1, 1) broadcast over
     * frames and pixels, and its shortcut.
     *
     * @param planeTerms null, or B·O values (B = images / outFrames)
     * @param residual   null, or an array shaped and laid out as out (c-order contiguous), only read
     */
    static void forward(Input in, INDArray weight, INDArray bias, float[] planeTerms, INDArray residual, INDArray out, long outFrames,
                        int threads, long chunkBytes, Tile tile) {
        if (outFrames < 1 || in.images % outFrames != 0)
            throw new IllegalArgumentException("WinogradConv: " + in.images + " images are not whole videos of " + outFrames + " frames");
        int c = (int) in.channels, o = (int) weight.size(0), mt = tile.m, points = tile.points;
        long h = in.height, w = in.width;
        int tilesW = (int) ((w + mt - 1) / mt);
        long tilesH = (h + mt - 1) / mt, rows = in.images * tilesH;
        long rowsPerChunk = Math.max(1, Math.min(rows, chunkBytes / ((long) points * 4 * Math.max(c, o) * tilesW)));
        long chunkTiles = rowsPerChunk * tilesW;
        if ((long) points * Math.max(c, o) * chunkTiles >= Integer.MAX_VALUE)
            throw new IllegalArgumentException("WinogradConv: a row of " + tilesW + " tiles at " + Math.max(c, o) + " channels is too large");

        INDArray v = Memory.uninitialized(DataType.FLOAT, (long) points * o * c);
        INDArray u = Memory.uninitialized(DataType.FLOAT, points * c * chunkTiles);
        INDArray m = Memory.uninitialized(DataType.FLOAT, points * o * chunkTiles);
        try {
            FloatBuffer vb = Kernels.viewBuffer(v), ub = Kernels.viewBuffer(u), mb = Kernels.viewBuffer(m);
            FloatPointer wp = new FloatPointer(weight.data().addressPointer());
            Kernels.forRange(o, threads, "Winograd weight transform", (o0, o1) -> {
                transformWeights(tile, wp, c, o, (int) o0, (int) o1, vb);
            });
            float[] biases = bias == null ? null : bias.data().asFloat();
            if (planeTerms != null && planeTerms.length != in.images / outFrames * o)
                throw new IllegalArgumentException("WinogradConv: " + planeTerms.length + " plane terms for " + in.images / outFrames + " entries of " + o + " channels");
            if (residual != null && (residual.length() != out.length() || !Kernels.denseFloat(residual)))
                throw new IllegalArgumentException("WinogradConv: the residual " + Arrays.toString(residual.shape()) + " is not a dense float array shaped as the output " + Arrays.toString(out.shape()));
            FloatBuffer rb = residual == null ? null : Kernels.viewBuffer(residual);
            FloatPointer ip = new FloatPointer(in.array.data().addressPointer()), op = new FloatPointer(out.data().addressPointer());
            for (long r0 = 0; r0 < rows; r0 += rowsPerChunk) {
                long r1 = Math.min(rows, r0 + rowsPerChunk);
                int tiles = (int) ((r1 - r0) * tilesW);
                Chunk chunk = new Chunk(in, tile, outFrames, r0, r1, tilesH, tilesW, tiles);
                Kernels.forRange(c, threads, "Winograd input transform", (c0, c1) -> chunk.transformInput(ip, (int) c0, (int) c1, ub));
                // one batched product: ND4J runs the GEMMs side by side (one per thread), which small chunks need
                // (16 calls of 320 × 320 × 1,216 each split over both threads ran at half the rate)
                INDArray vx = Nd4j.create(v.data(), new long[]{points, o, c}, new long[]{(long) o * c, c, 1}, 0, 'c');
                INDArray ux = Nd4j.create(u.data(), new long[]{points, c, tiles}, new long[]{(long) c * tiles, tiles, 1}, 0, 'c');
                INDArray mx = Nd4j.create(m.data(), new long[]{points, o, tiles}, new long[]{(long) o * tiles, tiles, 1}, 0, 'c');
                Nd4j.matmul(vx, ux, mx, false, false, false);
                Kernels.forRange(o, threads, "Winograd output transform",
                        (o0, o1) -> chunk.transformOutput(mb, o, (int) o0, (int) o1, biases, planeTerms, rb, op));
            }
        } finally {
            Memory.free(v);
            Memory.free(u);
            Memory.free(m);
        }
    }

    /**
     * The weight transform V[ξ][o][c] = (G·g·Gᵀ)[ξ] for output channels [o0, o1), for {@code tile}: the kernels below
     * ({@link #transformWeights2}, {@link #transformWeights4}), one vector of floats or of doubles of input channels at
     * a time. It runs at every call (the transformed weights are 16/9 or 4 times the weights, too large to keep for
     * every layer), and at the deep
     * levels, where the images are small and the channels many, the scalar transform was 15% (F(2×2)) and 30% (F(4×4))
     * of a 1,280 → 1,280 convolution of 16 frames of 10 × 16.
     */
    static void transformWeights(Tile tile, FloatPointer weights, int c, int o, int o0, int o1, FloatBuffer v) {
        if (tile == Tile.F2) transformWeights2(weights, c, o, o0, o1, v);
        else transformWeights4(weights, c, o, o0, o1, v);
    }

    /**
     * F(2×2, 3×3)'s weight transform, {@link #LANES} input channels per vector (ξ = 4·row + column of the 4×4 tile): the same
     * operations in the same order as its scalar twin {@link #transformWeights2Naive}, so the same bits (tested).
     */
    private static void transformWeights2(FloatPointer weights, int c, int o, int o0, int o1, FloatBuffer v) {
        FloatPointer wp = new FloatPointer(weights);
        int cv = (c + LANES - 1) / LANES * LANES;
        float[] g = new float[cv * 9], stage = new float[Tile.F2.points * cv];   // zeros past c·9 pad the last vector
        for (int oc = o0; oc < o1; oc++) {
            wp.position((long) oc * c * 9).get(g, 0, c * 9);
            for (int ic = 0; ic < cv; ic += LANES) g2Block(g, cv, ic, stage);
            for (int xi = 0; xi < Tile.F2.points; xi++) v.put(xi * o * c + oc * c, stage, xi * cv, c);
        }
    }

    /** Lane i's offset in a gather of one tap over LANES input channels of a (c, 9) weight row: 9·i. */
    private static final int[] TAP_STRIDE = Kernels.laneOffsets(LANES, 9);

    /**
     * G·g·Gᵀ of F(2×2, 3×3) for the vector of input channels from ic: the taps gathered from g (an output channel's
     * (c, 9) weights, tap k of channel ic + i at 9·(ic + i) + k; a gather rather than a scalar transpose to (9, c) first,
     * which was most of the transform), the 16 points into the stage (16 rows of cv). No vector crosses a method boundary
     * here (a call the JIT does not inline would box it).
     */
    private static void g2Block(float[] g, int cv, int ic, float[] stage) {
        for (int j = 0; j < 3; j++) {                             // G·g, column j: rows g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2
            FloatVector g0 = FloatVector.fromArray(F, g, 9 * ic + j, TAP_STRIDE, 0),
                    g1 = FloatVector.fromArray(F, g, 9 * ic + 3 + j, TAP_STRIDE, 0),
                    g2 = FloatVector.fromArray(F, g, 9 * ic + 6 + j, TAP_STRIDE, 0);
            g0.intoArray(stage, j * cv + ic);                     // t (4 × 3) parked in points 0..11 of the stage
            g0.add(g1).add(g2).mul(0.5f).intoArray(stage, (3 + j) * cv + ic);
            g0.sub(g1).add(g2).mul(0.5f).intoArray(stage, (6 + j) * cv + ic);
            g2.intoArray(stage, (9 + j) * cv + ic);
        }
        for (int a = 3; a >= 0; a--) {                           // (G·g)·Gᵀ, row a into points 4a .. 4a + 3: rows in
            FloatVector h0 = FloatVector.fromArray(F, stage, 3 * a * cv + ic),   // descending order, so that t's row a
                    h1 = FloatVector.fromArray(F, stage, (3 * a + 1) * cv + ic), // is read before points 4a.. overwrite it
                    h2 = FloatVector.fromArray(F, stage, (3 * a + 2) * cv + ic);
            h0.intoArray(stage, 4 * a * cv + ic);
            h0.add(h1).add(h2).mul(0.5f).intoArray(stage, (4 * a + 1) * cv + ic);
            h0.sub(h1).add(h2).mul(0.5f).intoArray(stage, (4 * a + 2) * cv + ic);
            h2.intoArray(stage, (4 * a + 3) * cv + ic);
        }
    }

    private static final VectorSpecies<Double> D = VectorWidth.DOUBLE;

    /**
     * F(4×4, 3×3)'s weight transform, one vector of doubles of input channels at a time (ξ = 6·row + column of the 6×6 tile),
     * computed in double and rounded once (G's thirds and fifteenths are not exact in binary): the operations of its
     * scalar twin {@link #transformWeights4Naive} in the same order, so the same bits (tested).
     */
    private static void transformWeights4(FloatPointer weights, int c, int o, int o0, int o1, FloatBuffer v) {
        FloatPointer wp = new FloatPointer(weights);
        int points = Tile.F4.points, dl = D.length(), cv = (c + dl - 1) / dl * dl;
        float[] g = new float[c * 9], rounded = new float[c];
        double[] gt = new double[9 * cv], t = new double[18 * dl], stage = new double[points * cv];
        for (int oc = o0; oc < o1; oc++) {
            wp.position((long) oc * c * 9).get(g, 0, c * 9);
            for (int ic = 0; ic < c; ic++)
                for (int k = 0; k < 9; k++) gt[k * cv + ic] = g[ic * 9 + k];
            for (int ic = 0; ic < cv; ic += dl) {
                for (int j = 0; j < 3; j++)                       // G·g, column j: row a into t[(3a + j)·lanes]
                    g4Column(gt, j * cv + ic, (3 + j) * cv + ic, (6 + j) * cv + ic, t, j * dl, 3 * dl);
                for (int a = 0; a < 6; a++)                       // (G·g)·Gᵀ, row a: points 6a .. 6a + 5
                    g4Column(t, 3 * a * dl, (3 * a + 1) * dl, (3 * a + 2) * dl, stage, 6 * a * cv + ic, cv);
            }
            for (int xi = 0; xi < points; xi++) {                 // rounded once, to float
                for (int ic = 0; ic < c; ic++) rounded[ic] = (float) stage[xi * cv + ic];
                v.put(xi * o * c + oc * c, rounded, 0, c);
            }
        }
    }

    /**
     * F(4×4, 3×3)'s G times the column (g0, g1, g2) of one vector of input channels read at s0, s1, s2: {@link #gTimes}'s operations
     * (−a + b as b − a and −(x)·k as x·(−k): the same floats), result b at out + b·stride. No vector crosses a method
     * boundary (a call the JIT does not inline would box it), and no NEG (not intrinsic for doubles on Java 17 AVX2).
     */
    private static void g4Column(double[] src, int s0, int s1, int s2, double[] dst, int out, int stride) {
        DoubleVector g0 = DoubleVector.fromArray(D, src, s0), g1 = DoubleVector.fromArray(D, src, s1), g2 = DoubleVector.fromArray(D, src, s2);
        g0.intoArray(dst, out);
        g0.add(g1).add(g2).mul(THIRD).intoArray(dst, out + stride);
        g1.sub(g0).sub(g2).mul(THIRD).intoArray(dst, out + 2 * stride);
        g0.mul(16).add(g1.mul(8)).add(g2.mul(4)).mul(-FIFTEENTH).intoArray(dst, out + 3 * stride);
        g0.sub(g1.mul(2)).add(g2.mul(4)).mul(FIFTEENTH).intoArray(dst, out + 4 * stride);
        g2.intoArray(dst, out + 5 * stride);
    }

    /** The scalar twin of {@link #transformWeights2} (F(2×2, 3×3), ξ = 4·row + column of the 4×4 tile). */
    static void transformWeights2Naive(FloatPointer weights, int c, int o, int o0, int o1, FloatBuffer v) {
        FloatPointer wp = new FloatPointer(weights);
        float[] g = new float[c * 9], stage = new float[Tile.F2.points * c], t = new float[12];
        for (int oc = o0; oc < o1; oc++) {
            wp.position((long) oc * c * 9).get(g, 0, c * 9);
            for (int ic = 0; ic < c; ic++) {
                int k = ic * 9;
                for (int j = 0; j < 3; j++) {                 // G·g: 4 rows of 3
                    float g0 = g[k + j], g1 = g[k + 3 + j], g2 = g[k + 6 + j];
                    t[j] = g0;
                    t[3 + j] = 0.5f * (g0 + g1 + g2);
                    t[6 + j] = 0.5f * (g0 - g1 + g2);
                    t[9 + j] = g2;
                }
                for (int a = 0; a < 4; a++) {                 // (G·g)·Gᵀ, row a
                    float h0 = t[3 * a], h1 = t[3 * a + 1], h2 = t[3 * a + 2];
                    stage[4 * a * c + ic] = h0;
                    stage[(4 * a + 1) * c + ic] = 0.5f * (h0 + h1 + h2);
                    stage[(4 * a + 2) * c + ic] = 0.5f * (h0 - h1 + h2);
                    stage[(4 * a + 3) * c + ic] = h2;
                }
            }
            for (int xi = 0; xi < Tile.F2.points; xi++) v.put(xi * o * c + oc * c, stage, xi * c, c);
        }
    }

    /** The scalar twin of {@link #transformWeights4} (F(4×4, 3×3), ξ = 6·row + column of the 6×6 tile, in double). */
    static void transformWeights4Naive(FloatPointer weights, int c, int o, int o0, int o1, FloatBuffer v) {
        FloatPointer wp = new FloatPointer(weights);
        int points = Tile.F4.points;
        float[] g = new float[c * 9], stage = new float[points * c];
        double[] t = new double[18], r = new double[6];
        for (int oc = o0; oc < o1; oc++) {
            wp.position((long) oc * c * 9).get(g, 0, c * 9);
            for (int ic = 0; ic < c; ic++) {
                int k = ic * 9;
                for (int j = 0; j < 3; j++) {                 // G·g: 6 rows of 3
                    gTimes(g[k + j], g[k + 3 + j], g[k + 6 + j], r);
                    for (int a = 0; a < 6; a++) t[3 * a + j] = r[a];
                }
                for (int a = 0; a < 6; a++) {                 // (G·g)·Gᵀ, row a
                    gTimes(t[3 * a], t[3 * a + 1], t[3 * a + 2], r);
                    for (int b = 0; b < 6; b++) stage[(6 * a + b) * c + ic] = (float) r[b];
                }
            }
            for (int xi = 0; xi < points; xi++) v.put(xi * o * c + oc * c, stage, xi * c, c);
        }
    }

    private static final double THIRD = 1.0 / 3, FIFTEENTH = 1.0 / 15;

    /** F(4×4, 3×3)'s G times the column (g0, g1, g2), into r[0..6). */
    private static void gTimes(double g0, double g1, double g2, double[] r) {
        r[0] = g0;
        r[1] = (g0 + g1 + g2) * THIRD;
        r[2] = (-g0 + g1 - g2) * THIRD;
        r[3] = -(16 * g0 + 8 * g1 + 4 * g2) * FIFTEENTH;
        r[4] = (g0 - 2 * g1 + 4 * g2) * FIFTEENTH;
        r[5] = g2;
    }

    /** One thread's heap buffers, reused across calls (grown when a call needs more). */
    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    /**
     * Separate arrays for the values one loop writes side by side (the columns of each phase, the rows of Bᵀ·d, the
     * points, the outputs of a tile), each read and written as whole vectors, with {@link #LANES} floats of slack. F(2×2,
     * 3×3) uses even, odd, e, the first 16 points and y; F(4×4, 3×3) one array per stage instead, so that each stage's
     * loop runs over several rows at once: phases (padded row, phase, k), e4 (the six rows of Bᵀ·d for one line of tiles,
     * each over phase and k), all 36 points and, on the output side, m4 (point, tile), t4 (Aᵀ·M: row, column, tile) and y4
     * (output row, column, tile).
     */
    private static final class Work {
        float[] rows = new float[0], residual = new float[0], even = new float[0], odd = new float[0];
        final float[][] e = new float[8][0], points = new float[MAX_POINTS][0], y = new float[4][0];
        float[] phases = new float[0], m4 = new float[0], t4 = new float[0], y4 = new float[0];
        final float[][] e4 = new float[6][0];

        /** Grows what the tile's transforms use: image rows, padded planes of the column phases, lines of tiles, points. */
        void ensure(Tile tile, int rowFloats, int planeFloats, int line, int tiles) {
            rows = grow(rows, rowFloats);
            residual = grow(residual, rowFloats);
            for (int i = 0; i < tile.points; i++) points[i] = grow(points[i], tiles);
            if (tile == Tile.F2) {
                even = grow(even, planeFloats);
                odd = grow(odd, planeFloats);
                for (int i = 0; i < e.length; i++) e[i] = grow(e[i], line);
                for (int i = 0; i < y.length; i++) y[i] = grow(y[i], line);
            } else {
                phases = grow(phases, 4 * planeFloats);
                for (int i = 0; i < e4.length; i++) e4[i] = grow(e4[i], 4 * line);
                m4 = grow(m4, 36 * tiles);
                t4 = grow(t4, 4 * Chunk.stride4(6 * tiles));
                y4 = grow(y4, 16 * Chunk.stride4(tiles));
            }
        }

        private static float[] grow(float[] a, int n) { return a.length >= n + 2 * LANES ? a : new float[n + 2 * LANES]; }
    }

    /**
     * The tile rows [r0, r1) of the whole batch (row r is tile row r % tilesH of image r / tilesH), tile t of the chunk
     * being tile (r0·tilesW + t) of the batch in row-major tile order. The transformed input is U[ξ][c][t] (ξ·C·tiles +
     * c·tiles + t), the products M[ξ][o][t].
     */
    private record Chunk(Input in, Tile tile, long outFrames, long r0, long r1, long tilesH, int tilesW, int tiles) {

        /** Tile rows from batch row r to the end of its image or of the chunk, whichever comes first. */
        int segment(long r) { return (int) Math.min(tilesH - r % tilesH, r1 - r); }

        /** U for input channels [c0, c1): for each channel, the chunk's tile rows of one image at a time. */
        void transformInput(FloatPointer input, int c0, int c1, FloatBuffer u) {
            FloatPointer ip = new FloatPointer(input);
            Work w = WORK.get();
            int mt = tile.m, h = (int) in.height, wd = (int) in.width, line = tilesW + 1, c = (int) in.channels;
            for (int ch = c0; ch < c1; ch++) {
                for (long r = r0; r < r1; r += segment(r)) {
                    long n = r / tilesH;
                    int ty0 = (int) (r % tilesH), lines = segment(r);
                    int segTiles = lines * tilesW, first = (int) ((r - r0) * tilesW);
                    int y0 = mt * ty0 - 1, padded = mt * lines + 2;   // input rows y0 .. y0 + padded − 1
                    int yLo = Math.max(0, y0), yHi = Math.min(h, y0 + padded);
                    w.ensure(tile, (yHi - yLo) * wd, padded * line, line, segTiles);
                    ip.position(in.plane(n, ch) + (long) yLo * wd).get(w.rows, 0, (yHi - yLo) * wd);
                    if (tile == Tile.F2) tiles2(w, y0, yLo, padded, lines);
                    else tiles4(w, y0, yLo, padded, lines);
                    for (int xi = 0; xi < tile.points; xi++) u.put(xi * c * tiles + ch * tiles + first, w.points[xi], 0, segTiles);
                }
            }
        }

        /**
         * F(2×2, 3×3): the padded rows y0 .. y0 + padded − 1 (those inside the image in {@code w.rows} from row yLo) split
         * into even and odd columns, then Bᵀ·d·B for the {@code lines} lines of tiles into {@code w.points}.
         */
        private void tiles2(Work w, int y0, int yLo, int padded, int lines) {
            int h = (int) in.height, wd = (int) in.width, half = tilesW + 1;
            int evenCols = wd / 2, oddCols = (wd + 1) / 2;     // E[k] = x 2k − 1 for k in [1, evenCols]; O[k] = x 2k for k < oddCols
            float[] rows = w.rows, ev = w.even, od = w.odd;
            float[][] e = w.e, s = w.points;
            for (int pr = 0; pr < padded; pr++) {
                int y = y0 + pr, base = pr * half;
                if (y < 0 || y >= h) {
                    Arrays.fill(ev, base, base + half, 0f);
                    Arrays.fill(od, base, base + half, 0f);
                    continue;
                }
                int src = (y - yLo) * wd;
                ev[base] = 0f;
                for (int k = 1; k <= evenCols; k++) ev[base + k] = rows[src + 2 * k - 1];
                for (int k = evenCols + 1; k < half; k++) ev[base + k] = 0f;
                for (int k = 0; k < oddCols; k++) od[base + k] = rows[src + 2 * k];
                for (int k = oddCols; k < half; k++) od[base + k] = 0f;
            }
            for (int lt = 0; lt < lines; lt++) {
                int d = 2 * lt * half, off = lt * tilesW;
                columnsOfTiles(ev, d, half, e[0], e[1], e[2], e[3]);   // Bᵀ·d over the even columns
                columnsOfTiles(od, d, half, e[4], e[5], e[6], e[7]);   // and over the odd ones
                for (int a = 0; a < 4; a++)                         // (Bᵀ·d)·B, row a
                    rowOfTiles(e[a], e[4 + a], tilesW, off, s[4 * a], s[4 * a + 1], s[4 * a + 2], s[4 * a + 3]);
            }
        }

        /**
         * F(4×4, 3×3), as {@link #tiles2}: each padded row (x from −1) is split into its four phases ({@link #split4}),
         * phase q holding columns 4k + q − 1, so that tile tx's six columns are phase 0..3 at k = tx and phase 0, 1 at
         * k = tx + 1; Bᵀ·d runs down the columns of all four phases of a line of tiles in one loop, then ·B along the
         * rows, {@link #LANES} tiles per vector.
         */
        private void tiles4(Work w, int y0, int yLo, int padded, int lines) {
            int h = (int) in.height, wd = (int) in.width, quarter = tilesW + 1, row = 4 * quarter;
            float[] rows = w.rows, ph = w.phases;
            float[][] e = w.e4, s = w.points;
            for (int pr = 0; pr < padded; pr++) {
                int y = y0 + pr;
                if (y < 0 || y >= h) Arrays.fill(ph, pr * row, (pr + 1) * row, 0f);
                else split4(rows, (y - yLo) * wd, wd, ph, pr * row, quarter);
            }
            for (int lt = 0; lt < lines; lt++) {
                int d = 4 * lt * row, off = lt * tilesW;
                // Bᵀ·d down the columns: e[i][q·quarter + k]
                bt6(ph, d, ph, d + row, ph, d + 2 * row, ph, d + 3 * row, ph, d + 4 * row, ph, d + 5 * row, row, e[0], e[1], e[2], e[3], e[4], e[5], 0);
                for (int a = 0; a < 6; a++) {                       // (Bᵀ·d)·B, row a
                    float[] r = e[a];
                    bt6(r, 0, r, quarter, r, 2 * quarter, r, 3 * quarter, r, 1, r, quarter + 1, tilesW,
                            s[6 * a], s[6 * a + 1], s[6 * a + 2], s[6 * a + 3], s[6 * a + 4], s[6 * a + 5], off);
                }
            }
        }

        /**
         * Output channels [o0, o1) of the chunk's pixels: Aᵀ·M·A + bias, blocks cut at the right and bottom borders, then
         * plus the plane's term and the residual where given.
         */
        void transformOutput(FloatBuffer m, int o, int o0, int o1, float[] biases, float[] planeTerms, FloatBuffer residual, FloatPointer output) {
            FloatPointer op = new FloatPointer(output);
            Work w = WORK.get();
            int mt = tile.m, h = (int) in.height, wd = (int) in.width;
            long plane = (long) h * wd;
            w.ensure(tile, mt * (int) Math.min(tilesH, r1 - r0) * wd, 0, tilesW + 1, tiles);
            for (int oc = o0; oc < o1; oc++) {
                float bias = biases == null ? 0f : biases[oc];
                if (tile == Tile.F2) {
                    for (int xi = 0; xi < tile.points; xi++) m.get(xi * o * tiles + oc * tiles, w.points[xi], 0, tiles);
                } else {
                    for (int xi = 0; xi < tile.points; xi++) m.get(xi * o * tiles + oc * tiles, w.m4, xi * tiles, tiles);
                    transformTiles4(w, bias);
                }
                for (long r = r0; r < r1; r += segment(r)) {      // the chunk's tile rows of one image at a time
                    long n = r / tilesH;
                    int ty0 = (int) (r % tilesH), lines = segment(r);
                    int first = (int) ((r - r0) * tilesW);
                    int yLo = mt * ty0, yHi = Math.min(h, mt * (ty0 + lines));
                    for (int lt = 0; lt < lines; lt++) {
                        int inside = yHi - yLo - mt * lt;             // the line's output rows inside the image
                        if (tile == Tile.F2) blocks2(w, first + lt * tilesW, bias, 2 * lt * wd, inside);
                        else blocks4(w, first + lt * tilesW, 4 * lt * wd, inside);
                    }
                    long at = (n / outFrames * o + oc) * outFrames * plane + n % outFrames * plane;   // plane (n, oc)
                    int len = (yHi - yLo) * wd;
                    long start = at + (long) yLo * wd;
                    float[] rows = w.rows;
                    if (planeTerms != null) {
                        float term = planeTerms[(int) (n / outFrames * o + oc)];
                        for (int i = 0; i < len; i++) rows[i] += term;
                    }
                    if (residual != null) {
                        float[] res = w.residual;
                        residual.get((int) start, res, 0, len);
                        for (int i = 0; i < len; i++) rows[i] += res[i];
                    }
                    op.position(start).put(rows, 0, len);
                }
            }
        }

        /** F(2×2, 3×3): the 2×2 blocks of a line of tiles from tile t0 into {@code w.rows} from {@code top}, the first {@code inside} rows. */
        private void blocks2(Work w, int t0, float bias, int top, int inside) {
            int wd = (int) in.width, pairs = wd / 2;                        // tiles with both columns inside
            float[] rows = w.rows, y00 = w.y[0], y01 = w.y[1], y10 = w.y[2], y11 = w.y[3];
            blocksOfTiles(w.points, t0, tilesW, bias, y00, y01, y10, y11);
            for (int tx = 0; tx < pairs; tx++) {
                rows[top + 2 * tx] = y00[tx];
                rows[top + 2 * tx + 1] = y01[tx];
            }
            if (pairs < tilesW) rows[top + 2 * pairs] = y00[pairs];   // odd width: the last tile's left column
            if (inside > 1) {                                         // odd height: no bottom row in the last line
                int bottom = top + wd;
                for (int tx = 0; tx < pairs; tx++) {
                    rows[bottom + 2 * tx] = y10[tx];
                    rows[bottom + 2 * tx + 1] = y11[tx];
                }
                if (pairs < tilesW) rows[bottom + 2 * pairs] = y10[pairs];
            }
        }

        /**
         * F(4×4, 3×3): Aᵀ·M·A + bias for all the chunk's tiles of one output channel, from {@code w.m4} (point ξ of tile
         * t at ξ·tiles + t) into {@code w.y4} (output (i, j) of tile t's block at (4i + j)·{@link #stride4}(tiles) + t):
         * Aᵀ down the six columns of points in one loop over (column, tile), into four rows of 6·tiles (one per row of
         * Aᵀ, {@code stride4(6·tiles)} apart), then ·A along each row, in loops over all tiles. Rows written by one loop
         * start whole vectors apart, since the loop's last vector writes past the row's end.
         */
        private void transformTiles4(Work w, float bias) {
            float[] m = w.m4, t = w.t4, y = w.y4;
            int n = tiles, tr = stride4(6 * n), yr = stride4(n);
            at6(m, 0, 6 * n, 12 * n, 18 * n, 24 * n, 30 * n, 6 * n, false, 0f, t, 0, tr, 2 * tr, 3 * tr);
            for (int i = 0; i < 4; i++) {
                int r = i * tr;
                at6(t, r, r + n, r + 2 * n, r + 3 * n, r + 4 * n, r + 5 * n, n, true, bias, y, 4 * i * yr, (4 * i + 1) * yr, (4 * i + 2) * yr, (4 * i + 3) * yr);
            }
        }

        /** n rounded up to whole vectors. */
        static int stride4(int n) { return (n + LANES - 1) / LANES * LANES; }

        /** F(4×4, 3×3), as {@link #blocks2}: the 4×4 blocks of tiles t0.. (from {@code w.y4}), the last tile cut to the columns inside. */
        private void blocks4(Work w, int t0, int top, int inside) {
            int wd = (int) in.width, full = wd / 4, rest = wd - 4 * full, n = stride4(tiles);   // tiles with 4 columns inside; the last one's
            float[] rows = w.rows, y = w.y4;
            for (int i = 0; i < 4 && i < inside; i++) {
                int row = top + i * wd, y0 = 4 * i * n + t0, y1 = y0 + n, y2 = y1 + n, y3 = y2 + n;
                for (int tx = 0; tx < full; tx++) {
                    int at = row + 4 * tx;
                    rows[at] = y[y0 + tx];
                    rows[at + 1] = y[y1 + tx];
                    rows[at + 2] = y[y2 + tx];
                    rows[at + 3] = y[y3 + tx];
                }
                for (int j = 0; j < rest; j++) rows[row + 4 * full + j] = y[y0 + j * n + full];
            }
        }
    }

    /**
     * Bᵀ·d down the columns of a line of tiles: the four padded input rows start at {@code d}, {@code d + n},
     * {@code d + 2n}, {@code d + 3n} of {@code x}; e0..e3 get rows 0..3 of Bᵀ·d for each of the n columns. Whole vectors
     * only: up to {@link #LANES} − 1 values past n are read (x has that slack) and written (so do e0..e3).
     */
    private static void columnsOfTiles(float[] x, int d, int n, float[] e0, float[] e1, float[] e2, float[] e3) {
        int d1 = d + n, d2 = d1 + n, d3 = d2 + n;
        for (int k = 0; k < n; k += LANES) {
            FloatVector a0 = FloatVector.fromArray(F, x, d + k), a1 = FloatVector.fromArray(F, x, d1 + k);
            FloatVector a2 = FloatVector.fromArray(F, x, d2 + k), a3 = FloatVector.fromArray(F, x, d3 + k);
            a0.sub(a2).intoArray(e0, k);
            a1.add(a2).intoArray(e1, k);
            a2.sub(a1).intoArray(e2, k);
            a1.sub(a3).intoArray(e3, k);
        }
    }

    /**
     * (Bᵀ·d)·B for one row of n tiles: tile tx's four columns are {@code even[tx], odd[tx], even[tx + 1], odd[tx + 1]};
     * its four transformed points go to {@code s0..s3[off + tx]}. Whole vectors, as in {@link #columnsOfTiles}.
     */
    private static void rowOfTiles(float[] even, float[] odd, int n, int off, float[] s0, float[] s1, float[] s2, float[] s3) {
        for (int tx = 0; tx < n; tx += LANES) {
            FloatVector x0 = FloatVector.fromArray(F, even, tx), x1 = FloatVector.fromArray(F, odd, tx);
            FloatVector x2 = FloatVector.fromArray(F, even, tx + 1), x3 = FloatVector.fromArray(F, odd, tx + 1);
            x0.sub(x2).intoArray(s0, off + tx);
            x1.add(x2).intoArray(s1, off + tx);
            x2.sub(x1).intoArray(s2, off + tx);
            x1.sub(x3).intoArray(s3, off + tx);
        }
    }

    /**
     * Aᵀ·M·A + bias for n tiles from tile t0: the 2×2 outputs (top-left, top-right, bottom-left, bottom-right). Whole
     * vectors, as in {@link #columnsOfTiles}.
     */
    private static void blocksOfTiles(float[][] m, int t0, int n, float bias, float[] y00, float[] y01, float[] y10, float[] y11) {
        float[] m00 = m[0], m01 = m[1], m02 = m[2], m03 = m[3], m10 = m[4], m11 = m[5], m12 = m[6], m13 = m[7];
        float[] m20 = m[8], m21 = m[9], m22 = m[10], m23 = m[11], m30 = m[12], m31 = m[13], m32 = m[14], m33 = m[15];
        FloatVector b = FloatVector.broadcast(F, bias);
        for (int tx = 0; tx < n; tx += LANES) {
            int t = t0 + tx;
            FloatVector a10 = FloatVector.fromArray(F, m10, t), a11 = FloatVector.fromArray(F, m11, t);
            FloatVector a12 = FloatVector.fromArray(F, m12, t), a13 = FloatVector.fromArray(F, m13, t);
            FloatVector a20 = FloatVector.fromArray(F, m20, t), a21 = FloatVector.fromArray(F, m21, t);
            FloatVector a22 = FloatVector.fromArray(F, m22, t), a23 = FloatVector.fromArray(F, m23, t);
            FloatVector p0 = FloatVector.fromArray(F, m00, t).add(a10).add(a20), p1 = FloatVector.fromArray(F, m01, t).add(a11).add(a21);
            FloatVector p2 = FloatVector.fromArray(F, m02, t).add(a12).add(a22), p3 = FloatVector.fromArray(F, m03, t).add(a13).add(a23);
            FloatVector q0 = a10.sub(a20).sub(FloatVector.fromArray(F, m30, t)), q1 = a11.sub(a21).sub(FloatVector.fromArray(F, m31, t));
            FloatVector q2 = a12.sub(a22).sub(FloatVector.fromArray(F, m32, t)), q3 = a13.sub(a23).sub(FloatVector.fromArray(F, m33, t));
            p0.add(p1).add(p2).add(b).intoArray(y00, tx);
            p1.sub(p2).sub(p3).add(b).intoArray(y01, tx);
            q0.add(q1).add(q2).add(b).intoArray(y10, tx);
            q1.sub(q2).sub(q3).add(b).intoArray(y11, tx);
        }
    }

    /**
     * Bᵀ·(x0..x5) for n values (whole vectors: up to {@link #LANES} − 1 more are read and written), xi read from
     * {@code xi[ii + k]} and e0..e5 written at {@code at + k} for k in [0, n) (the rows of Bᵀ in {@link WinogradConv}'s
     * class comment, with a = x4 − x2 and b = x3 − x1 shared): e0 = x0 + x4 − 2x2 + 1.5b, e1 = x4 − x1 + 0.5x2 + 2.5x3,
     * e2 = x4 + x1 − 2.5x2 + 0.5x3, e3 = a + 2b, e4 = a − 0.5b, e5 = x1 + x5 − 2x3 + 1.5a.
     *
     * <p>The loop inside and arrays in and out, never vectors: C2 stops inlining ordinary methods once a compilation
     * holds many nodes ({@code NodeCountInliningCutoff}; the Vector API's own methods are force-inlined past it), and a
     * vector passed to or returned from a call left out of line is boxed. A helper called per vector that way (the
     * earlier {@code bt6(FloatVector...)} with a {@code k(float)} broadcast helper) cost 12% of a level-0 convolution
     * (benchmarks/README.md, fifteenth session).
     */
    private static void bt6(float[] x0, int i0, float[] x1, int i1, float[] x2, int i2, float[] x3, int i3, float[] x4, int i4,
                            float[] x5, int i5, int n, float[] e0, float[] e1, float[] e2, float[] e3, float[] e4, float[] e5, int at) {
        for (int k = 0; k < n; k += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, x0, i0 + k), v1 = FloatVector.fromArray(F, x1, i1 + k);
            FloatVector v2 = FloatVector.fromArray(F, x2, i2 + k), v3 = FloatVector.fromArray(F, x3, i3 + k);
            FloatVector v4 = FloatVector.fromArray(F, x4, i4 + k), v5 = FloatVector.fromArray(F, x5, i5 + k);
            FloatVector a = v4.sub(v2), b = v3.sub(v1);
            int o = at + k;
            b.fma(FloatVector.broadcast(F, 1.5f), v2.fma(FloatVector.broadcast(F, -2f), v0.add(v4))).intoArray(e0, o);
            v3.fma(FloatVector.broadcast(F, 2.5f), v2.fma(FloatVector.broadcast(F, 0.5f), v4.sub(v1))).intoArray(e1, o);
            v3.fma(FloatVector.broadcast(F, 0.5f), v2.fma(FloatVector.broadcast(F, -2.5f), v4.add(v1))).intoArray(e2, o);
            b.fma(FloatVector.broadcast(F, 2f), a).intoArray(e3, o);
            b.fma(FloatVector.broadcast(F, -0.5f), a).intoArray(e4, o);
            a.fma(FloatVector.broadcast(F, 1.5f), v3.fma(FloatVector.broadcast(F, -2f), v1.add(v5))).intoArray(e5, o);
        }
    }

    /**
     * Aᵀ·(m0..m5) (+ bias when {@code biased}) for n values (whole vectors, as {@link #bt6}), mi read from
     * {@code x[ii + k]} and y0..y3 written to {@code y[oj + k]}, for k in [0, n): y0 = m0 + m1 + m2 + m3 + m4,
     * y1 = m1 − m2 + m3/2 − 2m4, y2 = m1 + m2 + m3/4 + 4m4, y3 = m1 − m2 + m3/8 − 8m4 + m5 (powers of two: exact but for
     * the sums' rounding). The loop inside and arrays in and out, as {@link #bt6}.
     */
    private static void at6(float[] x, int i0, int i1, int i2, int i3, int i4, int i5, int n, boolean biased, float bias,
                            float[] y, int o0, int o1, int o2, int o3) {
        for (int k = 0; k < n; k += LANES) {
            FloatVector m0 = FloatVector.fromArray(F, x, i0 + k), m1 = FloatVector.fromArray(F, x, i1 + k);
            FloatVector m2 = FloatVector.fromArray(F, x, i2 + k), m3 = FloatVector.fromArray(F, x, i3 + k);
            FloatVector m4 = FloatVector.fromArray(F, x, i4 + k), m5 = FloatVector.fromArray(F, x, i5 + k);
            FloatVector s12 = m1.add(m2), d12 = m1.sub(m2);
            FloatVector r0 = m0.add(s12).add(m3.add(m4));
            FloatVector r1 = m4.fma(FloatVector.broadcast(F, -2f), m3.fma(FloatVector.broadcast(F, 0.5f), d12));
            FloatVector r2 = m4.fma(FloatVector.broadcast(F, 4f), m3.fma(FloatVector.broadcast(F, 0.25f), s12));
            FloatVector r3 = m4.fma(FloatVector.broadcast(F, -8f), m3.fma(FloatVector.broadcast(F, 0.125f), d12)).add(m5);
            if (biased) {
                FloatVector b = FloatVector.broadcast(F, bias);
                r0 = r0.add(b);
                r1 = r1.add(b);
                r2 = r2.add(b);
                r3 = r3.add(b);
            }
            r0.intoArray(y, o0 + k);
            r1.intoArray(y, o1 + k);
            r2.intoArray(y, o2 + k);
            r3.intoArray(y, o3 + k);
        }
    }

    /**
     * One image row {@code x[src, src + wd)} into its four phases for F(4×4, 3×3)'s tiles:
     * {@code dst[b + q·quarter + k] = x[src + 4k + q − 1]} for q in [0, 4), k in [0, quarter), 0 where 4k + q − 1 is
     * outside [0, wd) (the padding). One pass over k, four phases at a time.
     */
    static void split4(float[] x, int src, int wd, float[] dst, int b, int quarter) {
        int b1 = b + quarter, b2 = b1 + quarter, b3 = b2 + quarter;
        int inner = Math.min(quarter, Math.max(1, (wd + 1) / 4));   // k in [1, inner): 4k + 2 < wd, all four inside
        for (int k = 1; k < inner; k++) {
            int i = src + 4 * k - 1;
            dst[b + k] = x[i];
            dst[b1 + k] = x[i + 1];
            dst[b2 + k] = x[i + 2];
            dst[b3 + k] = x[i + 3];
        }
        edge4(x, src, wd, dst, b, quarter, 0);
        for (int k = inner; k < quarter; k++) edge4(x, src, wd, dst, b, quarter, k);
    }

    /** {@link #split4} at one k, each phase checked against the row's ends. */
    private static void edge4(float[] x, int src, int wd, float[] dst, int b, int quarter, int k) {
        for (int q = 0; q < 4; q++) {
            int c = 4 * k + q - 1;
            dst[b + q * quarter + k] = c >= 0 && c < wd ? x[src + c] : 0f;
        }
    }
}
