package org.lavie4j.core.media;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.util.Arrays;
import java.util.List;

/**
 * An immutable clip of 8-bit RGB frames, all the same size, with a frame rate.
 *
 * <p>Each frame is stored as {@code height * width * 3} bytes in HWC order (row-major, R G B per pixel), the layout
 * the reference writes ({@code (F, H, W, 3)} uint8). Conversions to and from the pipeline's float layout
 * {@code (3, F, H, W)} in [-1, 1] follow the reference's arithmetic in float32 (see {@link #fromTensor} and
 * {@link #toTensor}).
 */
public final class Video {
    /** How a float in [0, 255] becomes a byte: LaVie's base and interpolation stages round half up, VSR truncates. */
    public enum Rounding {
        /** {@code trunc(clamp((x/2 + 0.5)*255 + 0.5, 0, 255))} (base/sample.py, interpolation/sample.py). */
        HALF_UP,
        /** {@code trunc(clamp((x/2 + 0.5)*255, 0, 255))} (vsr/sample.py: {@code uint8(clamp(x/2 + 0.5, 0, 1)*255)}). */
        TRUNCATE
    }

    private final byte[][] rgb;
    private final int height;
    private final int width;
    private final double fps;

    private Video(byte[][] rgb, int height, int width, double fps) {
        this.rgb = rgb;
        this.height = height;
        this.width = width;
        this.fps = fps;
    }

    /** Copies {@code frames} (any {@link BufferedImage} type; alpha is dropped) into RGB bytes. */
    public static Video of(List<BufferedImage> frames, double fps) {
        checkFps(fps);
        if (frames.isEmpty()) throw new IllegalArgumentException("a video needs at least one frame");
        int h = frames.get(0).getHeight(), w = frames.get(0).getWidth();
        byte[][] rgb = new byte[frames.size()][];
        for (int f = 0; f < rgb.length; f++) {
            BufferedImage img = frames.get(f);
            if (img.getHeight() != h || img.getWidth() != w)
                throw new IllegalArgumentException("frame " + f + " is " + img.getHeight() + "x" + img.getWidth()
                        + " (HxW) but frame 0 is " + h + "x" + w);
            rgb[f] = toRgb(img);
        }
        return new Video(rgb, h, w, fps);
    }

    /** Copies HWC RGB bytes, one array of {@code height * width * 3} bytes per frame. */
    public static Video fromRgb(byte[][] rgbPerFrame, int height, int width, double fps) {
        checkFps(fps);
        if (height <= 0 || width <= 0)
            throw new IllegalArgumentException("frame size must be positive, got " + height + "x" + width + " (HxW)");
        if (rgbPerFrame.length == 0) throw new IllegalArgumentException("a video needs at least one frame");
        long n = 3L * height * width;
        byte[][] rgb = new byte[rgbPerFrame.length][];
        for (int f = 0; f < rgb.length; f++) {
            if (rgbPerFrame[f] == null || rgbPerFrame[f].length != n)
                throw new IllegalArgumentException("frame " + f + " has " + (rgbPerFrame[f] == null ? "no" : rgbPerFrame[f].length)
                        + " bytes, expected " + n + " (" + height + "x" + width + "x3 HWC)");
            rgb[f] = rgbPerFrame[f].clone();
        }
        return new Video(rgb, height, width, fps);
    }

    /** {@link #fromTensor(INDArray, double, Rounding)} with {@link Rounding#HALF_UP} (LaVie base and interpolation). */
    public static Video fromTensor(INDArray x, double fps) {
        return fromTensor(x, fps, Rounding.HALF_UP);
    }

