package org.lavie4j.examples.cli;

import org.lavie4j.core.media.VideoIO;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Checks of a video output path that every generating command makes before any work, so that a bad --out costs nothing. */
final class OutputTarget {
    private OutputTarget() {}

    /**
     * Why {@code target} cannot be written, or null when it can: an unsupported extension, mp4 without FFmpeg on the
     * class path, an existing file without {@code force}, a folder where a file is meant, or the input itself.
     *
     * @param pngAllowed whether FILE.png (one frame) is a valid target for this command
     * @param input      the command's input video, or null
     */
    static String problem(Path target, boolean force, boolean pngAllowed, Path input) {
        String name = target.getFileName() == null ? "" : target.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean png = name.endsWith(".png");
        boolean file = name.endsWith(".mp4") || name.endsWith(".gif") || (pngAllowed && png);
        String formats = pngAllowed ? "FILE.mp4, FILE.gif, FILE.png (one frame) or a folder for PNG frames"
                : "FILE.mp4, FILE.gif or a folder for PNG frames";
        if (png && !pngAllowed) return "--out " + target + ": one PNG holds one frame; use " + formats;
        if (!file && name.contains(".") && !Files.isDirectory(target)) return "--out " + target + ": unsupported output; use " + formats;
        if (name.endsWith(".mp4") && !VideoIO.mp4Available())
            return "--out " + target + ": mp4 needs JavaCV and FFmpeg on the classpath (" + VideoIO.MP4_DEPENDENCIES + "); write .gif or PNG frames instead";
        if (Files.exists(target) && !force) return "--out " + target + ": already exists (use --force to replace it)";
        if (Files.isDirectory(target) && file) return "--out " + target + ": is a folder";
        if (input != null && Files.exists(target) && target.toAbsolutePath().normalize().equals(input.toAbsolutePath().normalize()))
            return "--out " + target + ": is the input";
        return null;
    }

    /** A file's name without its extension (the original's default prompt and output name for a video). */
    static String stem(Path file) {
        Path name = file.toAbsolutePath().normalize().getFileName();
        String s = name == null ? "" : name.toString();
        int dot = s.lastIndexOf('.');
        return dot > 0 ? s.substring(0, dot) : s;
    }
}
