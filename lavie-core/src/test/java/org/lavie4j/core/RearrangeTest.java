package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.assertGradients;
import static org.lavie4j.core.GradAssert.rand;

/** Every named rearrange against index loops (the naive twin), round trips and gradient checks. */
class RearrangeTest {
    static final int B = 2, C = 3, F = 4, H = 2, W = 3;

    @Test void framesToBatchMovesValues() {
        INDArray video = rand(1, B, C, F, H, W);
        INDArray out = Rearrange.framesToBatch(Tensor.of(video)).data();
        assertArrayEquals(new long[]{B * F, C, H, W}, out.shape());
        for (int b = 0; b < B; b++) for (int c = 0; c < C; c++) for (int f = 0; f < F; f++)
            for (int y = 0; y < H; y++) for (int x = 0; x < W; x++)
                assertEquals(video.getDouble(b, c, f, y, x), out.getDouble(b * F + f, c, y, x), 0.0);
        assertEquals(video, Rearrange.batchToFrames(Tensor.of(out), F).data());
    }

    @Test void spatialTokensAreRowMajorPixels() {
        INDArray frames = rand(2, B * F, C, H, W);
        INDArray tokens = Rearrange.toSpatialTokens(Tensor.of(frames)).data();
        assertArrayEquals(new long[]{B * F, H * W, C}, tokens.shape());
        for (int n = 0; n < B * F; n++) for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) for (int x = 0; x < W; x++)
                assertEquals(frames.getDouble(n, c, y, x), tokens.getDouble(n, y * W + x, c), 0.0);
        assertEquals(frames, Rearrange.fromSpatialTokens(Tensor.of(tokens), H, W).data());
    }

    @Test void temporalTokensAreBatchOuterPixelInner() {
        INDArray tokens = rand(3, B * F, H * W, C);
        INDArray temporal = Rearrange.toTemporalTokens(Tensor.of(tokens), F).data();
        assertArrayEquals(new long[]{B * H * W, F, C}, temporal.shape());
        for (int b = 0; b < B; b++) for (int f = 0; f < F; f++) for (int p = 0; p < H * W; p++) for (int c = 0; c < C; c++)
            assertEquals(tokens.getDouble(b * F + f, p, c), temporal.getDouble(b * H * W + p, f, c), 0.0);
        assertEquals(tokens, Rearrange.fromTemporalTokens(Tensor.of(temporal), B).data());
    }

    @Test void videoToTemporalTokensMatchesTheTwoStepPath() {
        INDArray video = rand(4, B, C, F, H, W);
        INDArray direct = Rearrange.videoToTemporalTokens(Tensor.of(video)).data();
        for (int b = 0; b < B; b++) for (int c = 0; c < C; c++) for (int f = 0; f < F; f++)
            for (int y = 0; y < H; y++) for (int x = 0; x < W; x++)
                assertEquals(video.getDouble(b, c, f, y, x), direct.getDouble((b * H + y) * W + x, f, c), 0.0);
        Tensor twoStep = Rearrange.toTemporalTokens(Rearrange.toSpatialTokens(Rearrange.framesToBatch(Tensor.of(video))), F);
        assertEquals(direct, twoStep.data());
        assertEquals(video, Rearrange.temporalTokensToVideo(Tensor.of(direct), B, H, W).data());
    }

    @Test void roundTripsAreIdentity() {
        Tensor video = Tensor.of(rand(5, B, C, F, H, W));
        Tensor tokens = Rearrange.toSpatialTokens(Rearrange.framesToBatch(video));
        Tensor back = Rearrange.batchToFrames(Rearrange.fromSpatialTokens(
                Rearrange.fromTemporalTokens(Rearrange.toTemporalTokens(tokens, F), B), H, W), F);
        assertEquals(video.data(), back.data());
    }

    @Test void gradients() {
        INDArray video = rand(6, B, C, F, H, W), frames = rand(7, B * F, C, H, W);
        INDArray tokens = rand(8, B * F, H * W, C), temporal = rand(9, B * H * W, F, C);
        assertGradients("framesToBatch", t -> Rearrange.framesToBatch(t[0]), video);
        assertGradients("batchToFrames", t -> Rearrange.batchToFrames(t[0], F), frames);
        assertGradients("toSpatialTokens", t -> Rearrange.toSpatialTokens(t[0]), frames);
        assertGradients("fromSpatialTokens", t -> Rearrange.fromSpatialTokens(t[0], H, W), tokens);
        assertGradients("toTemporalTokens", t -> Rearrange.toTemporalTokens(t[0], F), tokens);
        assertGradients("fromTemporalTokens", t -> Rearrange.fromTemporalTokens(t[0], B), temporal);
        assertGradients("videoToTemporalTokens", t -> Rearrange.videoToTemporalTokens(t[0]), video);
        assertGradients("temporalTokensToVideo", t -> Rearrange.temporalTokensToVideo(t[0], B, H, W), temporal);
    }

    @Test void badShapesNameTheShape() {
        var e = assertThrows(IllegalArgumentException.class, () -> Rearrange.batchToFrames(Tensor.of(rand(1, 6, 3, 2, 2)), 4));
        assertTrue(e.getMessage().contains("[6, 3, 2, 2]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Rearrange.fromSpatialTokens(Tensor.of(rand(1, 2, 5, 3)), 2, 3));
        assertTrue(e.getMessage().contains("[2, 5, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Rearrange.framesToBatch(Tensor.of(rand(1, 2, 3, 4))));
        assertTrue(e.getMessage().contains("[2, 3, 4]"), e.getMessage());
    }
}
