package org.lavie4j.nn.attention;

/**
 * How the frame axis of a batch is laid out for joint image-video training (LaVie base §11): the first
 * {@code videoFrames} frames of every sample are one clip and take part in temporal attention; the
 * {@code imageCount} frames after them are independent still images that temporal attention leaves untouched. Every
 * other layer treats all of them as frames. Inference uses {@code imageCount = 0}.
 */
public record FrameLayout(int videoFrames, int imageCount) {
    public FrameLayout {
        if (videoFrames < 1) throw new IllegalArgumentException("FrameLayout: videoFrames must be at least 1, got " + videoFrames);
        if (imageCount < 0) throw new IllegalArgumentException("FrameLayout: imageCount must not be negative, got " + imageCount);
    }

    /** A plain video of {@code frames} frames (inference). */
    public static FrameLayout video(int frames) { return new FrameLayout(frames, 0); }

    /** All frames per sample: video frames then images. */
    public int frames() { return videoFrames + imageCount; }

    /** Checks that a tensor's frame count is this layout's; {@code what} names the tensor in the error. */
    public void check(long frames, String what) {
        if (frames != frames())
            throw new IllegalArgumentException(what + " has " + frames + " frames but the layout has " + videoFrames
                    + " video frames + " + imageCount + " images = " + frames());
    }
}
