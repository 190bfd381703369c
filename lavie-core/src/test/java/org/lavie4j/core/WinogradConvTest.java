package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import org.bytedeco.javacpp.FloatPointer;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.rand;

/**
 * The Winograd F(2×2, 3×3) and F(4×4, 3×3) convolutions ({@link WinogradConv}) against their twins:
 * {@link NnOpsNaive#conv2d} in double and ND4J's convolution, over sizes that exercise every border (odd heights and
 * widths, 1-pixel images, a last tile row and column cut at 1, 2 or 3 pixels), chunks that end inside an image, and the
 * video layout that {@link NnOps#conv2dFrames} reads.
 */
class WinogradConvTest {
    /** (n, c, h, w, o). */
    static final int[][] SIZES = {{2, 32, 6, 8, 32}, {1, 32, 10, 14, 32}, {1, 33, 7, 5, 40}, {3, 32, 1, 1, 32}, {1, 40, 9, 13, 33}, {2, 64, 4, 3, 48},
            {1, 32, 2, 1, 32}};
    /**
     * F(4×4, 3×3)'s bounds against double: absolute, and as a multiple of ND4J's direct convolution's error plus 2e-6
     * (on 1- and 2-pixel images the direct convolution sums few products, F(4×4) still rounds through whole tiles).
     * Measured: at most 6.5e-6 and 3.5 times ND4J's on these sizes; Lavin and Gray's points 0, ±1, ±2 gave up to 1.5e-5.
     */
    static final double F4_MAX_ERROR = 1e-5, F4_TIMES_DIRECT = 5;

    @Test void theTestJvmRunsTheKernel() {
        assertTrue(NnOps.winogradKernel(), "Winograd kernel off: is --add-modules jdk.incubator.vector missing?");
    }

    @Test void matchesNaiveDoubleAndNd4jAtEveryChunkSize() {
        long seed = 100;
        for (int[] n : SIZES) {
            INDArray x = rand(seed++, n[0], n[1], n[2], n[3]).castTo(DataType.FLOAT);
            INDArray w = rand(seed++, n[4], n[1], 3, 3).divi(Math.sqrt(n[1])).castTo(DataType.FLOAT);
            INDArray b = rand(seed++, n[4]).castTo(DataType.FLOAT);
            for (boolean withBias : new boolean[]{true, false}) {
                INDArray bias = withBias ? b : null;
                INDArray exact = NnOpsNaive.conv2d(x, w, bias, 1, 1, 1, 1);
                INDArray direct = nd4jPath(() -> NnOps.conv2d(Tensor.of(x), Tensor.of(w), bias == null ? null : Tensor.of(bias), 1, 1).data());
                double errDirect = maxAbs(direct.castTo(DataType.DOUBLE).sub(exact));
                // chunks of one tile row (ending inside images), of a few rows, and of everything
                for (WinogradConv.Tile tile : WinogradConv.Tile.values()) {
                    long row = (long) tile.points * 4 * Math.max(n[1], n[4]) * ((n[3] + tile.m - 1) / tile.m);
                    for (long chunk : new long[]{1, row * 3, 1L << 30}) {
                        INDArray got = Nd4j.createUninitialized(DataType.FLOAT, n[0], n[4], n[2], n[3]);
                        WinogradConv.forward(WinogradConv.Input.batch(x), w, bias, got, 1, 2, chunk, tile);
                        double err = maxAbs(got.castTo(DataType.DOUBLE).sub(exact));
                        String what = tile + " " + Arrays.toString(n) + (withBias ? " bias" : " no bias") + " chunk " + chunk;
                        System.out.printf("winograd %s: %.3e, nd4j %.3e (against double)%n", what, err, errDirect);
                        if (tile == WinogradConv.Tile.F2) {
                            assertTrue(err < 2e-6, what + ": " + err);
                            assertTrue(err < 4 * errDirect + 2e-7, what + ": " + err + " against ND4J's " + errDirect);
                        } else {
                            assertTrue(err < F4_MAX_ERROR, what + ": " + err);
                            assertTrue(err < F4_TIMES_DIRECT * errDirect + 2e-6, what + ": " + err + " against ND4J's " + errDirect);
                        }
                    }
                }
            }
        }
    }

