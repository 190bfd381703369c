package org.lavie4j.core.media;

import org.bytedeco.ffmpeg.avcodec.AVCodec;
import org.bytedeco.ffmpeg.avutil.LogCallback;
import org.bytedeco.ffmpeg.avformat.AVFormatContext;
import org.bytedeco.ffmpeg.global.avcodec;
import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.ffmpeg.global.swscale;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.bytedeco.javacv.FFmpegFrameRecorder;
import org.bytedeco.javacv.Frame;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * mp4 (H.264) writing and video decoding through FFmpeg (JavaCV's {@link FFmpegFrameRecorder} and
 * {@link FFmpegFrameGrabber}). This is the only class of lavie4j that references JavaCV; {@link VideoIO} reaches it
 * only when a video container is written or read, so applications without the optional JavaCV/FFmpeg dependencies
 * never load it.
 *
 * <p><b>Encoding.</b> H.264 in an mp4 container, pixel format yuv420p (what every player opens), frame rate = the
 * video's fps. With FFmpeg's GPL build ({@code org.bytedeco:ffmpeg:...:linux-x86_64-gpl}) the encoder is libx264 at
 * {@code crf 5, preset medium}, exactly what the reference's {@code imageio.mimwrite(..., quality=9)} asks FFmpeg for
 * (imageio-ffmpeg maps quality q to {@code crf = int((1 - q/10)*51)} = 5): near lossless, about 240 kB for LaVie's
 * 16 frames of 320x512 (crf 17, "visually lossless", would be about 4 times smaller with twice the error). The
 * colour conversion is swscale's RGB to BT.601 limited-range YUV with bicubic, accurately rounded chroma filtering,
 * as FFmpeg's command line does. The LGPL build has no libx264; then Cisco's libopenh264 is used at a high
 * bitrate (about 1 bit per pixel per frame), and with neither the write fails naming the dependency to add.
 * yuv420p stores colour at half resolution: width and height must be even (all LaVie sizes are); an odd size is
 * rejected with the size named (crop or pad the frames, or write PNG/GIF).
 *
 * <p>FFmpeg's log (warnings and errors; it prints to stderr by default) goes to SLF4J at debug level under the logger
 * {@code org.lavie4j.core.media.ffmpeg}, and the last error line FFmpeg logged is appended to the exception when an
 * operation fails. This replaces FFmpeg's process-wide log callback when its natives first load here.
 */
final class Mp4Codec {
    private static final Logger LOG = LoggerFactory.getLogger(Mp4Codec.class);

    /** The H.264 encoders tried, in order of preference. */
    enum Encoder {
        /** libx264 (FFmpeg's GPL build), constant quality {@link #CRF}. */
        X264("libx264"),
        /** Cisco's libopenh264 (in both builds), bitrate-controlled. */
        OPENH264("libopenh264");

        final String ffmpegName;

        Encoder(String ffmpegName) { this.ffmpegName = ffmpegName; }

        boolean present() {
            AVCodec c = avcodec.avcodec_find_encoder_by_name(ffmpegName);
            return c != null && !c.isNull();
        }
    }

    /** libx264 constant rate factor: 5 as the reference's imageio quality=9 (0 = lossless, 23 = x264's default). */
    static final int CRF = 5;
    static final String PRESET = "medium";

    private static Boolean loaded;
    /** FFmpeg's log goes to SLF4J; kept reachable so that the native callback stays valid. Created after
     *  {@link #preferGplBuild()}: constructing it loads FFmpeg's natives. */
    private static FfmpegLog ffmpegLog;
    /** The last error FFmpeg logged on this thread: it says why (e.g. "moov atom not found") where return codes do not. */
    private static final ThreadLocal<String> LAST_ERROR = new ThreadLocal<>();

    private Mp4Codec() {}

    /**
     * Loads FFmpeg's natives once; false (logged at debug) when they do not load on this platform. Before the first
     * FFmpeg class initialises, {@link #preferGplBuild()} makes sure JavaCPP looks in the GPL build's folder.
     */
    static synchronized boolean nativesLoad() {
        if (loaded == null) {
            try {
                preferGplBuild();
                avutil.av_log_set_level(avutil.AV_LOG_WARNING);
                ffmpegLog = new FfmpegLog();
                avutil.setLogCallback(ffmpegLog);
                loaded = avcodec.avcodec_version() > 0;
            } catch (Throwable t) {
                LOG.debug("FFmpeg natives do not load", t);
                loaded = false;
            }
        }
        return loaded;
    }

    private static void requireNatives() {
        if (!nativesLoad())
            throw new UnsupportedOperationException("FFmpeg's natives do not load on " + Loader.getPlatform()
                    + " (set org.bytedeco.javacpp.logger.debug=true to see why); mp4 needs " + VideoIO.MP4_DEPENDENCIES);
    }

