package org.lavie4j.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The 3×3 convolution with stride 1 and padding 1 by Winograd's minimal filtering algorithm F(2×2, 3×3) (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for inference on the CPU.
 *
 * <p>Why: the UNet's 3×3 convolutions are a third of its forward, and ND4J's (oneDNN's direct convolution) runs them at
 * 64-71% of the FMA peak of an AVX2 core. F(2×2, 3×3) computes each 2×2 block of outputs from a 4×4 tile of the input
 * with 16 multiplications per input channel instead of 36, so the same outputs cost 2.25 times fewer multiply-adds.
 * The multiply-adds become 16 ordinary matrix products, one per point ξ of the transformed tile:
 * {@code M[ξ] (O × T) = V[ξ] (O × C) · U[ξ] (C × T)} over the T tiles, run as one batched ND4J matmul (OpenBLAS).
 *
 * <ul>
 *   <li>weights: {@code V = G·g·Gᵀ} per (output, input) channel pair, G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]];
 *   <li>input: {@code U = Bᵀ·d·B} per 4×4 tile d (tiles start every 2 pixels, at (2ty − 1, 2tx − 1): the padding),
 *       Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]];
 *   <li>output: {@code Y = Aᵀ·M·A + bias} per tile, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]], a 2×2 block (cut at an odd
 *       border).
 * </ul>
 *
 * <p>The input and output transforms run in Java's Vector API (8 neighbouring tiles per vector: each image row is first
 * split into its even and odd columns) on heap copies of image rows, split over threads by channel. Tiles are processed
 * in chunks of whole tile rows (at most {@link #CHUNK_BYTES} for the transformed input and for the products), so the
 * extra memory stays bounded whatever the image size; the transformed weights (16/9 of the weights) live for one
 * call. Numerics: every output is the same sum of products as the direct convolution, with the additions done in a
 * different order, and the transforms only add, subtract and halve (exact in binary floating point for G's halves), so
 * results differ from the direct convolution by float rounding (tested against a double-precision loop and ND4J's
 * convolution, and by the golden cases).
 */
final class WinogradConv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    /** Floats of one vector; the heap buffers have this much slack so that loops run whole vectors. */
    static final int LANES = 8;
    /** Points of a transformed 4×4 tile. */
    static final int POINTS = 16;
    /**
     * Bytes of transformed input (and of products) per chunk of tile rows: 24 MiB, or the system property
     * {@code lavie.conv.winogradChunkBytes}.
     */
    static final long CHUNK_BYTES = Math.max(1, Long.getLong("lavie.conv.winogradChunkBytes", 24L << 20));

    private WinogradConv() {}

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
        return (long) POINTS * channels * outChannels < Integer.MAX_VALUE;
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
        forward(in, weight, bias, out, 1, threads, CHUNK_BYTES);
    }

    /**
     * {@link #forward(Input, INDArray, INDArray, INDArray, int)} into {@code out} laid out as a video (B, O, F, H, W),
     * c-order contiguous, where image n of the input is frame n % F of entry n / F ({@code outFrames} = F; 1 is the
     * (N, O, H, W) batch), in chunks of at most {@code chunkBytes} of transformed input.
     */
    static void forward(Input in, INDArray weight, INDArray bias, INDArray out, long outFrames, int threads, long chunkBytes) {
        if (outFrames < 1 || in.images % outFrames != 0)
            throw new IllegalArgumentException("WinogradConv: " + in.images + " images are not whole videos of " + outFrames + " frames");
        int c = (int) in.channels, o = (int) weight.size(0);
        long h = in.height, w = in.width;
        int tilesW = (int) ((w + 1) / 2);
        long tilesH = (h + 1) / 2, rows = in.images * tilesH;
        long rowsPerChunk = Math.max(1, Math.min(rows, chunkBytes / ((long) POINTS * 4 * Math.max(c, o) * tilesW)));
        long chunkTiles = rowsPerChunk * tilesW;
        if ((long) POINTS * Math.max(c, o) * chunkTiles >= Integer.MAX_VALUE)
            throw new IllegalArgumentException("WinogradConv: a row of " + tilesW + " tiles at " + Math.max(c, o) + " channels is too large");

        INDArray v = Nd4j.createUninitialized(DataType.FLOAT, (long) POINTS * o * c);
        INDArray u = Nd4j.createUninitialized(DataType.FLOAT, POINTS * c * chunkTiles);
        INDArray m = Nd4j.createUninitialized(DataType.FLOAT, POINTS * o * chunkTiles);
        try {
            FloatBuffer vb = buffer(v), ub = buffer(u), mb = buffer(m);
            FloatPointer wp = new FloatPointer(weight.data().addressPointer());
            Kernels.forRange(o, threads, "Winograd weight transform", (o0, o1) -> transformWeights(wp, c, o, (int) o0, (int) o1, vb));
            float[] biases = bias == null ? null : bias.data().asFloat();
            FloatPointer ip = new FloatPointer(in.array.data().addressPointer()), op = new FloatPointer(out.data().addressPointer());
            for (long r0 = 0; r0 < rows; r0 += rowsPerChunk) {
                long r1 = Math.min(rows, r0 + rowsPerChunk);
                int tiles = (int) ((r1 - r0) * tilesW);
                Chunk chunk = new Chunk(in, outFrames, r0, r1, tilesH, tilesW, tiles);
                Kernels.forRange(c, threads, "Winograd input transform", (c0, c1) -> chunk.transformInput(ip, (int) c0, (int) c1, ub));
                // one batched product: ND4J runs the 16 GEMMs side by side (one per thread), which small chunks need
                // (16 calls of 320 × 320 × 1,216 each split over both threads ran at half the rate)
                INDArray vx = Nd4j.create(v.data(), new long[]{POINTS, o, c}, new long[]{(long) o * c, c, 1}, 0, 'c');
                INDArray ux = Nd4j.create(u.data(), new long[]{POINTS, c, tiles}, new long[]{(long) c * tiles, tiles, 1}, 0, 'c');
                INDArray mx = Nd4j.create(m.data(), new long[]{POINTS, o, tiles}, new long[]{(long) o * tiles, tiles, 1}, 0, 'c');
                Nd4j.matmul(vx, ux, mx, false, false, false);
                Kernels.forRange(o, threads, "Winograd output transform",
                        (o0, o1) -> chunk.transformOutput(mb, o, (int) o0, (int) o1, biases, op));
            }
        } finally {
            Memory.free(v);
            Memory.free(u);
            Memory.free(m);
        }
    }

    /** The whole buffer of a fresh contiguous float array, for absolute bulk reads and writes without JNI calls. */
    private static FloatBuffer buffer(INDArray a) {
        FloatPointer p = new FloatPointer(a.data().addressPointer());
        p.position(0).limit(a.length());
        return p.asBuffer();
    }

    /** V[ξ][o][c] = (G·g·Gᵀ)[ξ] for output channels [o0, o1) (ξ = 4·row + column of the 4×4 tile). */
    private static void transformWeights(FloatPointer weights, int c, int o, int o0, int o1, FloatBuffer v) {
        FloatPointer wp = new FloatPointer(weights);
        float[] g = new float[c * 9], stage = new float[POINTS * c], t = new float[12];
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
            for (int xi = 0; xi < POINTS; xi++) v.put(xi * o * c + oc * c, stage, xi * c, c);
        }
    }

    /** One thread's heap buffers, reused across calls (grown when a call needs more). */
    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    /**
     * Separate arrays for the values one loop writes side by side (even and odd columns, the rows of Bᵀ·d, the 16
     * points, the four outputs of a tile), each read and written as whole vectors, with {@link #LANES} floats of slack.
     */
    private static final class Work {
        float[] rows = new float[0], even = new float[0], odd = new float[0];
        final float[][] e = new float[8][0], points = new float[POINTS][0], y = new float[4][0];

        void ensure(int rowFloats, int planeFloats, int half, int tiles) {
            rows = grow(rows, rowFloats);
            even = grow(even, planeFloats);
            odd = grow(odd, planeFloats);
            for (int i = 0; i < e.length; i++) e[i] = grow(e[i], half);
            for (int i = 0; i < POINTS; i++) points[i] = grow(points[i], tiles);
            for (int i = 0; i < y.length; i++) y[i] = grow(y[i], half);
        }

        private static float[] grow(float[] a, int n) { return a.length >= n + 2 * LANES ? a : new float[n + 2 * LANES]; }
    }

    /**
     * The tile rows [r0, r1) of the whole batch (row r is tile row r % tilesH of image r / tilesH), tile t of the chunk
     * being tile (r0·tilesW + t) of the batch in row-major tile order. The transformed input is U[ξ][c][t] (ξ·C·tiles +
     * c·tiles + t), the products M[ξ][o][t].
     */
    private record Chunk(Input in, long outFrames, long r0, long r1, long tilesH, int tilesW, int tiles) {

        /** Tile rows from batch row r to the end of its image or of the chunk, whichever comes first. */
        int segment(long r) { return (int) Math.min(tilesH - r % tilesH, r1 - r); }

        /** U for input channels [c0, c1). */
        void transformInput(FloatPointer input, int c0, int c1, FloatBuffer u) {
            FloatPointer ip = new FloatPointer(input);
            Work w = WORK.get();
            int h = (int) in.height, wd = (int) in.width, half = tilesW + 1;
            int evenCols = wd / 2, oddCols = (wd + 1) / 2;     // E[k] = x 2k − 1 for k in [1, evenCols]; O[k] = x 2k for k < oddCols
            int c = (int) in.channels;
            for (int ch = c0; ch < c1; ch++) {
                for (long r = r0; r < r1; r += segment(r)) {      // the chunk's tile rows of one image at a time
                    long n = r / tilesH;
                    int ty0 = (int) (r % tilesH), lines = segment(r);
                    int segTiles = lines * tilesW, first = (int) ((r - r0) * tilesW);
                    int y0 = 2 * ty0 - 1, padded = 2 * lines + 2;   // input rows y0 .. y0 + padded − 1
                    int yLo = Math.max(0, y0), yHi = Math.min(h, y0 + padded);
                    w.ensure((yHi - yLo) * wd, padded * half, half, segTiles);
                    float[] rows = w.rows, ev = w.even, od = w.odd;
                    float[][] e = w.e, s = w.points;
                    ip.position(in.plane(n, ch) + (long) yLo * wd).get(rows, 0, (yHi - yLo) * wd);
                    for (int pr = 0; pr < padded; pr++) {           // split padded rows into even and odd columns
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
                    for (int xi = 0; xi < POINTS; xi++) u.put(xi * c * tiles + ch * tiles + first, s[xi], 0, segTiles);
                }
            }
        }

        /** Output channels [o0, o1) of the chunk's pixels: Aᵀ·M·A + bias. */
        void transformOutput(FloatBuffer m, int o, int o0, int o1, float[] biases, FloatPointer output) {
            FloatPointer op = new FloatPointer(output);
            Work w = WORK.get();
            int h = (int) in.height, wd = (int) in.width, pairs = wd / 2;   // tiles with both columns inside
            long plane = (long) h * wd;
            w.ensure(2 * (int) Math.min(tilesH, r1 - r0) * wd, 0, tilesW, tiles);
            float[][] mm = w.points, y = w.y;
            float[] rows = w.rows, y00 = y[0], y01 = y[1], y10 = y[2], y11 = y[3];
            for (int oc = o0; oc < o1; oc++) {
                for (int xi = 0; xi < POINTS; xi++) m.get(xi * o * tiles + oc * tiles, mm[xi], 0, tiles);
                float bias = biases == null ? 0f : biases[oc];
                for (long r = r0; r < r1; r += segment(r)) {      // the chunk's tile rows of one image at a time
                    long n = r / tilesH;
                    int ty0 = (int) (r % tilesH), lines = segment(r);
                    int first = (int) ((r - r0) * tilesW);
                    int yLo = 2 * ty0, yHi = Math.min(h, 2 * (ty0 + lines));
                    for (int lt = 0; lt < lines; lt++) {
                        blocksOfTiles(mm, first + lt * tilesW, tilesW, bias, y00, y01, y10, y11);
                        int top = 2 * lt * wd, bottom = top + wd;
                        for (int tx = 0; tx < pairs; tx++) {
                            rows[top + 2 * tx] = y00[tx];
                            rows[top + 2 * tx + 1] = y01[tx];
                        }
                        if (pairs < tilesW) rows[top + 2 * pairs] = y00[pairs];   // odd width: the last tile's left column
                        if (yLo + 2 * lt + 1 < yHi) {                          // odd height: no bottom row in the last line
                            for (int tx = 0; tx < pairs; tx++) {
                                rows[bottom + 2 * tx] = y10[tx];
                                rows[bottom + 2 * tx + 1] = y11[tx];
                            }
                            if (pairs < tilesW) rows[bottom + 2 * pairs] = y10[pairs];
                        }
                    }
                    long at = (n / outFrames * o + oc) * outFrames * plane + n % outFrames * plane;   // plane (n, oc)
                    op.position(at + (long) yLo * wd).put(rows, 0, (yHi - yLo) * wd);
                }
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
}