    @Test void nnOpsConv2dRunsItAndMatches() {
        INDArray x = rand(200, 2, 48, 10, 11).castTo(DataType.FLOAT), w = rand(201, 36, 48, 3, 3).divi(7).castTo(DataType.FLOAT),
                b = rand(202, 36).castTo(DataType.FLOAT);
        INDArray exact = NnOpsNaive.conv2d(x, w, b, 1, 1, 1, 1);
        INDArray got = NnOps.conv2d(Tensor.of(x), Tensor.of(w), Tensor.of(b), 1, 1).data();
        INDArray direct = nd4jPath(() -> NnOps.conv2d(Tensor.of(x), Tensor.of(w), Tensor.of(b), 1, 1).data());
        assertFalse(Arrays.equals(got.data().asFloat(), direct.data().asFloat()), "the kernel ran (its rounding differs from ND4J's)");
        assertTrue(maxAbs(got.castTo(DataType.DOUBLE).sub(exact)) < 2e-6);
        // an offset view and a permuted (channel-last) input
        INDArray big = rand(203, 3, 48, 10, 11).castTo(DataType.FLOAT);
        INDArray view = Views.interval(big, 0, 1, 3);
        assertTrue(view.offset() > 0, "the test needs an offset view");
        assertTrue(maxAbs(NnOps.conv2d(Tensor.of(view), Tensor.of(w), Tensor.of(b), 1, 1).data().castTo(DataType.DOUBLE)
                .sub(NnOpsNaive.conv2d(view.dup('c'), w, b, 1, 1, 1, 1))) < 2e-6, "offset view");
        INDArray nhwc = rand(204, 2, 10, 11, 48).castTo(DataType.FLOAT);
        INDArray permuted = nhwc.permute(0, 3, 1, 2);
        assertTrue(maxAbs(NnOps.conv2d(Tensor.of(permuted), Tensor.of(w), null, 1, 1).data().castTo(DataType.DOUBLE)
                .sub(NnOpsNaive.conv2d(permuted.dup('c'), w, null, 1, 1, 1, 1))) < 2e-6, "permuted input");
    }

    @Test void videoFramesAreReadInPlace() {
        // (B, C, F, H, W): conv2dFrames reads each frame's planes at stride F·H·W, the same bits as the folded batch
        INDArray x = rand(210, 2, 32, 3, 5, 6).castTo(DataType.FLOAT), w = rand(211, 40, 32, 3, 3).divi(6).castTo(DataType.FLOAT),
                b = rand(212, 40).castTo(DataType.FLOAT);
        INDArray frames = NnOps.conv2dFrames(Tensor.of(x), Tensor.of(w), Tensor.of(b), 1, 1).data();
        INDArray folded = NnOps.conv2d(Rearrange.framesToBatch(Tensor.of(x)), Tensor.of(w), Tensor.of(b), 1, 1).data();
        assertArrayEquals(folded.data().asFloat(), frames.dup('c').data().asFloat(), 0f);
        INDArray exact = NnOpsNaive.conv2d(Rearrange.framesToBatch(Tensor.of(x)).data().dup('c'), w, b, 1, 1, 1, 1);
        assertTrue(maxAbs(frames.castTo(DataType.DOUBLE).sub(exact)) < 2e-6);
    }

