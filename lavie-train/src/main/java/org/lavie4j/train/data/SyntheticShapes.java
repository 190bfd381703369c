package org.lavie4j.train.data;

import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.train.data.ShapeCaption.Colour;
import org.lavie4j.train.data.ShapeCaption.Direction;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * A synthetic text-video data set that needs nothing from the network: one coloured shape ({@link ShapeCaption}) moving
 * steadily in a straight line across a plain dark background, captioned "a red circle moving left". Every training
 * feature (data loading, joint image-video batches, caption dropout, prompt following on held-out combinations via
 * {@link ShapeDescriber}) can run offline on it, in tests, in seconds.
 *
 * <p><b>A clip.</b> The shape's box side is 22-32% of the shorter frame side; the shape stays wholly inside the frame,
 * moves a constant step per frame along its direction, covering 55-85% of the free length of the frame by default
 * ({@link Options#travelMin()} .. {@link Options#travelMax()}; 100% goes from one edge to the other), at a random
 * position across it. The background is one dark colour (each channel 0-45, near grey). Pixels are anti-aliased by
 * 4x4 supersampling, so the motion is smooth at sub-pixel speeds. Everything is drawn from a generator seeded by
 * (seed, clip index): the same options give the same clips, and clip {@code k} does not depend on the count.
 *
 * <p><b>Balance and held-out combinations.</b> The colour x shape x direction combinations not held out are dealt in
 * rounds, each round a fresh seeded shuffle of all of them, so every combination appears {@code count / M} or one more
 * times. Held-out combinations never appear in the training videos; their captions are written to
 * {@code heldout.txt} (prompts for measuring prompt following on unseen combinations). Stills are drawn from the same
 * allowed combinations.
 *
 * <p><b>Files</b> (in the output folder; each written atomically, manifests last): {@code videos/NNNNNN_<colour>_<shape>_<direction>.mp4},
 * {@code videos.csv} and {@code videos.jsonl} ({@code path,caption}, paths relative to the folder); with stills
 * {@code images/NNNNNN_<colour>_<shape>.png}, {@code images.csv}, {@code images.jsonl} (captions "a red circle": a
 * still shows no motion); with held-out combinations {@code heldout.txt}. Files of an earlier run in the folder are
 * overwritten where the names coincide and otherwise left alone; the manifests list exactly this run's files.
 *
 * <p><b>Horizontal flips</b> turn "moving left" into a clip that moves right: train on this data with
 * {@link SampleOptions.Flip#NONE} or {@link SampleOptions.Flip#SWAP_LEFT_RIGHT} (which swaps the words), never
 * {@link SampleOptions.Flip#KEEP_CAPTION}.
 */
public final class SyntheticShapes {
    /** Supersampling factor per axis for anti-aliased edges. */
    private static final int SS = 4;

    private SyntheticShapes() {}

    /**
     * What to generate.
     *
     * @param count   number of videos (>= 1)
     * @param height  frame height (even, >= 16: mp4 needs even sizes)
     * @param width   frame width (even, >= 16)
     * @param frames  frames per clip (>= 2)
     * @param fps     frame rate written into the mp4
     * @param seed    seed of everything random
     * @param holdout combinations that must not appear (may be empty; not all of them)
     * @param stills  number of still images for the image-text manifest (0 = none)
     * @param travelMin shortest distance a shape covers, as a fraction of the free length along its direction (the
     *                  frame minus the shape's box); in (0, 1]
     * @param travelMax longest such distance, in [travelMin, 1]; each clip draws its own uniformly in between
     */
    public record Options(int count, int height, int width, int frames, double fps, long seed, Set<ShapeCaption> holdout, int stills,
                          double travelMin, double travelMax) {
        /** The default travel: 55-85% of the free length. */
        public static final double TRAVEL_MIN = 0.55, TRAVEL_MAX = 0.85;

        public Options {
            if (count < 1) throw new IllegalArgumentException("count must be at least 1, got " + count);
            if (height < 16 || width < 16 || height % 2 != 0 || width % 2 != 0)
                throw new IllegalArgumentException("frame size must be even and at least 16x16 (mp4), got " + height + "x" + width + " (HxW)");
            if (frames < 2) throw new IllegalArgumentException("frames must be at least 2 (the shape must move), got " + frames);
            if (!(fps > 0) || Double.isInfinite(fps)) throw new IllegalArgumentException("fps must be positive, got " + fps);
            if (stills < 0) throw new IllegalArgumentException("stills must be >= 0, got " + stills);
            checkTravel(travelMin, travelMax);
            holdout = Collections.unmodifiableSet(new LinkedHashSet<>(holdout == null ? Set.of() : holdout));
            if (holdout.containsAll(ShapeCaption.all()))
                throw new IllegalArgumentException("every combination is held out: nothing left to generate");
        }

        /** Options with the default travel (55-85% of the free length). */
        public Options(int count, int height, int width, int frames, double fps, long seed, Set<ShapeCaption> holdout, int stills) {
            this(count, height, width, frames, fps, seed, holdout, stills, TRAVEL_MIN, TRAVEL_MAX);
        }

        /** {@code count} clips of {@code size x size}, {@code frames} frames at 8 fps, seed 0, nothing held out, no stills. */
        public static Options of(int count, int size, int frames) {
            return new Options(count, size, size, frames, 8.0, 0L, Set.of(), 0);
        }

        public Options withSeed(long s) { return new Options(count, height, width, frames, fps, s, holdout, stills, travelMin, travelMax); }

        public Options withFps(double f) { return new Options(count, height, width, frames, f, seed, holdout, stills, travelMin, travelMax); }

        public Options withSize(int h, int w) { return new Options(count, h, w, frames, fps, seed, holdout, stills, travelMin, travelMax); }

        public Options withHoldout(Set<ShapeCaption> h) { return new Options(count, height, width, frames, fps, seed, h, stills, travelMin, travelMax); }

        public Options withStills(int n) { return new Options(count, height, width, frames, fps, seed, holdout, n, travelMin, travelMax); }

        /** Each shape covers between {@code min} and {@code max} of the free length (1, 1: from one edge to the other). */
        public Options withTravel(double min, double max) { return new Options(count, height, width, frames, fps, seed, holdout, stills, min, max); }

        /** The combinations clips are drawn from: all but the held-out ones, in enum order. */
        public List<ShapeCaption> allowed() {
            List<ShapeCaption> out = new ArrayList<>(ShapeCaption.all());
            out.removeAll(holdout);
            return out;
        }
    }

    /**
     * What {@link #generate} wrote.
     *
     * @param dir       the output folder
     * @param videos    the videos with their captions (as in videos.csv)
     * @param images    the stills with their captions (as in images.csv; empty without stills)
     * @param files     the manifest and list files written (videos.csv, videos.jsonl, ...)
     * @param heldOut   the held-out combinations
     * @param seconds   wall time of the whole generation
     */
    public record Generated(Path dir, List<ManifestEntry> videos, List<ManifestEntry> images, List<Path> files,
                            Set<ShapeCaption> heldOut, double seconds) {
        public Generated {
            videos = List.copyOf(videos);
            images = List.copyOf(images);
            files = List.copyOf(files);
            heldOut = Set.copyOf(heldOut);
        }

        /** The CSV manifest of the videos. */
        public Path videoManifest() { return dir.resolve("videos.csv"); }

        /** The CSV manifest of the stills (exists only when stills were asked for). */
        public Path imageManifest() { return dir.resolve("images.csv"); }
    }

    /** One clip's geometry and colours, all drawn from the clip's seed. */
    record Scene(ShapeCaption what, int[] background, double side, double x0, double y0, double x1, double y1) {
        /** Centre of the shape in frame {@code f} of {@code frames} (pixel units, pixel centres at i + 0.5). */
        double x(int f, int frames) { return x0 + (x1 - x0) * f / (frames - 1); }

        double y(int f, int frames) { return y0 + (y1 - y0) * f / (frames - 1); }
    }

    /** The combination of clip {@code k}: combinations are dealt in seeded, shuffled rounds over {@code allowed}. */
    public static ShapeCaption combination(Options o, long k) {
        List<ShapeCaption> allowed = o.allowed();
        long round = k / allowed.size();
        List<ShapeCaption> deck = new ArrayList<>(allowed);
        Collections.shuffle(deck, new java.util.Random(Seeds.mix(o.seed(), Seeds.SYNTHETIC_ROUND, round)));
        return deck.get((int) (k % allowed.size()));
    }

    /** Clip {@code k} of the data set {@code o} describes (no files). */
    public static Video clip(Options o, long k) {
        return render(scene(combination(o, k), o.height(), o.width(), o.travelMin(), o.travelMax(),
                        new SplittableRandom(Seeds.mix(o.seed(), Seeds.SYNTHETIC_CLIP, k))), o.height(), o.width(), o.frames(), o.fps());
    }

    /** A clip of {@code what} with geometry drawn from {@code rng} (the default travel, 55-85% of the free length). */
    public static Video clip(ShapeCaption what, int height, int width, int frames, double fps, SplittableRandom rng) {
        return clip(what, height, width, frames, fps, Options.TRAVEL_MIN, Options.TRAVEL_MAX, rng);
    }

    /** A clip of {@code what} covering {@code travelMin .. travelMax} of the free length, geometry drawn from {@code rng}. */
    public static Video clip(ShapeCaption what, int height, int width, int frames, double fps, double travelMin, double travelMax,
                             SplittableRandom rng) {
        if (frames < 2) throw new IllegalArgumentException("frames must be at least 2, got " + frames);
        checkTravel(travelMin, travelMax);
        return render(scene(what, height, width, travelMin, travelMax, rng), height, width, frames, fps);
    }

    /** Still {@code k}: a shape of an allowed combination at a random position (one frame). */
    public static Video still(Options o, long k) {
        SplittableRandom rng = new SplittableRandom(Seeds.mix(o.seed(), Seeds.SYNTHETIC_STILL, k));
        List<ShapeCaption> allowed = o.allowed();
        ShapeCaption what = allowed.get(rng.nextInt(allowed.size()));
        Scene s = scene(what, o.height(), o.width(), o.travelMin(), o.travelMax(), rng);
        double t = rng.nextDouble();
        double x = s.x0() + (s.x1() - s.x0()) * t, y = s.y0() + (s.y1() - s.y0()) * t;
        Scene at = new Scene(what, s.background(), s.side(), x, y, x, y);
        return render(at, o.height(), o.width(), 1, o.fps());
    }

    /** The combination still {@code k} shows (its caption is {@link ShapeCaption#stillCaption()}). */
    public static ShapeCaption stillCombination(Options o, long k) {
        SplittableRandom rng = new SplittableRandom(Seeds.mix(o.seed(), Seeds.SYNTHETIC_STILL, k));
        List<ShapeCaption> allowed = o.allowed();
        return allowed.get(rng.nextInt(allowed.size()));
    }

    /** Travel ranges must be fractions of the free length with 0 < min <= max <= 1. */
    private static void checkTravel(double travelMin, double travelMax) {
        if (!(travelMin > 0 && travelMin <= travelMax && travelMax <= 1))
            throw new IllegalArgumentException("travel must be fractions of the free length with 0 < min <= max <= 1, got " + travelMin + ".." + travelMax);
    }

    static Scene scene(ShapeCaption what, int h, int w, double travelMin, double travelMax, SplittableRandom rng) {
        int[] bg = new int[3];
        int base = rng.nextInt(5, 36);
        for (int c = 0; c < 3; c++) bg[c] = Math.max(0, Math.min(45, base + rng.nextInt(-8, 9)));
        double side = Math.min(h, w) * (0.22 + 0.10 * rng.nextDouble());
        double half = side / 2 + 1.0;   // keep one pixel of background around the box
        Direction d = what.direction();
        boolean horizontal = d.dx() != 0;
        double along = horizontal ? w : h, across = horizontal ? h : w;
        double free = along - 2 * half;
        // the default's span is written as 0.30 (not 0.85 - 0.55, which rounds differently): the clips of earlier versions
        double span = travelMin == Options.TRAVEL_MIN && travelMax == Options.TRAVEL_MAX ? 0.30 : travelMax - travelMin;
        double travel = free * (travelMin + span * rng.nextDouble());
        double start = half + rng.nextDouble() * (free - travel);
        double end = start + travel;
        if (d == Direction.LEFT || d == Direction.UP) {
            double t = start;
            start = end;
            end = t;
        }
        double pos = half + rng.nextDouble() * (across - 2 * half);
        return horizontal ? new Scene(what, bg, side, start, pos, end, pos) : new Scene(what, bg, side, pos, start, pos, end);
    }

    static Video render(Scene s, int h, int w, int frames, double fps) {
        int[] fg = s.what().colour().rgb();
        int[] bg = s.background();
        double r = s.side() / 2;
        byte[][] rgb = new byte[frames][3 * h * w];
        for (int f = 0; f < frames; f++) {
            double cx = frames == 1 ? s.x0() : s.x(f, frames), cy = frames == 1 ? s.y0() : s.y(f, frames);
            byte[] out = rgb[f];
            int y0 = Math.max(0, (int) Math.floor(cy - r) - 1), y1 = Math.min(h - 1, (int) Math.ceil(cy + r) + 1);
            int x0 = Math.max(0, (int) Math.floor(cx - r) - 1), x1 = Math.min(w - 1, (int) Math.ceil(cx + r) + 1);
            for (int p = 0; p < h * w; p++) {
                out[3 * p] = (byte) bg[0];
                out[3 * p + 1] = (byte) bg[1];
                out[3 * p + 2] = (byte) bg[2];
            }
            for (int y = y0; y <= y1; y++) {
                for (int x = x0; x <= x1; x++) {
                    int inside = 0;
                    for (int sy = 0; sy < SS; sy++) {
                        double py = (y + (sy + 0.5) / SS - cy) / r;
                        for (int sx = 0; sx < SS; sx++) {
                            double px = (x + (sx + 0.5) / SS - cx) / r;
                            if (s.what().shape().contains(px, py)) inside++;
                        }
                    }
                    if (inside == 0) continue;
                    double a = inside / (double) (SS * SS);
                    int o = 3 * (y * w + x);
                    for (int c = 0; c < 3; c++) out[o + c] = (byte) (int) Math.round(bg[c] + (fg[c] - bg[c]) * a);
                }
            }
        }
        return Video.fromRgb(rgb, h, w, fps);
    }

    /** {@link #generate(Path, Options, Consumer)} without progress. */
    public static Generated generate(Path dir, Options o) throws IOException {
        return generate(dir, o, p -> {});
    }

    /**
     * Writes the data set into {@code dir} (created when missing): the mp4s, the stills, then the manifests (see the
     * class comment). {@code progress} receives each media file once it is in place.
     *
     * @throws IOException when a file cannot be written (files already written stay; no manifest is then written)
     */
    public static Generated generate(Path dir, Options o, Consumer<Path> progress) throws IOException {
        long t0 = System.nanoTime();
        Files.createDirectories(dir);
        int digits = Math.max(6, Long.toString(Math.max(o.count(), o.stills()) - 1L).length());
        String fmt = "%0" + digits + "d_%s";
        List<ManifestEntry> videos = new ArrayList<>(o.count());
        for (int k = 0; k < o.count(); k++) {
            ShapeCaption what = combination(o, k);
            Path file = dir.resolve("videos").resolve(String.format(Locale.ROOT, fmt, k, what.combination().replace(' ', '_')) + ".mp4");
            VideoIO.write(clip(o, k), file);
            videos.add(new ManifestEntry(file, what.caption()));
            progress.accept(file);
        }
        List<ManifestEntry> images = new ArrayList<>(o.stills());
        for (int k = 0; k < o.stills(); k++) {
            ShapeCaption what = stillCombination(o, k);
            Path file = dir.resolve("images").resolve(String.format(Locale.ROOT, fmt, k,
                    what.colour().word() + "_" + what.shape().word()) + ".png");
            VideoIO.write(still(o, k), file);
            images.add(new ManifestEntry(file, what.stillCaption()));
            progress.accept(file);
        }
        List<Path> files = new ArrayList<>();
        for (String name : List.of("videos.csv", "videos.jsonl")) {
            Manifest.write(dir.resolve(name), videos);
            files.add(dir.resolve(name));
        }
        if (!images.isEmpty()) {
            for (String name : List.of("images.csv", "images.jsonl")) {
                Manifest.write(dir.resolve(name), images);
                files.add(dir.resolve(name));
            }
        }
        if (!o.holdout().isEmpty()) {
            StringBuilder sb = new StringBuilder();
            for (ShapeCaption c : o.holdout()) sb.append(c.caption()).append('\n');
            byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
            Path held = dir.resolve("heldout.txt");
            org.lavie4j.core.io.AtomicFiles.write(held, ch -> org.lavie4j.core.io.AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
            files.add(held);
        }
        return new Generated(dir, videos, images, files, o.holdout(), (System.nanoTime() - t0) / 1e9);
    }

    /** The colours, shapes and directions, for help texts: "red, orange, ...; circle, ...; left, ...". */
    public static String vocabulary() {
        return String.join(", ", java.util.Arrays.stream(Colour.values()).map(Colour::word).toList()) + "; "
                + String.join(", ", java.util.Arrays.stream(ShapeCaption.Shape.values()).map(ShapeCaption.Shape::word).toList()) + "; "
                + String.join(", ", java.util.Arrays.stream(Direction.values()).map(Direction::word).toList());
    }
}
