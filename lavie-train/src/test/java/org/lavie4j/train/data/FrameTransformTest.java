package org.lavie4j.train.data;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.media.Video;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Resize of the shorter side, center crop, flip and [-1, 1]: identity, crops, means, mirror. */
class FrameTransformTest {
    private static float[] run(byte[] rgb, int h, int w, int oh, int ow, boolean flip) {
        float[] dst = new float[3 * oh * ow];
        new FrameTransform(h, w, oh, ow).apply(rgb, flip, dst, 0, 1);
        return dst;
    }

    @Test
    void equalSizesAreVideoToTensorExactly() {
        byte[] rgb = new byte[3 * 6 * 10];
        new Random(3).nextBytes(rgb);
        float[] want = Video.fromRgb(new byte[][]{rgb}, 6, 10, 8).toTensor().data().asFloat();
        assertArrayEquals(want, run(rgb, 6, 10, 6, 10, false));
    }

    @Test
    void wideFramesAreCroppedInTheMiddleAndFlipMirrors() {
        // 8 x 24: left third red, middle green, right third blue -> 8 x 8 is the green middle
        int h = 8, w = 24;
        byte[] rgb = new byte[3 * h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) rgb[3 * (y * w + x) + x / 8] = (byte) 255;
        float[] out = run(rgb, h, w, 8, 8, false);
        for (int p = 0; p < 64; p++) {
            assertEquals(-1f, out[p], 1e-6);
            assertEquals(1f, out[64 + p], 1e-6);
            assertEquals(-1f, out[128 + p], 1e-6);
        }
        // 16 x 48 -> 8 x 8: halved (antialiased), same middle; a constant stays constant
        byte[] big = new byte[3 * 16 * 48];
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 48; x++) big[3 * (y * 48 + x) + x / 16] = (byte) 255;
        float[] half = run(big, 16, 48, 8, 8, false);
        for (int y = 0; y < 8; y++)
            for (int x = 1; x < 7; x++) assertEquals(1f, half[64 + y * 8 + x], 1e-5, "green at " + y + "," + x);
        byte[] grey = new byte[3 * 30 * 50];
        Arrays.fill(grey, (byte) 100);
        for (float v : run(grey, 30, 50, 12, 16, false)) assertEquals(100 / 127.5 - 1, v, 1e-5);

        byte[] rnd = new byte[3 * 9 * 13];
        new Random(4).nextBytes(rnd);
        float[] a = run(rnd, 9, 13, 7, 5, false), b = run(rnd, 9, 13, 7, 5, true);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 7; y++)
                for (int x = 0; x < 5; x++) assertEquals(a[(c * 7 + y) * 5 + x], b[(c * 7 + y) * 5 + 4 - x]);
    }

    @Test
    void downscaleKeepsTheMean() {
        byte[] rgb = new byte[3 * 64 * 64];
        new Random(5).nextBytes(rgb);
        double in = 0;
        for (byte v : rgb) in += (v & 0xff) / 127.5 - 1;
        double out = 0;
        for (float v : run(rgb, 64, 64, 16, 16, false)) out += v;
        assertEquals(in / rgb.length, out / (3 * 16 * 16), 0.01);
    }
}