    /**
     * JavaCPP keeps one platform extension per process ({@code org.bytedeco.javacpp.platform.extension}), read once.
     * {@link org.lavie4j.core.Lavie4j#setup()} sets it to ND4J's oneDNN build ({@code -onednn-avx512}); the GPL FFmpeg
     * natives live under the {@code -gpl} extension, which JavaCPP then no longer searches, so FFmpeg fails to load
     * (the LGPL build, when present, would be picked silently instead). When the GPL natives are on the class path
     * this puts {@code -gpl} in front of the extension list JavaCPP has cached (a path-separated list:
     * {@code -gpl:-onednn-avx512}): JavaCPP searches the last entry first, so ND4J still finds its oneDNN build and
     * FFmpeg finds {@code -gpl}. With no extension set JavaCPP already tries {@code -gpl} first.
     */
    static void preferGplBuild() {
        String platform = Loader.getPlatform();
        String probe = "org/bytedeco/ffmpeg/" + platform + "-gpl/" + System.mapLibraryName("jniavutil");
        if (Mp4Codec.class.getClassLoader().getResource(probe) == null) return;
        Properties p = Loader.loadProperties();
        String ext = p.getProperty("platform.extension");
        if (ext == null || ext.isEmpty() || Arrays.asList(ext.split(File.pathSeparator)).contains("-gpl")) return;
        p.setProperty("platform.extension", "-gpl" + File.pathSeparator + ext);
        LOG.debug("JavaCPP platform extension {} -> {} for FFmpeg's GPL build", ext, p.getProperty("platform.extension"));
    }

    /** Sends FFmpeg's log lines to SLF4J and remembers the last error of each thread. */
    private static final class FfmpegLog extends LogCallback {
        private static final Logger FFMPEG = LoggerFactory.getLogger("org.lavie4j.core.media.ffmpeg");

        @Override
        public void call(int level, BytePointer msg) {
            String line = msg.getString().strip();
            if (line.isEmpty()) return;
            // "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x7f..] moov atom not found": keep the component, drop the address
            if (level <= avutil.AV_LOG_ERROR) LAST_ERROR.set(line.replaceFirst("^\\[([^\\]]*?) @ 0x[0-9a-fA-F]+\\] ", "$1: "));
            FFMPEG.debug("{}", line);
        }
    }

    /** " (FFmpeg: <last error>)" when FFmpeg logged an error on this thread since {@link #clearError()}, else "". */
    private static String ffmpegSays() {
        String e = LAST_ERROR.get();
        return e == null ? "" : " (FFmpeg: " + e + ")";
    }

    /** JavaCV's exception message without its hints meant for JavaCV users ("Has setFormat() been called?"). */
    private static String why(Exception e) {
        return String.valueOf(e.getMessage()).replace(" (Has setFormat() been called?)", "")
                .replace(" (For more details, make sure FFmpegLogCallback.set() has been called.)", "");
    }

    private static void clearError() {
        LAST_ERROR.remove();
    }

    /** The best H.264 encoder this FFmpeg build has. */
    static Encoder bestEncoder() {
        requireNatives();
        for (Encoder e : Encoder.values()) if (e.present()) return e;
        throw new UnsupportedOperationException("this FFmpeg build has no H.264 encoder (neither libx264 nor libopenh264): "
                + "depend on org.bytedeco:ffmpeg:" + VideoIO.FFMPEG_VERSION + " with classifier linux-x86_64-gpl (libx264), "
                + "or write .gif / .png frames instead");
    }

    static void write(Video v, Path out) throws IOException {
        write(v, out, bestEncoder());
    }

    static void write(Video v, Path out, Encoder encoder) throws IOException {
        if (v.width() % 2 != 0 || v.height() % 2 != 0)
            throw new IllegalArgumentException("mp4 (H.264, yuv420p) needs an even width and height, got " + v.height()
                    + "x" + v.width() + " (HxW): crop or pad the frames, or write .gif or PNG frames");
        requireNatives();
        if (!encoder.present())
            throw new UnsupportedOperationException("this FFmpeg build has no " + encoder.ffmpegName + " encoder");
        AtomicPaths.writeFile(out, tmp -> encode(v, tmp, encoder));
    }

