package org.lavie4j.train.data;

/**
 * Resize so that the frame covers H x W (the shorter side, relative to the target's aspect, becomes the target's),
 * center crop to H x W, optionally mirror, and normalise to [-1, 1] ({@code u/127.5 - 1}): torchvision's
 * {@code Resize(shorter side) + CenterCrop + RandomHorizontalFlip + Normalize(0.5, 0.5)} as video diffusion training
 * code uses them, in one pass per frame without rounding to bytes in between.
 *
 * <p>The resize is separable with the triangle (bilinear) filter, widened by the reduction factor when shrinking
 * (antialiased, as PIL and torchvision's {@code antialias=True}): output pixel centre {@code y + 0.5} of the resized
 * image maps to {@code (y + 0.5) * in / resized} in the source; weights are renormalised at the borders. At equal sizes
 * it is the identity, and the result equals {@link org.lavie4j.core.media.Video#toTensor()} exactly. Crop offsets are
 * {@code round((resized - target) / 2)} (torchvision's CenterCrop).
 */
final class FrameTransform {
    private final int inH, inW, outH, outW;
    private final int[] rowFirst, colFirst;
    private final float[][] rowWeights, colWeights;

    /** A transform from {@code inH x inW} frames to {@code outH x outW}. */
    FrameTransform(int inH, int inW, int outH, int outW) {
        if (inH < 1 || inW < 1 || outH < 1 || outW < 1)
            throw new IllegalArgumentException("sizes must be positive: " + inH + "x" + inW + " -> " + outH + "x" + outW);
        this.inH = inH;
        this.inW = inW;
        this.outH = outH;
        this.outW = outW;
        double scale = Math.max(outH / (double) inH, outW / (double) inW);
        // the resized frame covers the target: each side at least the target's (rounding never makes it smaller)
        int rh = Math.max(outH, (int) Math.round(inH * scale)), rw = Math.max(outW, (int) Math.round(inW * scale));
        int top = (int) Math.round((rh - outH) / 2.0), left = (int) Math.round((rw - outW) / 2.0);
        rowFirst = new int[outH];
        rowWeights = new float[outH][];
        colFirst = new int[outW];
        colWeights = new float[outW][];
        weights(inH, rh, top, outH, rowFirst, rowWeights);
        weights(inW, rw, left, outW, colFirst, colWeights);
    }

    /** Triangle-filter taps for output positions {@code offset .. offset+count-1} of a resize {@code in -> resized}. */
    private static void weights(int in, int resized, int offset, int count, int[] first, float[][] w) {
        double inv = in / (double) resized;           // source pixels per resized pixel
        double support = Math.max(1.0, inv);          // widened when shrinking (antialias)
        for (int o = 0; o < count; o++) {
            double centre = (o + offset + 0.5) * inv;  // in source pixel units, pixel i spans [i, i+1)
            int lo = Math.max(0, (int) Math.floor(centre - support));
            int hi = Math.min(in - 1, (int) Math.ceil(centre + support));
            double[] t = new double[hi - lo + 1];
            double sum = 0;
            for (int i = lo; i <= hi; i++) {
                double d = Math.abs(i + 0.5 - centre) / support;
                t[i - lo] = d < 1 ? 1 - d : 0;
                sum += t[i - lo];
            }
            // trim zero taps at both ends
            int a = 0, b = t.length - 1;
            while (a < b && t[a] == 0) a++;
            while (b > a && t[b] == 0) b--;
            float[] ws = new float[b - a + 1];
            for (int i = a; i <= b; i++) ws[i - a] = (float) (t[i] / sum);
            first[o] = lo + a;
            w[o] = ws;
        }
    }

    /**
     * Writes frame {@code f} of a clip of {@code frames} frames into {@code dst}, laid out (3, frames, H, W).
     *
     * @param rgb  the source frame, HWC RGB bytes of {@code inH x inW}
     * @param flip mirror horizontally
     */
    void apply(byte[] rgb, boolean flip, float[] dst, int f, int frames) {
        if (rgb.length != 3 * inH * inW)
            throw new IllegalArgumentException("frame has " + rgb.length + " bytes, expected " + 3 * inH * inW + " (" + inH + "x" + inW + "x3)");
        float[] row = new float[3 * inW];
        int plane = outH * outW;
        for (int y = 0; y < outH; y++) {
            java.util.Arrays.fill(row, 0f);
            float[] wy = rowWeights[y];
            for (int t = 0; t < wy.length; t++) {
                float wt = wy[t];
                int base = 3 * (rowFirst[y] + t) * inW;
                for (int i = 0; i < 3 * inW; i++) row[i] += wt * (rgb[base + i] & 0xff);
            }
            for (int x = 0; x < outW; x++) {
                float[] wx = colWeights[x];
                int c0 = colFirst[x];
                float r = 0, g = 0, b = 0;
                for (int t = 0; t < wx.length; t++) {
                    int s = 3 * (c0 + t);
                    r += wx[t] * row[s];
                    g += wx[t] * row[s + 1];
                    b += wx[t] * row[s + 2];
                }
                int xo = flip ? outW - 1 - x : x;
                int o = (f * outH + y) * outW + xo;
                dst[o] = (float) (r / 127.5 - 1.0);
                dst[frames * plane + o] = (float) (g / 127.5 - 1.0);
                dst[2 * frames * plane + o] = (float) (b / 127.5 - 1.0);
            }
        }
    }
}
