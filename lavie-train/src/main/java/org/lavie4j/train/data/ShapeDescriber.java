package org.lavie4j.train.data;

import org.lavie4j.core.media.Video;
import org.lavie4j.train.data.ShapeCaption.Colour;
import org.lavie4j.train.data.ShapeCaption.Direction;
import org.lavie4j.train.data.ShapeCaption.Shape;

import java.util.Arrays;

/**
 * Reads back what a synthetic-shapes video shows, from pixel statistics alone, to measure how well generated videos
 * follow their prompts: the colour of the moving blob, its direction of motion and (less robustly) its shape.
 *
 * <ul>
 *   <li><b>Background</b> of each frame: the per-channel median (the shape covers far less than half the frame).
 *   <li><b>Blob</b>: pixels whose largest channel difference from the background exceeds half the frame's peak
 *       difference (the 99.5th percentile, at least {@value #MIN_CONTRAST} levels), i.e. at least half covered.
 *   <li><b>Colour</b>: the dominant colour among blob pixels; each votes, weighted by its contrast, for
 *       {@link Colour#WHITE} when its saturation is below {@value #WHITE_SATURATION}, else for the colour of nearest hue.
 *   <li><b>Direction</b>: the least-squares slope of the blob centroid over the frames, times the frame count - 1 (the
 *       displacement first to last frame, robust to one bad frame); the larger axis gives left/right/up/down; a
 *       displacement under 5% of the shorter frame side (at least one pixel) is "not moving" (null).
 *   <li><b>Shape</b>: from the median over frames of the blob's fill of its bounding box (square ~1, circle ~π/4,
 *       triangle and diamond ~1/2) and, for the half-filled ones, how far its mass centre sits below the box centre
 *       (triangle 1/3 of the half height, diamond 0).
 * </ul>
 */
public final class ShapeDescriber {
    static final int MIN_CONTRAST = 32;
    static final double WHITE_SATURATION = 0.25;

    private ShapeDescriber() {}

    /**
     * What a video shows; a part that cannot be told is null (no blob in any frame: all null).
     *
     * @param colour     dominant colour of the blob
     * @param shape      its shape
     * @param direction  its direction of motion (null when it does not move)
     * @param dx         displacement first to last frame in pixels (right positive)
     * @param dy         displacement in pixels (down positive)
     * @param colourShare share of the blob's colour votes the winning colour got (1 = every pixel agrees)
     * @param coverage   mean fraction of the frame the blob covers
     * @param framesWithBlob frames in which a blob was found
     */
    public record Description(Colour colour, Shape shape, Direction direction, double dx, double dy, double colourShare,
                              double coverage, int framesWithBlob) {
        /** "a red circle moving left", with "?" for parts that could not be told. */
        public String caption() {
            return "a " + (colour == null ? "?" : colour.word()) + " " + (shape == null ? "?" : shape.word()) + " moving "
                    + (direction == null ? "?" : direction.word());
        }

        /** Whether colour and direction agree with {@code c} (the prompt-following criterion; shape not required). */
        public boolean matches(ShapeCaption c) {
            return c.colour() == colour && c.direction() == direction;
        }

        /** Whether colour, shape and direction all agree with {@code c}. */
        public boolean matchesAll(ShapeCaption c) {
            return matches(c) && c.shape() == shape;
        }
    }

