package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Naive twins of {@link NnOps}: plain loops in double precision written from the PyTorch definitions, for tiny
 * shapes in tests. Inputs are read as double; outputs are DOUBLE arrays.
 */
final class NnOpsNaive {
    private NnOpsNaive() {}

    static double[] flat(INDArray a) { return a.castTo(DataType.DOUBLE).dup('c').data().asDouble(); }

    static INDArray array(double[] v, long... shape) { return Nd4j.create(v, shape, 'c'); }

    /** F.conv2d, groups 1, dilation 1, zero padding. */
    static INDArray conv2d(INDArray x, INDArray w, INDArray b, int sH, int sW, int pH, int pW) {
        int n = (int) x.size(0), c = (int) x.size(1), h = (int) x.size(2), wd = (int) x.size(3);
        int o = (int) w.size(0), kh = (int) w.size(2), kw = (int) w.size(3);
        int oh = (h + 2 * pH - kh) / sH + 1, ow = (wd + 2 * pW - kw) / sW + 1;
        double[] xv = flat(x), wv = flat(w), bv = b == null ? null : flat(b);
        double[] out = new double[n * o * oh * ow];
        for (int in = 0; in < n; in++)
            for (int io = 0; io < o; io++)
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++) {
                        double s = bv == null ? 0 : bv[io];
                        for (int ic = 0; ic < c; ic++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++) {
                                    int sy = y * sH - pH + ky, sx = xx * sW - pW + kx;
                                    if (sy < 0 || sy >= h || sx < 0 || sx >= wd) continue;
                                    s += xv[((in * c + ic) * h + sy) * wd + sx] * wv[((io * c + ic) * kh + ky) * kw + kx];
                                }
                        out[((in * o + io) * oh + y) * ow + xx] = s;
                    }
        return array(out, n, o, oh, ow);
    }

    /** nn.Conv3d with kernel (kF, 1, 1), padding (padF, 0, 0). */
    static INDArray conv3dTemporal(INDArray x, INDArray w, INDArray b, int padF) {
        int n = (int) x.size(0), c = (int) x.size(1), f = (int) x.size(2), h = (int) x.size(3), wd = (int) x.size(4);
        int o = (int) w.size(0), k = (int) w.size(2), of = f + 2 * padF - k + 1;
        double[] xv = flat(x), wv = flat(w), bv = b == null ? null : flat(b);
        double[] out = new double[n * o * of * h * wd];
        for (int in = 0; in < n; in++)
            for (int io = 0; io < o; io++)
                for (int t = 0; t < of; t++)
                    for (int p = 0; p < h * wd; p++) {
                        double s = bv == null ? 0 : bv[io];
                        for (int ic = 0; ic < c; ic++)
                            for (int kk = 0; kk < k; kk++) {
                                int st = t - padF + kk;
                                if (st < 0 || st >= f) continue;
                                s += xv[((in * c + ic) * f + st) * h * wd + p] * wv[(io * c + ic) * k + kk];
                            }
                        out[((in * o + io) * of + t) * h * wd + p] = s;
                    }
        return array(out, n, o, of, h, wd);
    }

    /** out[.., y, x] = in[.., y/2, x/2] over the last two dims. */
    static INDArray upsampleNearest2x(INDArray x) {
        long[] s = x.shape();
        int h = (int) s[s.length - 2], w = (int) s[s.length - 1];
        int lead = (int) (x.length() / (h * w));
        double[] xv = flat(x), out = new double[lead * 4 * h * w];
        for (int l = 0; l < lead; l++)
            for (int y = 0; y < 2 * h; y++)
                for (int xx = 0; xx < 2 * w; xx++)
                    out[(l * 2 * h + y) * 2 * w + xx] = xv[(l * h + y / 2) * w + xx / 2];
        long[] os = s.clone();
        os[os.length - 2] = 2L * h;
        os[os.length - 1] = 2L * w;
        return array(out, os);
    }

    /** torch "nearest": src = min(floor(dst · (float) in/out), in − 1). */
    static INDArray interpolateNearest(INDArray x, int oh, int ow) {
        int n = (int) x.size(0), c = (int) x.size(1), h = (int) x.size(2), w = (int) x.size(3);
        double[] xv = flat(x), out = new double[n * c * oh * ow];
        float sh = (float) h / oh, sw = (float) w / ow;
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < oh; y++)
                for (int xx = 0; xx < ow; xx++) {
                    int sy = Math.min((int) Math.floor(y * sh), h - 1), sx = Math.min((int) Math.floor(xx * sw), w - 1);
                    out[(p * oh + y) * ow + xx] = xv[(p * h + sy) * w + sx];
                }
        return array(out, n, c, oh, ow);
    }

    /**
     * torch upsample_bilinear2d, per output pixel: h0λ·(w0λ·x00 + w1λ·x01) + h1λ·(w0λ·x10 + w1λ·x11), with source
     * indices and weights computed in float ({@code single}) or double.
     */
    static INDArray resizeBilinear(INDArray x, int oh, int ow, boolean alignCorners, boolean single) {
        int n = (int) x.size(0), c = (int) x.size(1), h = (int) x.size(2), w = (int) x.size(3);
        double[] xv = flat(x), out = new double[n * c * oh * ow];
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < oh; y++)
                for (int xx = 0; xx < ow; xx++) {
                    double[] ly = source(y, h, oh, alignCorners, single), lx = source(xx, w, ow, alignCorners, single);
                    int y0 = (int) ly[0], y1 = y0 < h - 1 ? y0 + 1 : y0, x0 = (int) lx[0], x1 = x0 < w - 1 ? x0 + 1 : x0;
                    double v = ly[1] * (lx[1] * xv[(p * h + y0) * w + x0] + lx[2] * xv[(p * h + y0) * w + x1])
                            + ly[2] * (lx[1] * xv[(p * h + y1) * w + x0] + lx[2] * xv[(p * h + y1) * w + x1]);
                    out[(p * oh + y) * ow + xx] = v;
                }
        return array(out, n, c, oh, ow);
    }

    /** {index0, λ0, λ1} following area_pixel_compute_source_index and guard_index_and_lambda. */
    private static double[] source(int dst, int in, int out, boolean alignCorners, boolean single) {
        if (single) {
            float scale = alignCorners ? (out > 1 ? (float) (in - 1) / (out - 1) : 0f) : (float) in / out;
            float src = alignCorners ? scale * dst : Math.max(scale * (dst + 0.5f) - 0.5f, 0f);
            int i0 = Math.min((int) Math.floor(src), in - 1);
            float l1 = Math.min(Math.max(src - i0, 0f), 1f);
            return new double[]{i0, 1f - l1, l1};
        }
        double scale = alignCorners ? (out > 1 ? (double) (in - 1) / (out - 1) : 0) : (double) in / out;
        double src = alignCorners ? scale * dst : Math.max(scale * (dst + 0.5) - 0.5, 0);
        int i0 = Math.min((int) Math.floor(src), in - 1);
        double l1 = Math.min(Math.max(src - i0, 0), 1);
        return new double[]{i0, 1 - l1, l1};
    }

    /** F.pad constant zero, pairs from the last dim. */
    static INDArray pad(INDArray x, long[] padding) {
        long[] s = x.shape();
        int r = s.length;
        long[] before = new long[r], os = s.clone();
        for (int p = 0; p < padding.length / 2; p++) {
            before[r - 1 - p] = padding[2 * p];
            os[r - 1 - p] += padding[2 * p] + padding[2 * p + 1];
        }
        double[] xv = flat(x);
        INDArray out = Nd4j.zeros(DataType.DOUBLE, os);
        long[] idx = new long[r], oidx = new long[r];
        for (int i = 0; i < xv.length; i++) {
            long rem = i;
            for (int d = r - 1; d >= 0; d--) {
                idx[d] = rem % s[d];
                rem /= s[d];
                oidx[d] = idx[d] + before[d];
            }
            out.putScalar(oidx, xv[i]);
        }
        return out;
    }

    /** F.group_norm on (N, C, *): two-pass mean and biased variance per (n, group). */
    static INDArray groupNorm(INDArray x, int groups, INDArray gamma, INDArray beta, double eps) {
        int n = (int) x.size(0), c = (int) x.size(1), s = (int) (x.length() / ((long) n * c)), cg = c / groups;
        double[] xv = flat(x), out = new double[xv.length];
        double[] gv = gamma == null ? null : flat(gamma), bv = beta == null ? null : flat(beta);
        for (int in = 0; in < n; in++)
            for (int g = 0; g < groups; g++) {
                int start = (in * c + g * cg) * s, m = cg * s;
                double mean = 0, var = 0;
                for (int i = 0; i < m; i++) mean += xv[start + i];
                mean /= m;
                for (int i = 0; i < m; i++) var += (xv[start + i] - mean) * (xv[start + i] - mean);
                var /= m;
                double rstd = 1 / Math.sqrt(var + eps);
                for (int i = 0; i < m; i++) {
                    int ch = g * cg + i / s;
                    out[start + i] = (xv[start + i] - mean) * rstd * (gv == null ? 1 : gv[ch]) + (bv == null ? 0 : bv[ch]);
                }
            }
        return array(out, x.shape());
    }

    /** GroupNorm of every frame: fold (N, C, F, H, W) -> (N·F, C, H, W), normalise, unfold. */
    static INDArray groupNormPerFrame(INDArray x, int groups, INDArray gamma, INDArray beta, double eps) {
        long n = x.size(0), c = x.size(1), f = x.size(2), h = x.size(3), w = x.size(4);
        INDArray folded = x.castTo(DataType.DOUBLE).permute(0, 2, 1, 3, 4).dup('c').reshape(n * f, c, h, w);
        INDArray normed = groupNorm(folded, groups, gamma, beta, eps);
        return normed.reshape(n, f, c, h, w).permute(0, 2, 1, 3, 4).dup('c');
    }

    /** F.layer_norm over the last dim. */
    static INDArray layerNorm(INDArray x, INDArray gamma, INDArray beta, double eps) {
        long d = x.size(x.rank() - 1);
        INDArray rows = x.castTo(DataType.DOUBLE).dup('c').reshape(x.length() / d, 1, d);
        return groupNorm(rows, 1, null, null, eps).reshape(x.length() / d, d)
                .mul(gamma == null ? Nd4j.ones(DataType.DOUBLE, 1, d) : gamma.castTo(DataType.DOUBLE).reshape(1, d))
                .add(beta == null ? Nd4j.zeros(DataType.DOUBLE, 1, d) : beta.castTo(DataType.DOUBLE).reshape(1, d))
                .reshape(x.shape());
    }
}
