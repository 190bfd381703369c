package org.lavie4j.train.data;

import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.ffmpeg.global.swscale;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.bytedeco.javacv.Frame;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Decodes only the frames a sample needs. {@link VideoIO#read} keeps every frame up to the last one asked for, which
 * for a clip from the middle of a WebVid video (hundreds of frames) holds hundreds of megabytes; here a video
 * container (mp4, mov, avi, webm, mkv) is decoded front to back through FFmpeg, converting to RGB and keeping only the
 * chosen frames (the others are decoded but neither converted nor kept). Frame {@code i} is the {@code i}-th frame
 * FFmpeg decodes, the same frame {@code VideoIO.read} returns at index {@code i}, with the same colour conversion.
 * GIFs, images and frame folders go through {@link VideoIO#read} whole (they are small).
 *
 * <p>The frame count is the one the container declares (or estimates from the duration); when the stream ends
 * earlier, the frames are chosen again from the count actually decoded, in a second pass. A stream that declares
 * neither is counted in a first pass.
 */
final class FrameReader {
    private static final Logger LOG = LoggerFactory.getLogger(FrameReader.class);
    private static final List<String> CONTAINERS = List.of("mp4", "mov", "avi", "webm", "mkv");

    private FrameReader() {}

    /** Chooses frame indices, ascending (repeats allowed), in [0, total), given a video's frame count {@code total >= 1}. */
    @FunctionalInterface
    interface Picker {
        int[] pick(int total);
    }

    /**
     * The chosen frames of a video.
     *
     * @param rgb     one HWC RGB frame per chosen index (repeated indices share one array)
     * @param height  frame height
     * @param width   frame width
     * @param indices the chosen indices
     * @param total   the video's frame count
     */
    record Frames(byte[][] rgb, int height, int width, int[] indices, int total) {}

    /**
     * Decodes the frames {@code picker} chooses from {@code file}.
     *
     * @throws IOException naming the file for a missing, unreadable, corrupt or empty video
     */
    static Frames read(Path file, Picker picker) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "no such video or image");
        if (!Files.isDirectory(file) && CONTAINERS.contains(extension(file))) {
            if (!VideoIO.mp4Available())
                throw new UnsupportedOperationException("decoding " + file + " needs FFmpeg's natives, which do not load here ("
                        + VideoIO.MP4_DEPENDENCIES + ")");
            return decode(file, picker, -1);
        }
        Video v = VideoIO.read(file);
        int[] idx = check(picker.pick(v.frames()), v.frames(), file);
        byte[][] rgb = new byte[idx.length][];
        for (int k = 0; k < idx.length; k++) rgb[k] = k > 0 && idx[k] == idx[k - 1] ? rgb[k - 1] : v.rgb(idx[k]);
        return new Frames(rgb, v.height(), v.width(), idx, v.frames());
    }

    /** One pass over the stream; {@code knownTotal} >= 1 when a first pass found the stream shorter than declared. */
    private static Frames decode(Path file, Picker picker, int knownTotal) throws IOException {
        FFmpegFrameGrabber g = new FFmpegFrameGrabber(file.toFile());
        try {
            g.setPixelFormat(avutil.AV_PIX_FMT_RGB24);
            // as lavie-core's Mp4Codec reads, so that frames equal VideoIO.read's
            g.setImageScalingFlags(swscale.SWS_BICUBIC | swscale.SWS_ACCURATE_RND | swscale.SWS_FULL_CHR_H_INT);
            try {
                g.start();
            } catch (FFmpegFrameGrabber.Exception e) {
                throw new IOException("cannot read video " + file + ": " + why(e), e);
            }
            int w = g.getImageWidth(), h = g.getImageHeight();
            if (w <= 0 || h <= 0) throw new IOException("no video stream in " + file);
            int declared = knownTotal > 0 ? knownTotal : g.getLengthInVideoFrames();
            if (declared <= 0) return decode(file, picker, count(g, file));   // no count or duration (rare): count first
            int[] idx = check(picker.pick(declared), declared, file);
            byte[][] rgb = new byte[idx.length][];
            int k = 0, i = 0;
            while (k < idx.length) {
                boolean wanted = idx[k] == i;
                Frame fr;
                try {
                    fr = g.grabFrame(false, true, wanted, false);
                } catch (FFmpegFrameGrabber.Exception e) {
                    throw new IOException("corrupt video " + file + " at frame " + i + ": " + why(e), e);
                }
                if (fr == null) break;
                if (wanted) {
                    if (fr.image == null || fr.imageWidth != w || fr.imageHeight != h)
                        throw new IOException(file + ": frame " + i + " has no " + h + "x" + w + " image");
                    byte[] frame = rgb(fr);
                    while (k < idx.length && idx[k] == i) rgb[k++] = frame;
                }
                i++;
            }
            if (k < idx.length) {
                if (i == 0) throw new IOException("no decodable video frames in " + file);
                if (knownTotal > 0) throw new IOException("video " + file + " ended after " + i + " frames on a second pass");
                LOG.debug("{} declares {} frames but ends after {}; choosing again", file, declared, i);
                return decode(file, picker, i);
            }
            return new Frames(rgb, h, w, idx, declared);
        } finally {
            try {
                g.release();
            } catch (FFmpegFrameGrabber.Exception e) {
                LOG.debug("releasing the grabber of {} failed", file, e);
            }
        }
    }

    /** Counts the frames left in the stream by decoding them without conversion. */
    private static int count(FFmpegFrameGrabber g, Path file) throws IOException {
        int n = 0;
        try {
            while (g.grabFrame(false, true, false, false) != null) n++;
        } catch (FFmpegFrameGrabber.Exception e) {
            throw new IOException("corrupt video " + file + " at frame " + n + ": " + why(e), e);
        }
        if (n == 0) throw new IOException("no decodable video frames in " + file);
        return n;
    }

    private static int[] check(int[] idx, int total, Path file) {
        for (int k = 0; k < idx.length; k++)
            if (idx[k] < 0 || idx[k] >= total || (k > 0 && idx[k] < idx[k - 1]))
                throw new IllegalStateException(String.format(Locale.ROOT, "frame choice %s for %s (%d frames) is not ascending in range",
                        java.util.Arrays.toString(idx), file, total));
        return idx;
    }

    /** JavaCV's message without its hints for JavaCV users and without the path it repeats. */
    private static String why(Exception e) {
        return String.valueOf(e.getMessage()).replace(" (Has setFormat() been called?)", "")
                .replace(" (For more details, make sure FFmpegLogCallback.set() has been called.)", "")
                .replaceAll(" \"[^\"]*\"\\.$", "");
    }

    /** Copies a packed RGB24 frame (rows may be padded) into tight HWC bytes. */
    private static byte[] rgb(Frame fr) {
        ByteBuffer src = (ByteBuffer) fr.image[0];
        int w = fr.imageWidth, h = fr.imageHeight, row = 3 * w, stride = fr.imageStride;
        byte[] out = new byte[row * h];
        for (int y = 0; y < h; y++) src.get(y * stride, out, y * row, row);
        return out;
    }

    private static String extension(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot <= 0 ? "" : n.substring(dot + 1).toLowerCase(Locale.ROOT);
    }
}