    /** Describes {@code v} (see the class comment). */
    public static Description describe(Video v) {
        int h = v.height(), w = v.width(), n = h * w, frames = v.frames();
        double[] votes = new double[Colour.values().length];
        double[] cx = new double[frames], cy = new double[frames];
        boolean[] has = new boolean[frames];
        double[] fills = new double[frames], offsets = new double[frames];
        int found = 0;
        double coverage = 0;
        int[] dist = new int[n];
        for (int f = 0; f < frames; f++) {
            byte[] rgb = v.rgb(f);
            int[] bg = {median(rgb, 0, n), median(rgb, 1, n), median(rgb, 2, n)};
            for (int p = 0; p < n; p++) {
                int d = 0;
                for (int c = 0; c < 3; c++) d = Math.max(d, Math.abs((rgb[3 * p + c] & 0xff) - bg[c]));
                dist[p] = d;
            }
            int[] sorted = dist.clone();
            Arrays.sort(sorted);
            int peak = sorted[Math.min(n - 1, (int) Math.floor(0.995 * n))];
            if (peak < MIN_CONTRAST) peak = sorted[n - 1];   // a blob smaller than 0.5% of the frame
            if (peak < MIN_CONTRAST) continue;
            double threshold = Math.max(MIN_CONTRAST / 2.0, peak / 2.0);
            long area = 0;
            double sx = 0, sy = 0;
            int minX = w, maxX = -1, minY = h, maxY = -1;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int p = y * w + x;
                    if (dist[p] <= threshold) continue;
                    area++;
                    sx += x;
                    sy += y;
                    minX = Math.min(minX, x);
                    maxX = Math.max(maxX, x);
                    minY = Math.min(minY, y);
                    maxY = Math.max(maxY, y);
                    int r = rgb[3 * p] & 0xff, g = rgb[3 * p + 1] & 0xff, b = rgb[3 * p + 2] & 0xff;
                    votes[colourOf(r, g, b).ordinal()] += dist[p];
                }
            }
            if (area == 0) continue;
            has[f] = true;
            found++;
            coverage += area / (double) n;
            cx[f] = sx / area;
            cy[f] = sy / area;
            double bw = maxX - minX + 1, bh = maxY - minY + 1;
            fills[f] = area / (bw * bh);
            offsets[f] = (cy[f] - (minY + maxY) / 2.0) / (bh / 2.0);
        }
        if (found == 0) return new Description(null, null, null, 0, 0, 0, 0, 0);
        int best = 0;
        double total = 0;
        for (int c = 0; c < votes.length; c++) {
            total += votes[c];
            if (votes[c] > votes[best]) best = c;
        }
        Colour colour = Colour.values()[best];

        double[] d = displacement(has, cx, cy, frames);
        double minMove = Math.max(1.0, 0.05 * Math.min(h, w));
        Direction direction = null;
        if (Math.hypot(d[0], d[1]) >= minMove)
            direction = Math.abs(d[0]) >= Math.abs(d[1]) ? (d[0] < 0 ? Direction.LEFT : Direction.RIGHT) : (d[1] < 0 ? Direction.UP : Direction.DOWN);

        double fill = medianOf(fills, has), offset = medianOf(offsets, has);
        Shape shape = fill > 0.89 ? Shape.SQUARE : fill > 0.66 ? Shape.CIRCLE : offset > 0.17 ? Shape.TRIANGLE : Shape.DIAMOND;
        return new Description(colour, shape, direction, d[0], d[1], votes[best] / total, coverage / found, found);
    }

    /** The colour a pixel votes for: white when it is nearly grey, else the colour of nearest hue. */
    static Colour colourOf(int r, int g, int b) {
        if (ShapeCaption.Hsv.saturation(r, g, b) < WHITE_SATURATION) return Colour.WHITE;
        double hue = ShapeCaption.Hsv.hue(r, g, b);
        Colour best = null;
        double bestD = Double.MAX_VALUE;
        for (Colour c : Colour.values()) {
            if (c == Colour.WHITE) continue;
            double dh = Math.abs(hue - c.hue());
            dh = Math.min(dh, 360 - dh);
            if (dh < bestD) {
                bestD = dh;
                best = c;
            }
        }
        return best;
    }

    /** Least-squares slope of the centroid over the frames that have a blob, times (frames - 1): {dx, dy}. */
    private static double[] displacement(boolean[] has, double[] cx, double[] cy, int frames) {
        double st = 0, sx = 0, sy = 0, m = 0;
        for (int f = 0; f < frames; f++) {
            if (!has[f]) continue;
            st += f;
            sx += cx[f];
            sy += cy[f];
            m++;
        }
        if (m < 2) return new double[]{0, 0};
        double mt = st / m, mx = sx / m, my = sy / m, stt = 0, stx = 0, sty = 0;
        for (int f = 0; f < frames; f++) {
            if (!has[f]) continue;
            stt += (f - mt) * (f - mt);
            stx += (f - mt) * (cx[f] - mx);
            sty += (f - mt) * (cy[f] - my);
        }
        if (stt == 0) return new double[]{0, 0};
        return new double[]{stx / stt * (frames - 1), sty / stt * (frames - 1)};
    }

    private static int median(byte[] rgb, int channel, int n) {
        int[] hist = new int[256];
        for (int p = 0; p < n; p++) hist[rgb[3 * p + channel] & 0xff]++;
        int half = (n + 1) / 2, run = 0;
        for (int v = 0; v < 256; v++) {
            run += hist[v];
            if (run >= half) return v;
        }
        return 255;
    }

    private static double medianOf(double[] values, boolean[] has) {
        double[] v = new double[values.length];
        int m = 0;
        for (int i = 0; i < values.length; i++) if (has[i]) v[m++] = values[i];
        double[] s = Arrays.copyOf(v, m);
        Arrays.sort(s);
        return m % 2 == 1 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
    }
}
