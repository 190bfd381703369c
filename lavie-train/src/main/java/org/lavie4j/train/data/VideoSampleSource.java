package org.lavie4j.train.data;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Training samples from a video manifest (and optionally an image-text manifest): a clip of F frames at a stride from
 * a random start, resized, center-cropped, maybe flipped ({@link FrameTransform}, {@link SampleOptions.Flip}), with its
 * caption (dropped to "" with probability {@code captionDropout}), plus {@code imageCount} still images with their own
 * captions.
 *
 * <p><b>Order and resume.</b> Sample {@code i} is a pure function of (entries, options, i): its video is entry
 * {@code perm_e[i mod N]} of epoch {@code e = i / N}, each epoch a fresh seeded shuffle; its start frame, flips and
 * caption dropout come from generators seeded by (seed, i). So {@link #seek} is exact and O(1), and worker threads can
 * prepare samples {@code i+1, i+2, ...} ahead in any order while {@link #next} hands them out in order: the stream
 * does not depend on the number of workers. Images follow the same scheme over their own list, {@code imageCount}
 * slots per sample; without an image manifest they are single random frames of the videos (with the videos'
 * captions), as training on frames of the video set does.
 *
 * <p><b>Unreadable files</b> (missing, corrupt, no frames) are skipped: a warning names the file and why (once per
 * file), {@link #skipped()} counts each skip among the samples handed out, and the sample is drawn instead from
 * another entry chosen by a generator seeded by (seed, i, attempt), so the stream stays a function of i. A file that
 * failed once is not decoded again. After {@value #MAX_ATTEMPTS} failures in a row for one sample (a manifest of
 * mostly unreadable files) {@link #next} throws {@link IllegalStateException} naming the last error.
 *
 * <p><b>Clips from short videos.</b> A clip spans {@code (F-1)*stride + 1} frames. A video shorter than that but with
 * at least F frames gets the largest stride that fits; one with fewer than F frames repeats frames
 * ({@code index = floor(k * n / F)}), logged at debug.
 *
 * <p>Not done yet: caches of VAE latents or text embeddings, and bucketing by aspect ratio. One consumer thread; the
 * samples' arrays belong to the caller (created outside any workspace).
 */
public final class VideoSampleSource implements SampleSource {
    private static final Logger LOG = LoggerFactory.getLogger(VideoSampleSource.class);
    /** Failures in a row for one sample before giving up. */
    static final int MAX_ATTEMPTS = 64;
    private static final AtomicInteger THREADS = new AtomicInteger();

    private final List<ManifestEntry> videos;
    private final List<ManifestEntry> images;   // == videos when images are frames of the videos
    private final boolean imagesFromVideos;
    private final SampleOptions options;
    private final ExecutorService pool;
    private final ArrayDeque<Future<Prepared>> ahead = new ArrayDeque<>();
    private final Map<Path, String> unreadable = new ConcurrentHashMap<>();
    private final Map<Long, int[]> videoOrder = new LinkedHashMap<>(), imageOrder = new LinkedHashMap<>();
    private long position, submitted, skipped;
    private boolean closed;

    /** A prepared sample and the number of skips it took. */
    private record Prepared(TrainingSample sample, int skips) {}

    /**
     * @param videos  the video entries (at least one)
     * @param images  image-text entries for the image part; empty: frames of the videos (used only when
     *                {@code options.imageCount() > 0})
     * @param options frames, size, flips, dropout, seed, workers
     */
    public VideoSampleSource(List<ManifestEntry> videos, List<ManifestEntry> images, SampleOptions options) {
        if (videos == null || videos.isEmpty()) throw new IllegalArgumentException("VideoSampleSource: no videos");
        this.videos = List.copyOf(videos);
        this.imagesFromVideos = images == null || images.isEmpty();
        this.images = imagesFromVideos ? this.videos : List.copyOf(images);
        this.options = options;
        this.pool = options.workers() == 0 ? null : Executors.newFixedThreadPool(options.workers(), r -> {
            Thread t = new Thread(r, "lavie-data-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** Samples from the videos of {@code videos}, images (if {@code options.imageCount() > 0}) from {@code images} or, when null, the videos' frames. */
    public static VideoSampleSource of(Manifest videos, Manifest images, SampleOptions options) {
        return new VideoSampleSource(videos.entries(), images == null ? List.of() : images.entries(), options);
    }

    public SampleOptions options() { return options; }

    @Override
    public TrainingSample next() {
        if (closed) throw new IllegalStateException("VideoSampleSource is closed");
        Prepared p;
        if (pool == null) {
            p = prepare(position);
        } else {
            fill();
            Future<Prepared> f = ahead.poll();
            try {
                p = f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for sample " + position, e);
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (c instanceof RuntimeException r) throw r;
                if (c instanceof Error err) throw err;
                throw new IllegalStateException("preparing sample " + position + " failed: " + c, c);
            }
        }
        position++;
        skipped += p.skips();
        if (pool != null) fill();
        return p.sample();
    }

    @Override
    public long position() { return position; }

    @Override
    public void seek(long position) {
        if (position < 0) throw new IllegalArgumentException("position must be >= 0, got " + position);
        for (Future<Prepared> f : ahead) f.cancel(false);
        ahead.clear();
        this.position = position;
        this.submitted = position;
    }

    @Override
    public long skipped() { return skipped; }

    @Override
    public void close() {
        closed = true;
        for (Future<Prepared> f : ahead) f.cancel(false);
        ahead.clear();
        if (pool != null) pool.shutdownNow();
    }

    private void fill() {
        while (ahead.size() < options.prefetch()) {
            long i = submitted++;
            ahead.add(pool.submit(() -> prepare(i)));
        }
    }

    /** Sample {@code i}: a pure function of the entries, the options and {@code i}. */
    Prepared prepare(long i) {
        SampleOptions o = options;
        // augmentation choices first, in a fixed order, independent of which file ends up being read
        SplittableRandom aug = new SplittableRandom(Seeds.mix(o.seed(), Seeds.AUGMENT, i));
        boolean flipClip = o.flip() != SampleOptions.Flip.NONE && aug.nextBoolean();
        boolean[] flipImage = new boolean[o.imageCount()];
        for (int j = 0; j < flipImage.length; j++) flipImage[j] = o.flip() != SampleOptions.Flip.NONE && aug.nextBoolean();
        boolean dropClip = aug.nextDouble() < o.captionDropout();
        boolean[] dropImage = new boolean[o.imageCount()];
        for (int j = 0; j < dropImage.length; j++) dropImage[j] = aug.nextDouble() < o.captionDropout();

        int[] skips = {0};
        Loaded clip = load(videos, videoOrder, Seeds.VIDEO_ORDER, i, o.frames(), o.stride(), flipClip, skips, "video");
        String caption = flipClip ? o.flip().caption(clip.entry.caption()) : clip.entry.caption();
        List<INDArray> ims = new ArrayList<>(o.imageCount());
        List<String> caps = new ArrayList<>(o.imageCount());
        for (int j = 0; j < o.imageCount(); j++) {
            long slot = i * o.imageCount() + j;
            Loaded im = load(images, imageOrder, Seeds.IMAGE_ORDER, slot, 1, 1, flipImage[j], skips, imagesFromVideos ? "video frame" : "image");
            ims.add(im.pixels.reshape(3, o.height(), o.width()));   // (3, 1, H, W) -> (3, H, W)
            String c = flipImage[j] ? o.flip().caption(im.entry.caption()) : im.entry.caption();
            caps.add(dropImage[j] ? "" : c);
        }
        return new Prepared(new TrainingSample(clip.pixels, dropClip ? "" : caption, ims, caps, clip.where), skips[0]);
    }

    /** A decoded, transformed clip (or single frame) and where it came from. */
    private record Loaded(ManifestEntry entry, INDArray pixels, String where) {}

    /** Slot {@code slot} of a stream over {@code entries}: its entry, or after failures a fallback entry. */
    private Loaded load(List<ManifestEntry> entries, Map<Long, int[]> orders, long stream, long slot, int frames, int stride,
                        boolean flip, int[] skips, String kind) {
        int n = entries.size();
        String lastError = null;
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            int index = attempt == 0 ? order(orders, stream, slot / n, n)[(int) (slot % n)]
                    : new SplittableRandom(Seeds.mix(options.seed(), Seeds.FALLBACK, stream, slot, attempt)).nextInt(n);
            ManifestEntry e = entries.get(index);
            String known = unreadable.get(e.path());
            if (known != null) {
                skips[0]++;
                lastError = known;
                LOG.debug("skipping unreadable {} {}: {}", kind, e.path(), known);
                continue;
            }
            long pick = Seeds.mix(options.seed(), stream == Seeds.VIDEO_ORDER ? Seeds.CLIP : Seeds.IMAGE, slot, attempt);
            try {
                return decode(e, frames, stride, flip, pick);
            } catch (IOException | RuntimeException ex) {
                if (ex instanceof UnsupportedOperationException u) throw u;   // FFmpeg missing: a setup error, not a bad file
                String why = ex.getMessage() == null ? ex.toString() : ex.getMessage();
                if (unreadable.putIfAbsent(e.path(), why) == null)
                    LOG.warn("skipping unreadable {}{}: {}", kind, e.origin().isEmpty() ? "" : " (" + e.origin() + ")", why);
                skips[0]++;
                lastError = why;
            }
        }
        throw new IllegalStateException(String.format(Locale.ROOT, "%d %ss in a row could not be read for sample slot %d (%d of %d files "
                + "known unreadable); last: %s", MAX_ATTEMPTS, kind, slot, unreadable.size(), n, lastError));
    }

    /** Decodes and transforms the frames of {@code e}; the start frame is drawn from a generator seeded by {@code pickSeed}. */
    private Loaded decode(ManifestEntry e, int frames, int stride, boolean flip, long pickSeed) throws IOException {
        FrameReader.Frames fr = FrameReader.read(e.path(), total -> {
            SplittableRandom pick = new SplittableRandom(pickSeed);
            return frames == 1 ? new int[]{pick.nextInt(total)} : clipIndices(total, frames, stride, pick);
        });
        SampleOptions o = options;
        FrameTransform t = new FrameTransform(fr.height(), fr.width(), o.height(), o.width());
        float[] data = new float[3 * frames * o.height() * o.width()];
        for (int f = 0; f < frames; f++) t.apply(fr.rgb()[f], flip, data, f, frames);
        INDArray x = Nd4j.createFromArray(data).reshape('c', 3, frames, o.height(), o.width());   // (3, F, H, W)
        int[] idx = fr.indices();
        String where = e.path() + (idx.length == 1 ? " frame " + idx[0] : " frames " + describe(idx)) + " of " + fr.total()
                + (flip ? ", flipped" : "");
        return new Loaded(e, x, where);
    }

    /**
     * F frame indices from a video of {@code n} frames: {@code start + k*stride} from a uniformly random start; a
     * shorter video gets the largest stride that fits, or repeated frames when it has fewer than F.
     */
    static int[] clipIndices(int n, int frames, int stride, SplittableRandom rng) {
        int[] idx = new int[frames];
        int s = stride;
        if ((long) (frames - 1) * s + 1 > n) {
            s = frames == 1 ? 1 : (n - 1) / (frames - 1);
            if (s < 1) {
                LOG.debug("video of {} frames for a {}-frame clip: repeating frames", n, frames);
                for (int k = 0; k < frames; k++) idx[k] = (int) ((long) k * n / frames);
                return idx;
            }
        }
        int span = (frames - 1) * s + 1;
        int start = rng.nextInt(n - span + 1);
        for (int k = 0; k < frames; k++) idx[k] = start + k * s;
        return idx;
    }

    private static String describe(int[] idx) {
        int step = idx.length > 1 ? idx[1] - idx[0] : 1;
        for (int k = 1; k < idx.length; k++) if (idx[k] - idx[k - 1] != step) return java.util.Arrays.toString(idx);
        return idx[0] + ".." + idx[idx.length - 1] + (step == 1 ? "" : " step " + step);
    }

    /** The seeded shuffle of epoch {@code epoch} over {@code n} entries (the last few epochs are kept). */
    private int[] order(Map<Long, int[]> cache, long stream, long epoch, int n) {
        synchronized (cache) {
            int[] p = cache.get(epoch);
            if (p != null) return p;
        }
        int[] p = new int[n];
        for (int k = 0; k < n; k++) p[k] = k;
        SplittableRandom r = new SplittableRandom(Seeds.mix(options.seed(), stream, epoch));
        for (int k = n - 1; k > 0; k--) {   // Fisher-Yates
            int j = r.nextInt(k + 1);
            int t = p[k];
            p[k] = p[j];
            p[j] = t;
        }
        synchronized (cache) {
            cache.put(epoch, p);
            while (cache.size() > 3) cache.remove(cache.keySet().iterator().next());
        }
        return p;
    }
}