    private static void encode(Video v, Path file, Encoder encoder) throws IOException {
        clearError();
        int w = v.width(), h = v.height();
        FFmpegFrameRecorder rec = new FFmpegFrameRecorder(file.toFile(), w, h, 0);
        try {
            rec.setFormat("mp4");
            rec.setVideoCodecName(encoder.ffmpegName);
            rec.setPixelFormat(avutil.AV_PIX_FMT_YUV420P);
            rec.setFrameRate(v.fps());
            // RGB -> YUV 4:2:0 with accurate rounding; bicubic chroma filtering
            rec.setImageScalingFlags(swscale.SWS_BICUBIC | swscale.SWS_ACCURATE_RND | swscale.SWS_FULL_CHR_H_INP);
            if (encoder == Encoder.X264) {
                rec.setVideoBitrate(0);   // no ABR target: crf decides
                rec.setVideoOption("crf", Integer.toString(CRF));
                rec.setVideoOption("preset", PRESET);
            } else {
                long bits = Math.max(500_000L, Math.round((double) w * h * v.fps()));   // ~1 bit per pixel per frame
                rec.setVideoBitrate((int) Math.min(Integer.MAX_VALUE, bits));
            }
            rec.start();
            ByteBuffer buf = ByteBuffer.allocateDirect(3 * w * h);
            for (int f = 0; f < v.frames(); f++) {
                buf.clear();
                buf.put(v.rgbView(f)).flip();
                rec.recordImage(w, h, Frame.DEPTH_UBYTE, 3, 3 * w, avutil.AV_PIX_FMT_RGB24, buf);
            }
            rec.stop();
        } catch (FFmpegFrameRecorder.Exception e) {
            throw new IOException("cannot encode " + v + " as mp4 with " + encoder.ffmpegName + ": " + why(e) + ffmpegSays(), e);
        } finally {
            rec.release();
        }
    }

    /**
     * Decodes up to {@code maxFrames} video frames of any container and codec FFmpeg reads, converted to RGB24.
     * A stream that ends before the frame count its container declares is reported as truncated or corrupt.
     */
    static Video read(Path in, int maxFrames) throws IOException {
        requireNatives();
        clearError();
        FFmpegFrameGrabber g = new FFmpegFrameGrabber(in.toFile());
        try {
            g.setPixelFormat(avutil.AV_PIX_FMT_RGB24);
            g.setImageScalingFlags(swscale.SWS_BICUBIC | swscale.SWS_ACCURATE_RND | swscale.SWS_FULL_CHR_H_INT);
            try {
                g.start();
            } catch (FFmpegFrameGrabber.Exception e) {
                throw new IOException("cannot read video " + in + ": " + why(e) + ffmpegSays(), e);
            }
            int w = g.getImageWidth(), h = g.getImageHeight();
            if (w <= 0 || h <= 0) throw new IOException("no video stream in " + in);
            double fps = g.getFrameRate();
            if (!(fps > 0) || Double.isInfinite(fps)) fps = VideoIO.DEFAULT_FPS;
            long declared = declaredFrames(g);
            List<byte[]> frames = new ArrayList<>();
            while (frames.size() < maxFrames) {
                Frame fr;
                try {
                    fr = g.grabImage();
                } catch (FFmpegFrameGrabber.Exception e) {
                    throw new IOException("corrupt video " + in + " after " + frames.size() + " frames: " + why(e)
                            + ffmpegSays(), e);
                }
                if (fr == null) break;
                if (fr.imageWidth != w || fr.imageHeight != h)
                    throw new IOException(in + ": frame " + frames.size() + " is " + fr.imageHeight + "x" + fr.imageWidth
                            + " (HxW) but the stream is " + h + "x" + w);
                frames.add(rgb(fr));
            }
            if (frames.isEmpty()) throw new IOException("no decodable video frames in " + in + ffmpegSays());
            if (declared > 0 && frames.size() < Math.min(declared, maxFrames))
                throw new IOException(String.format(Locale.ROOT, "truncated or corrupt video %s: decoded %d of the %d frames its container declares%s",
                        in, frames.size(), declared, ffmpegSays()));
            return Video.wrap(frames.toArray(new byte[0][]), h, w, fps);
        } finally {
            try {
                g.release();
            } catch (FFmpegFrameGrabber.Exception e) {
                LOG.debug("releasing the grabber of {} failed", in, e);
            }
        }
    }

    /** The video stream's frame count from the container (mp4/mov store it), or 0 when unknown. */
    private static long declaredFrames(FFmpegFrameGrabber g) {
        AVFormatContext ctx = g.getFormatContext();
        for (int i = 0; i < ctx.nb_streams(); i++) {
            if (ctx.streams(i).codecpar().codec_type() == avutil.AVMEDIA_TYPE_VIDEO) return Math.max(0, ctx.streams(i).nb_frames());
        }
        return 0;
    }

    /** Copies a packed RGB24 frame (rows may be padded) into tight HWC bytes. */
    private static byte[] rgb(Frame fr) {
        ByteBuffer src = (ByteBuffer) fr.image[0];
        int w = fr.imageWidth, h = fr.imageHeight, row = 3 * w, stride = fr.imageStride;
        byte[] out = new byte[row * h];
        for (int y = 0; y < h; y++) src.get(y * stride, out, y * row, row);
        return out;
    }
}
