package org.lavie4j.core.media;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Synthetic clips for the media tests. */
final class TestVideos {
    private TestVideos() {}

    /** Smooth content: diagonal colour gradients plus a soft-edged disc moving left to right. */
    static Video smooth(int frames, int h, int w, double fps) {
        byte[][] rgb = new byte[frames][3 * h * w];
        for (int f = 0; f < frames; f++) {
            double cx = w * (0.2 + 0.6 * f / Math.max(1, frames - 1)), cy = h * 0.5, radius = h * 0.25;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double d = Math.hypot(x - cx, y - cy);
                    double disc = Math.max(0, Math.min(1, (radius - d) / 3 + 0.5));   // 3-pixel soft edge
                    double r = 255.0 * x / (w - 1), g = 255.0 * y / (h - 1), b = 128 + 100 * Math.sin((x + y + 4 * f) / 10.0);
                    int o = 3 * (y * w + x);
                    rgb[f][o] = (byte) Math.round(r * (1 - disc) + 240 * disc);
                    rgb[f][o + 1] = (byte) Math.round(g * (1 - disc) + 200 * disc);
                    rgb[f][o + 2] = (byte) Math.round(b * (1 - disc) + 40 * disc);
                }
            }
        }
        return Video.fromRgb(rgb, h, w, fps);
    }

    /** At most {@code colours} distinct colours per frame (blocks of a fixed palette, shifted per frame). */
    static Video paletted(int frames, int h, int w, int colours, double fps) {
        byte[][] rgb = new byte[frames][3 * h * w];
        for (int f = 0; f < frames; f++) {
            for (int p = 0; p < h * w; p++) {
                int k = (p / 3 + 7 * f) % colours;
                rgb[f][3 * p] = (byte) (k * 37);
                rgb[f][3 * p + 1] = (byte) (k * 11 + 3);
                rgb[f][3 * p + 2] = (byte) (255 - k);
            }
        }
        return Video.fromRgb(rgb, h, w, fps);
    }

    static void assertSameFrames(Video expected, Video actual) {
        assertEquals(expected.frames(), actual.frames(), "frames");
        assertEquals(expected.height(), actual.height(), "height");
        assertEquals(expected.width(), actual.width(), "width");
        for (int f = 0; f < expected.frames(); f++)
            org.junit.jupiter.api.Assertions.assertArrayEquals(expected.rgb(f), actual.rgb(f), "frame " + f);
    }

    /** Mean absolute error per channel (R, G, B) in levels of 255, over all frames. */
    static double[] meanAbsError(Video a, Video b) {
        double[] sum = new double[3];
        long n = 0;
        for (int f = 0; f < a.frames(); f++) {
            byte[] x = a.rgb(f), y = b.rgb(f);
            for (int i = 0; i < x.length; i++) sum[i % 3] += Math.abs((x[i] & 0xff) - (y[i] & 0xff));
            n += x.length / 3;
        }
        for (int c = 0; c < 3; c++) sum[c] /= n;
        return sum;
    }

    /** Every name in {@code dir}, hidden ones included. */
    static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
