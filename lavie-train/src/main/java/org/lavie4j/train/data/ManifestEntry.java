package org.lavie4j.train.data;

import java.nio.file.Path;

/**
 * One item of a manifest: a media file (video, or image for image-text sets) and its caption, with what the manifest
 * says about the video where it says it (Open-Sora columns; 0 = not given).
 *
 * @param path      the file, resolved against the manifest's folder or the given root
 * @param caption   its caption ("" allowed)
 * @param numFrames frames in the video, 0 when not given
 * @param height    frame height, 0 when not given
 * @param width     frame width, 0 when not given
 * @param fps       frame rate, 0 when not given
 * @param origin    where the entry was read ("videos.csv:12"), for error messages; "" when made in code
 */
public record ManifestEntry(Path path, String caption, int numFrames, int height, int width, double fps, String origin) {
    public ManifestEntry {
        if (path == null) throw new IllegalArgumentException("ManifestEntry: path must not be null");
        if (caption == null) throw new IllegalArgumentException("ManifestEntry: caption must not be null (use \"\")");
        if (numFrames < 0 || height < 0 || width < 0 || !(fps >= 0) || Double.isInfinite(fps))
            throw new IllegalArgumentException("ManifestEntry " + path + ": num_frames, height, width and fps must be >= 0 (0 = unknown), got "
                    + numFrames + ", " + height + ", " + width + ", " + fps);
        if (origin == null) origin = "";
    }

    /** A file and its caption, nothing else known. */
    public ManifestEntry(Path path, String caption) {
        this(path, caption, 0, 0, 0, 0, "");
    }

    /** "videos.csv:12 (videos/a.mp4)" or just the path when the entry was made in code. */
    public String where() {
        return origin.isEmpty() ? path.toString() : origin + " (" + path + ")";
    }
}
