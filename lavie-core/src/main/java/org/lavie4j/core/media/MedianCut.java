package org.lavie4j.core.media;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Median-cut colour quantisation to at most 256 colours (Heckbert, "Color image quantization for frame buffer
 * display", 1982), for GIF frames with more colours than a GIF palette holds. The JDK GIF writer's own quantiser (an
 * octree) loses colours even in images that have only two, so frames are never handed to it unindexed.
 *
 * <p>Boxes are cut over a 5-bit-per-channel histogram: the box whose pixels spread most (summed squared deviation
 * from its mean) is cut at the pixel median of its widest-spread channel; a box's colour is the mean of the exact
 * colours in it. Each
 * pixel maps to the palette colour nearest (squared RGB distance) to its 6-bit-per-channel cell centre. No dithering:
 * dither patterns shimmer from frame to frame in an animation.
 */
final class MedianCut {
    private MedianCut() {}

    /** A palette (RGB triples) and one palette index per pixel. */
    record Indexed(byte[] r, byte[] g, byte[] b, byte[] pixels) {}

    static Indexed quantize(byte[] rgb, int maxColours) {
        int n = rgb.length / 3;
        int[] count = new int[1 << 15];
        long[] sum = new long[3 << 15];
        for (int p = 0; p < n; p++) {
            int r = rgb[3 * p] & 0xff, g = rgb[3 * p + 1] & 0xff, b = rgb[3 * p + 2] & 0xff;
            int cell = (r >> 3) << 10 | (g >> 3) << 5 | b >> 3;
            count[cell]++;
            sum[3 * cell] += r;
            sum[3 * cell + 1] += g;
            sum[3 * cell + 2] += b;
        }
        int occupied = 0;
        for (int c : count) if (c > 0) occupied++;
        int[] cells = new int[occupied];
        for (int c = 0, i = 0; c < count.length; c++) if (count[c] > 0) cells[i++] = c;

        List<int[]> boxes = new ArrayList<>();   // {from, to} ranges of cells
        boxes.add(new int[]{0, occupied});
        while (boxes.size() < maxColours) {
            int best = -1;
            double bestScore = 0;
            int axis = 0;
            for (int i = 0; i < boxes.size(); i++) {
                int[] box = boxes.get(i);
                if (box[1] - box[0] < 2) continue;
                double[] sse = spread(count, sum, cells, box);
                double total = sse[0] + sse[1] + sse[2];
                if (total > bestScore) {
                    bestScore = total;
                    best = i;
                    axis = sse[1] > sse[0] ? (sse[2] > sse[1] ? 2 : 1) : (sse[2] > sse[0] ? 2 : 0);
                }
            }
            if (best < 0) break;   // every box is a single cell
            int[] box = boxes.get(best);
            int[] keys = new int[box[1] - box[0]];
            for (int i = box[0]; i < box[1]; i++) keys[i - box[0]] = component(cells[i], axis) << 15 | cells[i];
            Arrays.sort(keys);
            for (int i = box[0]; i < box[1]; i++) cells[i] = keys[i - box[0]] & 0x7fff;
            long half = population(count, cells, box) / 2, run = 0;
            int cut = box[0] + 1;
            for (int i = box[0]; i < box[1] - 1; i++) {
                run += count[cells[i]];
                cut = i + 1;
                if (run >= half) break;
            }
            boxes.set(best, new int[]{box[0], cut});
            boxes.add(new int[]{cut, box[1]});
        }

        int k = boxes.size();
        byte[] pr = new byte[k], pg = new byte[k], pb = new byte[k];
        int[] rgbOf = new int[k];
        for (int i = 0; i < k; i++) {
            int[] box = boxes.get(i);
            long sr = 0, sg = 0, sb = 0, m = 0;
            for (int j = box[0]; j < box[1]; j++) {
                int c = cells[j];
                sr += sum[3 * c];
                sg += sum[3 * c + 1];
                sb += sum[3 * c + 2];
                m += count[c];
            }
            int r = (int) ((sr + m / 2) / m), g = (int) ((sg + m / 2) / m), b = (int) ((sb + m / 2) / m);
            pr[i] = (byte) r;
            pg[i] = (byte) g;
            pb[i] = (byte) b;
            rgbOf[i] = r << 16 | g << 8 | b;
        }

        int[] nearest = new int[1 << 18];   // 6-bit cell -> palette index + 1 (0: not yet computed)
        byte[] pixels = new byte[n];
        for (int p = 0; p < n; p++) {
            int r = rgb[3 * p] & 0xff, g = rgb[3 * p + 1] & 0xff, b = rgb[3 * p + 2] & 0xff;
            int cell = (r >> 2) << 12 | (g >> 2) << 6 | b >> 2;
            int idx = nearest[cell] - 1;
            if (idx < 0) {
                idx = closest(rgbOf, (r & ~3) + 2, (g & ~3) + 2, (b & ~3) + 2);
                nearest[cell] = idx + 1;
            }
            pixels[p] = (byte) idx;
        }
        return new Indexed(pr, pg, pb, pixels);
    }

    private static int closest(int[] palette, int r, int g, int b) {
        int best = 0, bestD = Integer.MAX_VALUE;
        for (int i = 0; i < palette.length; i++) {
            int dr = (palette[i] >> 16 & 0xff) - r, dg = (palette[i] >> 8 & 0xff) - g, db = (palette[i] & 0xff) - b;
            int d = dr * dr + dg * dg + db * db;
            if (d < bestD) {
                bestD = d;
                best = i;
            }
        }
        return best;
    }

    private static long population(int[] count, int[] cells, int[] box) {
        long s = 0;
        for (int i = box[0]; i < box[1]; i++) s += count[cells[i]];
        return s;
    }

    /** Per channel, the squared deviation of the box's pixels from the box mean (cells stand for their mean colour). */
    private static double[] spread(int[] count, long[] sum, int[] cells, int[] box) {
        double[] s1 = new double[3], s2 = new double[3];
        long m = 0;
        for (int i = box[0]; i < box[1]; i++) {
            int c = cells[i];
            m += count[c];
            for (int a = 0; a < 3; a++) {
                double mean = (double) sum[3 * c + a] / count[c];
                s1[a] += sum[3 * c + a];
                s2[a] += mean * mean * count[c];
            }
        }
        double[] out = new double[3];
        for (int a = 0; a < 3; a++) out[a] = s2[a] - s1[a] * s1[a] / m;
        return out;
    }

    private static int component(int cell, int axis) {
        return cell >> (10 - 5 * axis) & 31;
    }
}
