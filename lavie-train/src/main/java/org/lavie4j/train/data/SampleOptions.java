package org.lavie4j.train.data;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How {@link VideoSampleSource} turns manifest entries into {@link TrainingSample}s.
 *
 * @param frames         F, frames per clip (>= 1)
 * @param stride         frames of the video between two clip frames (>= 1; 1 = consecutive)
 * @param height         H of clip and images
 * @param width          W of clip and images
 * @param imageCount     still images per sample for joint image-video training (0 = video only)
 * @param flip           random horizontal flips, and what they do to captions
 * @param captionDropout probability in [0, 1] that a caption is replaced by "" (classifier-free guidance; LaVie 0.1)
 * @param seed           seed of the order and of every random choice
 * @param workers        threads preparing samples ahead (0 = prepare on the caller's thread)
 * @param prefetch       samples prepared ahead at most (>= 1; bounds the memory held)
 */
public record SampleOptions(int frames, int stride, int height, int width, int imageCount, Flip flip, double captionDropout,
                            long seed, int workers, int prefetch) {
    /** Default probability of caption dropout, as LaVie's training. */
    public static final double DEFAULT_CAPTION_DROPOUT = 0.1;

    public SampleOptions {
        if (frames < 1) throw new IllegalArgumentException("frames must be at least 1, got " + frames);
        if (stride < 1) throw new IllegalArgumentException("stride must be at least 1, got " + stride);
        if (height < 1 || width < 1) throw new IllegalArgumentException("height and width must be positive, got " + height + "x" + width);
        if (imageCount < 0) throw new IllegalArgumentException("imageCount must be >= 0, got " + imageCount);
        if (flip == null) throw new IllegalArgumentException("flip must not be null (Flip.NONE for no flips)");
        if (!(captionDropout >= 0 && captionDropout <= 1))
            throw new IllegalArgumentException("captionDropout must be in [0, 1], got " + captionDropout);
        if (workers < 0) throw new IllegalArgumentException("workers must be >= 0, got " + workers);
        if (prefetch < 1) throw new IllegalArgumentException("prefetch must be at least 1, got " + prefetch);
    }

    /**
     * F frames of H x W: stride 1, no images, no flips, caption dropout {@value #DEFAULT_CAPTION_DROPOUT}, seed 0, two
     * workers, four samples ahead.
     */
    public static SampleOptions of(int frames, int height, int width) {
        return new SampleOptions(frames, 1, height, width, 0, Flip.NONE, DEFAULT_CAPTION_DROPOUT, 0L, 2, 4);
    }

    public SampleOptions withStride(int s) { return new SampleOptions(frames, s, height, width, imageCount, flip, captionDropout, seed, workers, prefetch); }

    public SampleOptions withImageCount(int n) { return new SampleOptions(frames, stride, height, width, n, flip, captionDropout, seed, workers, prefetch); }

    public SampleOptions withFlip(Flip f) { return new SampleOptions(frames, stride, height, width, imageCount, f, captionDropout, seed, workers, prefetch); }

    public SampleOptions withCaptionDropout(double p) { return new SampleOptions(frames, stride, height, width, imageCount, flip, p, seed, workers, prefetch); }

    public SampleOptions withSeed(long s) { return new SampleOptions(frames, stride, height, width, imageCount, flip, captionDropout, s, workers, prefetch); }

    /** {@code w} worker threads keeping {@code ahead} samples prepared. */
    public SampleOptions withWorkers(int w, int ahead) { return new SampleOptions(frames, stride, height, width, imageCount, flip, captionDropout, seed, w, ahead); }

    /**
     * Random horizontal flips (each clip and each image independently, with probability 1/2). A mirrored video of
     * something moving left moves right, and "the left hand" becomes the right one, so a flip without changing the
     * caption teaches the model the wrong direction: with synthetic shapes (or any captions that name left and right)
     * use {@link #NONE} or {@link #SWAP_LEFT_RIGHT}.
     */
    public enum Flip {
        /** Never flip. */
        NONE,
        /** Flip, and swap the words left and right (also leftward(s), rightward(s), leftmost, rightmost) in the caption. */
        SWAP_LEFT_RIGHT,
        /** Flip and keep the caption unchanged: only for captions that never say left or right. */
        KEEP_CAPTION;

        private static final Pattern SIDE = Pattern.compile("\\b(left|right)(wards?|most)?\\b", Pattern.CASE_INSENSITIVE);

        /** The caption of a mirrored clip under this policy ({@link #SWAP_LEFT_RIGHT} swaps, keeping the letter case). */
        public String caption(String caption) {
            if (this != SWAP_LEFT_RIGHT) return caption;
            return swapLeftRight(caption);
        }

        /** "a red circle moving left" -> "a red circle moving right"; "Left" -> "Right", "LEFT" -> "RIGHT". */
        public static String swapLeftRight(String caption) {
            Matcher m = SIDE.matcher(caption);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                String w = m.group(1);
                String other = w.equalsIgnoreCase("left") ? "right" : "left";
                if (w.equals(w.toUpperCase(java.util.Locale.ROOT)) && w.length() > 1) other = other.toUpperCase(java.util.Locale.ROOT);
                else if (Character.isUpperCase(w.charAt(0))) other = Character.toUpperCase(other.charAt(0)) + other.substring(1);
                m.appendReplacement(sb, Matcher.quoteReplacement(other + (m.group(2) == null ? "" : m.group(2))));
            }
            m.appendTail(sb);
            return sb.toString();
        }
    }
}