    @Test void videoOutputIsTheFramesResultAsAVideo() {
        // conv2dVideo writes (B, O, F, H, W) c-contiguous: the same bits as conv2dFrames's (B·F, O, H, W) seen as a video
        INDArray x = rand(215, 2, 32, 3, 5, 6).castTo(DataType.FLOAT), w = rand(216, 40, 32, 3, 3).divi(6).castTo(DataType.FLOAT),
                b = rand(217, 40).castTo(DataType.FLOAT);
        INDArray video = NnOps.conv2dVideo(Tensor.of(x), Tensor.of(w), Tensor.of(b), 1, 1).data();
        assertArrayEquals(new long[]{2, 40, 3, 5, 6}, video.shape());
        assertTrue(video.ordering() == 'c' && Shape.hasDefaultStridesForShape(video), "c-contiguous");
        INDArray frames = Rearrange.batchToFrames(NnOps.conv2dFrames(Tensor.of(x), Tensor.of(w), Tensor.of(b), 1, 1), 3).data();
        assertArrayEquals(frames.dup('c').data().asFloat(), video.data().asFloat(), 0f);
        // where Winograd does not apply (stride 2), the frames result as a view
        INDArray strided = NnOps.conv2dVideo(Tensor.of(x), Tensor.of(w), Tensor.of(b), 2, 1).data();
        INDArray twin = Rearrange.batchToFrames(NnOps.conv2dFrames(Tensor.of(x), Tensor.of(w), Tensor.of(b), 2, 1), 3).data();
        assertArrayEquals(twin.dup('c').data().asFloat(), strided.dup('c').data().asFloat(), 0f);
        // a video whose frames are a view at an offset (entries 1..2 of 3) is read from its offset
        INDArray three = rand(218, 3, 32, 3, 5, 6).castTo(DataType.FLOAT);
        INDArray tail = Views.interval(three, 0, 1, 3);
        INDArray fromView = NnOps.conv2dVideo(Tensor.of(tail), Tensor.of(w), Tensor.of(b), 1, 1).data();
        INDArray fromCopy = NnOps.conv2dVideo(Tensor.of(tail.dup('c')), Tensor.of(w), Tensor.of(b), 1, 1).data();
        assertArrayEquals(fromCopy.data().asFloat(), fromView.data().asFloat(), 0f);
    }

    @Test void theVectorWeightTransformsGiveTheirScalarTwinsBits() {
        long seed = 900;
        for (WinogradConv.Tile tile : WinogradConv.Tile.values()) {
            for (int c : new int[]{1, 3, 4, 8, 13, 40}) {
                int o = 5;
                INDArray w = rand(seed++, o, c, 3, 3).muli(seed % 3 == 0 ? 1e3 : 1).castTo(DataType.FLOAT);
                FloatPointer wp = new FloatPointer(w.data().addressPointer());
                float[] fast = new float[tile.points * o * c], naive = new float[fast.length];
                Arrays.fill(fast, Float.NaN);
                // two ranges of output channels, as two threads would take them
                WinogradConv.transformWeights(tile, wp, c, o, 0, 2, FloatBuffer.wrap(fast));
                WinogradConv.transformWeights(tile, wp, c, o, 2, o, FloatBuffer.wrap(fast));
                if (tile == WinogradConv.Tile.F2) WinogradConv.transformWeights2Naive(wp, c, o, 0, o, FloatBuffer.wrap(naive));
                else WinogradConv.transformWeights4Naive(wp, c, o, 0, o, FloatBuffer.wrap(naive));
                for (int i = 0; i < fast.length; i++)
                    assertEquals(Float.floatToRawIntBits(naive[i]), Float.floatToRawIntBits(fast[i]),
                            tile + " c=" + c + " element " + i + ": " + fast[i] + " against " + naive[i]);
            }
        }
    }

    /**
     * The chunk rule, and the default path (one chunk here) against chunks of one tile row: OpenBLAS sums a product's
     * terms in another order when the number of tiles in a chunk changes, so the two differ by float rounding only.
     */
    @Test void chunksAreAtLeastTheTransformedWeights() {
        assertEquals(WinogradConv.CHUNK_BYTES, WinogradConv.chunkBytes(WinogradConv.Tile.F4, 32, 32));
        assertEquals(16L * 1280 * 1280 * 4, WinogradConv.chunkBytes(WinogradConv.Tile.F2, 1280, 1280));
        assertEquals(36L * 2560 * 640 * 4, WinogradConv.chunkBytes(WinogradConv.Tile.F4, 2560, 640));
        INDArray x = rand(950, 1, 24, 4, 11, 13).castTo(DataType.FLOAT);       // a video (B, C, F, H, W)
        INDArray w = rand(951, 40, 24, 3, 3).divi(5).castTo(DataType.FLOAT), b = rand(952, 40).castTo(DataType.FLOAT);
        for (WinogradConv.Tile tile : WinogradConv.Tile.values()) {
            System.setProperty(WinogradConv.Tile.PROPERTY, tile == WinogradConv.Tile.F2 ? "2" : "4");
            try {
                INDArray whole = Nd4j.createUninitialized(DataType.FLOAT, 1, 40, 4, 11, 13), rows = whole.ulike();
                WinogradConv.forward(WinogradConv.Input.video(x), w, b, whole, 4, 2);          // one chunk
                WinogradConv.forward(WinogradConv.Input.video(x), w, b, rows, 4, 2, 1, tile);   // one tile row a chunk
                double diff = maxAbs(whole.sub(rows).castTo(DataType.DOUBLE));
                // twice each tile's bound against double (matchesNaiveDoubleAndNd4jAtEveryChunkSize)
                double bound = 2 * (tile == WinogradConv.Tile.F2 ? 2e-6 : F4_MAX_ERROR);
                assertTrue(diff < bound, tile + ": one chunk against chunks of one tile row: " + diff);
            } finally {
                System.clearProperty(WinogradConv.Tile.PROPERTY);
            }
        }
    }

