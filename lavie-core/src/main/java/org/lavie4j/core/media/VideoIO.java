package org.lavie4j.core.media;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Reads and writes {@link Video}s by file name: mp4 (H.264 through FFmpeg, an optional dependency), animated GIF,
 * PNG (one frame or a directory of frames), and for reading also other video containers and JPEG.
 *
 * <p>Writes are atomic: the content goes to a hidden temporary file (or directory) in the target's folder, is forced
 * to disk and renamed into place. When a write fails nothing is left under the final name, an existing file there is
 * untouched, and the temporary is removed. Missing parent directories are created, as
 * {@link org.lavie4j.core.io.AtomicFiles} does.
 *
 * <p>mp4 needs JavaCV and FFmpeg's natives on the class path ({@link #MP4_DEPENDENCIES}); lavie-core declares them
 * optional, so an application that never touches mp4 carries neither, and the classes that use them are only loaded
 * when an mp4 (or other video container) is written or read. GIF and PNG use only the JDK.
 */
public final class VideoIO {
    /** The frame rate given to frames read from images and image directories, which carry none (LaVie base: 8). */
    public static final double DEFAULT_FPS = 8.0;
    static final String JAVACV_VERSION = "1.5.7";
    static final String FFMPEG_VERSION = "5.0-1.5.7";
    /** The Maven dependencies mp4 needs, as the error messages state them. */
    public static final String MP4_DEPENDENCIES = "org.bytedeco:javacv:" + JAVACV_VERSION
            + " (with all its transitive dependencies excluded), org.bytedeco:ffmpeg:" + FFMPEG_VERSION
            + " and org.bytedeco:ffmpeg:" + FFMPEG_VERSION + ":linux-x86_64-gpl (the GPL build, with libx264; see NOTICE)";

    /** Extensions {@link #read} hands to FFmpeg. */
    static final List<String> VIDEO_EXTENSIONS = List.of("mp4", "mov", "avi", "webm", "mkv");
    private static final String WRITE_TARGETS = ".mp4, .gif, .png (one frame) or a directory (PNG frames)";
    private static final String READ_SOURCES = ".mp4, .mov, .avi, .webm, .mkv, .gif, .png, .jpg, .jpeg or a directory of frame images";

    private static volatile Boolean mp4Available;

    private VideoIO() {}

    /** What a write target is. */
    private enum Target { MP4, GIF, PNG, DIRECTORY }

    /**
     * Writes {@code v} by target: a path ending {@code .mp4} (H.264, see below), {@code .gif} (animated, loops forever,
     * per-frame delay from the fps, lossy in colour for natural images), {@code .png} (only for a one-frame video),
     * or a directory, existing or new (a path without extension): PNG frames {@code frame_0000.png}, ... .
     *
     * <p>mp4: H.264 yuv420p at crf 5 (libx264, preset medium; the reference's imageio quality=9, near lossless), frame
     * rate = fps; width and height must be even. A new directory appears whole; into an existing one each frame file is renamed into place once all
     * are encoded, and older {@code frame_NNNN.png} beyond the new count are removed.
     *
     * @return {@code out}
     * @throws IllegalArgumentException for a target with an unsupported extension (the supported ones are named), a
     *         multi-frame video written to .png, or an odd size for mp4
     * @throws UnsupportedOperationException for mp4 when JavaCV/FFmpeg are not on the class path (the message names the
     *         Maven dependencies to add)
     * @throws IOException when encoding or the file system fails; nothing is then left under {@code out}
     */
    public static Path write(Video v, Path out) throws IOException {
        switch (target(out)) {
            case MP4 -> {
                requireMp4();
                Mp4Codec.write(v, out);
            }
            case GIF -> GifCodec.write(v, out);
            case PNG -> PngFrames.writePng(v, out);
            case DIRECTORY -> PngFrames.writeDirectory(v, out);
        }
        return out;
    }

    /** {@link #read(Path, int)} with no frame limit. */
    public static Video read(Path in) throws IOException {
        return read(in, Integer.MAX_VALUE);
    }

    /**
     * Reads a video, stopping after {@code maxFrames} frames: {@code .mp4 .mov .avi .webm .mkv} (any codec FFmpeg
     * decodes; needs the mp4 dependencies), {@code .gif} (composited as a browser shows it; fps from the frame
     * delays), a PNG/JPEG image (one frame), or a directory of PNG/JPEG frames in natural name order. Images and
     * directories carry no frame rate and get {@link #DEFAULT_FPS}. Alpha is dropped; grey becomes R = G = B.
     *
     * @throws NoSuchFileException when {@code in} does not exist
     * @throws IOException naming the file and why for an unreadable, corrupt or truncated file, an empty directory or
     *         an unsupported extension (the supported ones are named)
     */
    public static Video read(Path in, int maxFrames) throws IOException {
        if (maxFrames < 1) throw new IllegalArgumentException("maxFrames must be at least 1, got " + maxFrames);
        if (!Files.exists(in)) throw new NoSuchFileException(in.toString(), null, "no such video, image or frame directory");
        if (Files.isDirectory(in)) return PngFrames.readDirectory(in, maxFrames, DEFAULT_FPS);
        String ext = extension(in.getFileName().toString());
        if (VIDEO_EXTENSIONS.contains(ext)) {
            requireMp4();
            return Mp4Codec.read(in, maxFrames);
        }
        if (ext.equals("gif")) return GifCodec.read(in, maxFrames);
        if (PngFrames.IMAGE_EXTENSIONS.contains(ext)) return PngFrames.readImage(in, DEFAULT_FPS);
        throw new IOException("cannot read " + in + ": unsupported extension '" + ext + "'; supported: " + READ_SOURCES);
    }

    /**
     * True when JavaCV and FFmpeg are on the class path and FFmpeg's natives load on this platform (checked once; the
     * first call loads the natives, which takes a moment).
     */
    public static boolean mp4Available() {
        Boolean a = mp4Available;
        if (a == null) {
            a = classesPresent() && Mp4Codec.nativesLoad();
            mp4Available = a;
        }
        return a;
    }

    private static boolean classesPresent() {
        ClassLoader cl = VideoIO.class.getClassLoader();
        try {
            Class.forName("org.bytedeco.javacv.FFmpegFrameRecorder", false, cl);
            Class.forName("org.bytedeco.ffmpeg.global.avcodec", false, cl);
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** Fails with the dependencies to add when JavaCV/FFmpeg are absent, before any class referencing them loads. */
    private static void requireMp4() {
        if (!classesPresent())
            throw new UnsupportedOperationException("mp4 and other video containers need JavaCV and FFmpeg on the class path, "
                    + "which lavie-core declares optional: add " + MP4_DEPENDENCIES + "; or write .gif / PNG frames");
    }

    private static Target target(Path out) {
        if (Files.isDirectory(out)) return Target.DIRECTORY;
        Path name = out.getFileName();
        if (name == null) throw new IllegalArgumentException("cannot write a video to " + out + ": no file name");
        String ext = extension(name.toString());
        return switch (ext) {
            case "mp4" -> Target.MP4;
            case "gif" -> Target.GIF;
            case "png" -> Target.PNG;
            case "" -> Target.DIRECTORY;
            default -> throw new IllegalArgumentException("cannot write a video to " + out + ": unsupported extension '"
                    + ext + "'; supported: " + WRITE_TARGETS);
        };
    }

    /** The lower-case extension of a file name without the dot, or "" (also for hidden names like ".frames"). */
    static String extension(String name) {
        int dot = name.lastIndexOf('.');
        return dot <= 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }
}