    /**
     * From a float tensor in [-1, 1], shaped {@code (3, F, H, W)} or {@code (1, 3, F, H, W)} (the pipelines' output).
     * Each value becomes {@code trunc(clamp((x/2 + 0.5)*255 [+ 0.5], 0, 255))}, computed in float32 as the reference
     * does (values outside [-1, 1] clamp; NaN becomes 0).
     *
     * @throws IllegalArgumentException for any other rank, a batch other than 1 or a channel count other than 3
     */
    public static Video fromTensor(INDArray x, double fps, Rounding rounding) {
        checkFps(fps);
        long[] s = x.shape();
        boolean ok = (s.length == 4 && s[0] == 3) || (s.length == 5 && s[0] == 1 && s[1] == 3);
        if (!ok)
            throw new IllegalArgumentException("video tensor must be (3, F, H, W) or (1, 3, F, H, W), got " + Arrays.toString(s));
        INDArray v = s.length == 5 ? x.reshape(s[1], s[2], s[3], s[4]) : x;   // (3, F, H, W)
        long frames = v.size(1), h = v.size(2), w = v.size(3);
        if (frames == 0 || h == 0 || w == 0)
            throw new IllegalArgumentException("video tensor has an empty dimension: " + Arrays.toString(s));
        if (3 * h * w > Integer.MAX_VALUE)
            throw new IllegalArgumentException("frame too large: " + Arrays.toString(s));
        int hw = (int) (h * w);
        float half = rounding == Rounding.HALF_UP ? 0.5f : 0f;
        byte[][] rgb = new byte[(int) frames][];
        for (int f = 0; f < frames; f++) {
            // one frame at a time, so a long high-resolution clip never needs a second full-size float copy
            float[] chw = v.get(NDArrayIndex.all(), NDArrayIndex.point(f), NDArrayIndex.all(), NDArrayIndex.all())
                    .castTo(DataType.FLOAT).dup('c').data().asFloat();   // (3, H, W)
            byte[] out = new byte[3 * hw];
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < hw; p++) {
                    float t = (chw[c * hw + p] / 2f + 0.5f) * 255f + half;
                    int u = t >= 255f ? 255 : t > 0f ? (int) t : 0;   // NaN fails both tests: 0
                    out[3 * p + c] = (byte) u;
                }
            }
            rgb[f] = out;
        }
        return new Video(rgb, (int) h, (int) w, fps);
    }

    public int frames() { return rgb.length; }

    public int height() { return height; }

    public int width() { return width; }

    /** Frames per second. */
    public double fps() { return fps; }

    /** A copy of frame {@code frame} as HWC RGB bytes. */
    public byte[] rgb(int frame) {
        return rgbView(frame).clone();
    }

    /** Frame {@code frame} as a new {@link BufferedImage#TYPE_3BYTE_BGR} image. */
    public BufferedImage image(int frame) {
        byte[] src = rgbView(frame);
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
        byte[] dst = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < src.length; i += 3) {
            dst[i] = src[i + 2];
            dst[i + 1] = src[i + 1];
            dst[i + 2] = src[i];
        }
        return img;
    }

    /** This clip at another frame rate (same frames). */
    public Video withFps(double newFps) {
        checkFps(newFps);
        return new Video(rgb, height, width, newFps);
    }

    /** The first {@code n} frames ({@code 1 <= n <= frames()}). */
    public Video firstFrames(int n) {
        if (n < 1 || n > rgb.length) throw new IllegalArgumentException("n must be in [1, " + rgb.length + "], got " + n);
        return n == rgb.length ? this : new Video(Arrays.copyOf(rgb, n), height, width, fps);
    }

    /** {@code (3, F, H, W)} float32 with {@code x = u8/127.5 - 1}, in [-1, 1]. */
    public INDArray toTensor() {
        float[] lut = new float[256];
        for (int u = 0; u < 256; u++) lut[u] = (float) (u / 127.5 - 1.0);
        int hw = height * width;
        INDArray out = Nd4j.create(DataType.FLOAT, 3, rgb.length, height, width);
        for (int f = 0; f < rgb.length; f++) {
            byte[] src = rgb[f];
            float[] chw = new float[3 * hw];
            for (int p = 0; p < hw; p++) {
                chw[p] = lut[src[3 * p] & 0xff];
                chw[hw + p] = lut[src[3 * p + 1] & 0xff];
                chw[2 * hw + p] = lut[src[3 * p + 2] & 0xff];
            }
            out.get(NDArrayIndex.all(), NDArrayIndex.point(f), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(Nd4j.createFromArray(chw).reshape(3, height, width));   // (3, H, W)
        }
        return out;
    }

    /** The stored bytes of one frame, not copied: for this package's writers only. */
    byte[] rgbView(int frame) {
        if (frame < 0 || frame >= rgb.length)
            throw new IndexOutOfBoundsException("frame " + frame + " of a " + rgb.length + "-frame video");
        return rgb[frame];
    }

    /** Wraps frames this package decoded (already HWC RGB of the right size), without copying. */
    static Video wrap(byte[][] rgb, int height, int width, double fps) {
        checkFps(fps);
        return new Video(rgb, height, width, fps);
    }

    /** HWC RGB bytes of any image; alpha is dropped, grey is replicated to R = G = B. */
    static byte[] toRgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[3 * w * h];
        Raster raster = img.getRaster();
        if (!(img.getColorModel() instanceof IndexColorModel) && raster.getNumBands() <= 2) {
            // grey (+ alpha): take the stored level; getRGB would apply Java's linear-grey to sRGB conversion
            int shift = Math.max(0, img.getColorModel().getComponentSize(0) - 8);
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0, o = 3 * y * w; x < w; x++, o += 3) {
                    byte g = (byte) (row[x] >> shift);
                    out[o] = g;
                    out[o + 1] = g;
                    out[o + 2] = g;
                }
            }
            return out;
        }
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0, o = 3 * y * w; x < w; x++, o += 3) {
                int argb = row[x];
                out[o] = (byte) (argb >> 16);
                out[o + 1] = (byte) (argb >> 8);
                out[o + 2] = (byte) argb;
            }
        }
        return out;
    }

    private static void checkFps(double fps) {
        if (!(fps > 0) || Double.isInfinite(fps)) throw new IllegalArgumentException("fps must be positive and finite, got " + fps);
    }

    @Override
    public String toString() {
        return "Video[" + rgb.length + " frames, " + height + "x" + width + " (HxW), " + fps + " fps]";
    }
}