    @Test void threadCountDoesNotChangeAnyBit() {
        INDArray x = rand(220, 3, 32, 9, 10).castTo(DataType.FLOAT), w = rand(221, 32, 32, 3, 3).castTo(DataType.FLOAT),
                b = rand(222, 32).castTo(DataType.FLOAT);
        for (WinogradConv.Tile tile : WinogradConv.Tile.values()) {
            INDArray one = Nd4j.create(DataType.FLOAT, 3, 32, 9, 10), three = Nd4j.create(DataType.FLOAT, 3, 32, 9, 10);
            WinogradConv.forward(WinogradConv.Input.batch(x), w, b, one, 1, 1, WinogradConv.CHUNK_BYTES, tile);
            WinogradConv.forward(WinogradConv.Input.batch(x), w, b, three, 1, 3, WinogradConv.CHUNK_BYTES, tile);
            assertArrayEquals(one.data().asFloat(), three.data().asFloat(), 0f, tile.toString());
        }
    }

    @Test void theTileFollowsTheProductsAndTheProperty() {
        // LaVie's levels at 320 × 512: F(4×4) at 40 × 64 and 20 × 32, F(2×2) at 10 × 16 and 5 × 8 (and on tiny images)
        assertEquals(WinogradConv.Tile.F4, WinogradConv.Tile.choose(40, 64));
        assertEquals(WinogradConv.Tile.F4, WinogradConv.Tile.choose(20, 32));
        assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(10, 16));
        assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(5, 8));
        assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(1, 1));
        // a row of 8 tiles (29 pixels) fills a vector; below, F(2×2) however few products F(4×4) would take
        assertEquals(WinogradConv.Tile.F4, WinogradConv.Tile.choose(8, 29));
        assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(8, 28));
        assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(64, 16));
        // cut border tiles: 5 rows of 64 take 2 tile rows of 4 (products 0.75 of F(2×2)'s)
        assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(5, 64));
        assertEquals(36L * 10 * 16, WinogradConv.Tile.F4.products(40, 64));
        assertEquals(16L * 3 * 4, WinogradConv.Tile.F2.products(5, 8));
        String key = "lavie.conv.winogradTile", was = System.getProperty(key);
        try {
            System.setProperty(key, "4");
            assertEquals(WinogradConv.Tile.F4, WinogradConv.Tile.choose(5, 8));
            System.setProperty(key, "2");
            assertEquals(WinogradConv.Tile.F2, WinogradConv.Tile.choose(40, 64));
            System.setProperty(key, "3");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WinogradConv.Tile.choose(40, 64));
            assertTrue(e.getMessage().contains(key) && e.getMessage().contains("'3'"), e.getMessage());
        } finally {
            if (was == null) System.clearProperty(key);
            else System.setProperty(key, was);
        }
    }

    @Test void f4RunsThroughNnOpsAndReadsVideosInPlace() {
        // an 8 × 34 image takes F(4×4, 3×3): NnOps.conv2d gives the kernel's bits, within its bound of double
        INDArray x = rand(250, 2, 40, 8, 34).castTo(DataType.FLOAT), w = rand(251, 36, 40, 3, 3).divi(8).castTo(DataType.FLOAT),
                b = rand(252, 36).castTo(DataType.FLOAT);
        assertEquals(WinogradConv.Tile.F4, WinogradConv.Tile.choose(8, 34));
        INDArray got = NnOps.conv2d(Tensor.of(x), Tensor.of(w), Tensor.of(b), 1, 1).data();
        INDArray f4 = Nd4j.createUninitialized(DataType.FLOAT, 2, 36, 8, 34);
        WinogradConv.forward(WinogradConv.Input.batch(x), w, b, f4, 1, 2, WinogradConv.CHUNK_BYTES, WinogradConv.Tile.F4);
        assertArrayEquals(f4.data().asFloat(), got.data().asFloat(), 0f);
        INDArray exact = NnOpsNaive.conv2d(x, w, b, 1, 1, 1, 1);
        assertTrue(maxAbs(got.castTo(DataType.DOUBLE).sub(exact)) < F4_MAX_ERROR);
        // a (B, C, F, H, W) video in and out: the batch's bits
        INDArray video = rand(253, 2, 40, 3, 8, 34).castTo(DataType.FLOAT);
        INDArray frames = NnOps.conv2dVideo(Tensor.of(video), Tensor.of(w), Tensor.of(b), 1, 1).data();
        INDArray batch = NnOps.conv2d(Rearrange.framesToBatch(Tensor.of(video)), Tensor.of(w), Tensor.of(b), 1, 1).data();
        INDArray asVideo = Rearrange.batchToFrames(Tensor.of(batch), 3).data();
        assertArrayEquals(asVideo.dup('c').data().asFloat(), frames.dup('c').data().asFloat(), 0f);
    }

    /**
     * conv2dVideoAdd (a resnet's time embedding or shortcut added as the kernel writes each value) against conv2dVideo
     * then addInto: the same floats bit for bit, with both tiles, a chunk that ends inside a video, two batch entries;
     * other addends (broadcast over the batch, strided) and a recording tape take the composed ops.
     */
    @Test void conv2dVideoAddIsTheConvolutionThenTheAdd() {
        for (int[] c : new int[][]{{2, 32, 3, 5, 6, 40}, {2, 40, 2, 8, 34, 36}}) {     // (b, c, f, h, w, o): F(2×2), F(4×4)
            INDArray x = rand(260, c[0], c[1], c[2], c[3], c[4]).castTo(DataType.FLOAT);
            Tensor w = Tensor.of(rand(261, c[5], c[1], 3, 3).divi(6).castTo(DataType.FLOAT)), b = Tensor.of(rand(262, c[5]).castTo(DataType.FLOAT));
            INDArray temb = rand(263, c[0], c[5], 1, 1, 1).muli(5).castTo(DataType.FLOAT);
            INDArray shortcut = rand(264, c[0], c[5], c[2], c[3], c[4]).muli(5).castTo(DataType.FLOAT);
            INDArray keep = shortcut.dup();
            for (INDArray addend : new INDArray[]{temb, shortcut}) {
                float[] want = Ops.addInto(NnOps.conv2dVideo(Tensor.of(x), w, b, 1, 1), Tensor.of(addend)).data().dup('c').data().asFloat();
                INDArray got = NnOps.conv2dVideoAdd(Tensor.of(x), w, b, 1, 1, Tensor.of(addend)).data();
                assertArrayEquals(new long[]{c[0], c[5], c[2], c[3], c[4]}, got.shape());
                assertTrue(Shape.hasDefaultStridesForShape(got));
                assertArrayEquals(want, got.data().asFloat(), 0f, Arrays.toString(c) + " addend " + Arrays.toString(addend.shape()));
            }
            assertEquals(keep, shortcut, "the residual is only read");
            // in chunks of one tile row: chunks end inside a frame and inside the video
            INDArray out = Nd4j.createUninitialized(DataType.FLOAT, c[0], c[5], c[2], c[3], c[4]);
            WinogradConv.Tile tile = WinogradConv.Tile.choose(c[3], c[4]);
            INDArray plain = Nd4j.createUninitialized(DataType.FLOAT, c[0], c[5], c[2], c[3], c[4]);
            WinogradConv.forward(WinogradConv.Input.video(x), w.data(), b.data(), null, null, plain, c[2], 2, 1, tile);
            WinogradConv.forward(WinogradConv.Input.video(x), w.data(), b.data(), null, shortcut, out, c[2], 2, 1, tile);
            assertArrayEquals(plain.addi(shortcut).data().asFloat(), out.data().asFloat(), 0f, "one tile row per chunk");
            // composed: a time embedding broadcast over the batch, a strided shortcut
            INDArray shared = rand(265, 1, c[5], 1, 1, 1).castTo(DataType.FLOAT);
            INDArray strided = rand(266, c[0], c[5], c[2], c[4], c[3]).castTo(DataType.FLOAT).permute(0, 1, 2, 4, 3);
            for (INDArray addend : new INDArray[]{shared, strided})
                assertArrayEquals(NnOps.conv2dVideo(Tensor.of(x), w, b, 1, 1).data().add(addend).data().asFloat(),
                        NnOps.conv2dVideoAdd(Tensor.of(x), w, b, 1, 1, Tensor.of(addend)).data().dup('c').data().asFloat(), 0f);
        }
        try (Tape tape = Grad.record()) {
            Tensor x = Tensor.leaf(rand(267, 1, 32, 2, 4, 4).castTo(DataType.FLOAT), true);
            Tensor r = Tensor.leaf(rand(268, 1, 32, 2, 4, 4).castTo(DataType.FLOAT), true);
            Tensor w = Tensor.of(rand(269, 32, 32, 3, 3).divi(6).castTo(DataType.FLOAT));
            Tensor y = NnOps.conv2dVideoAdd(x, w, null, 1, 1, r);
            tape.backward(y, y.data().ulike().assign(1.0));
            assertNotNull(x.grad(), "recorded: the composed ops, with gradients");
            assertEquals(r.data().ulike().assign(1.0), r.grad());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> WinogradConv.forward(WinogradConv.Input.video(rand(270, 1, 32, 2, 4, 4).castTo(DataType.FLOAT)),
                rand(271, 32, 32, 3, 3).castTo(DataType.FLOAT), null, new float[3], null, Nd4j.createUninitialized(DataType.FLOAT, 1, 32, 2, 4, 4), 2, 1,
                WinogradConv.CHUNK_BYTES, WinogradConv.Tile.F2));
        assertTrue(e.getMessage().contains("3 plane terms"), e.getMessage());
    }

    @Test void otherConvolutionsRunNd4j() {
        // stride 2, padding 0, 1x1 kernels and thin channel counts: ND4J's result bit for bit
        long seed = 230;
        int[][] cases = {{32, 32, 3, 2, 1}, {32, 32, 3, 1, 0}, {32, 32, 1, 1, 0}, {4, 32, 3, 1, 1}, {32, 4, 3, 1, 1}};   // c, o, k, stride, pad
        for (int[] c : cases) {
            INDArray x = rand(seed++, 2, c[0], 6, 7).castTo(DataType.FLOAT), w = rand(seed++, c[1], c[0], c[2], c[2]).castTo(DataType.FLOAT);
            INDArray got = NnOps.conv2d(Tensor.of(x), Tensor.of(w), null, c[3], c[4]).data();
            INDArray direct = nd4jPath(() -> NnOps.conv2d(Tensor.of(x), Tensor.of(w), null, c[3], c[4]).data());
            assertArrayEquals(direct.data().asFloat(), got.data().asFloat(), 0f, Arrays.toString(c));
        }
    }

    @Test void trainingTakesNd4jWithGradientsAndTheSameBitsWithRecordingOff() {
        INDArray x = rand(240, 1, 32, 5, 6).castTo(DataType.FLOAT), w = rand(241, 32, 32, 3, 3).castTo(DataType.FLOAT);
        INDArray direct = nd4jPath(() -> NnOps.conv2d(Tensor.of(x), Tensor.of(w), null, 1, 1).data());
        Tensor leaf = Tensor.leaf(x, true);
        try (Tape tape = Grad.record()) {
            Tensor y = NnOps.conv2d(leaf, Tensor.of(w), null, 1, 1);
            assertTrue(y.requiresGrad());
            assertArrayEquals(direct.data().asFloat(), y.data().data().asFloat(), 0f, "recorded");
            tape.backward(y, Nd4j.onesLike(y.data()));
        }
        assertNotNull(leaf.grad(), "gradient of x");
        // a checkpointed segment's first forward (recording off inside a training step) gives its recomputation's bits
        try (Tape outer = Grad.record(); Tape off = Grad.disabled()) {
            assertArrayEquals(direct.data().asFloat(), NnOps.conv2d(Tensor.of(x), Tensor.of(w), null, 1, 1).data().data().asFloat(), 0f);
        }
    }

    private static double maxAbs(INDArray x) { return x.amaxNumber().doubleValue(); }

    private static INDArray nd4jPath(Supplier<INDArray> call) {
        boolean was = NnOps.winogradKernel(false);
        try {
            return call.get();
        } finally {
            NnOps.winogradKernel(was);
        }
    }
}
