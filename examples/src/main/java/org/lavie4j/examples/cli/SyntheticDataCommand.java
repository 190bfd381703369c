package org.lavie4j.examples.cli;

import org.lavie4j.core.media.VideoIO;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.train.data.SyntheticShapes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * {@code lavie synthetic-data OUT_DIR}: writes the synthetic moving-shapes data set ({@link SyntheticShapes}): real mp4s
 * of a coloured shape moving left, right, up or down on a dark background, captioned "a red circle moving left", with
 * manifests for training, so that every training feature runs offline.
 */
@Command(name = "synthetic-data",
        mixinStandardHelpOptions = true,
        description = {"Write a synthetic text-video data set: coloured shapes moving in named directions, captioned "
                + "\"a <colour> <shape> moving <direction>\", as mp4 files plus manifests (videos.csv, videos.jsonl: path,caption).",
                "Words (colours; shapes; directions): " + SyntheticDataCommand.WORDS + ".",
                "Each file is written atomically (manifests last); files of an earlier run in OUT_DIR are replaced where the names "
                        + "coincide. Do not train on it with flips that keep captions: a mirrored 'left' moves right."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:written", "1:writing failed", "2:bad options"})
public final class SyntheticDataCommand implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, BAD_INPUT = 2;
    /** The caption vocabulary as {@link SyntheticShapes#vocabulary()} gives it (a test keeps the two equal). */
    static final String WORDS = "red, orange, yellow, green, cyan, blue, purple, white; circle, square, triangle, diamond; left, right, up, down";

    @Parameters(index = "0", paramLabel = "OUT_DIR", description = "The folder to write into (created when missing).")
    Path out;

    @Option(names = "--count", paramLabel = "N", description = "Number of videos (default: ${DEFAULT-VALUE}).")
    int count = 256;

    @Option(names = "--size", paramLabel = "PX", description = "Frame height and width, even (default: ${DEFAULT-VALUE}).")
    int size = 64;

    @Option(names = "--frames", paramLabel = "F", description = "Frames per video (default: ${DEFAULT-VALUE}).")
    int frames = 16;

    @Option(names = "--fps", paramLabel = "FPS", description = "Frame rate written into the mp4s (default: ${DEFAULT-VALUE}).")
    double fps = 8;

    @Option(names = "--seed", paramLabel = "S", description = "Seed; the same options give the same files (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--holdout", paramLabel = "LIST",
            description = "Combinations never shown, comma-separated, e.g. \"red circle left, blue square up\"; their captions go to heldout.txt.")
    String holdout = "";

    @Option(names = "--travel", paramLabel = "MIN[,MAX]",
            description = "How far each shape moves, as a fraction of the free length of the frame along its direction (the frame "
                    + "minus the shape), drawn per clip between MIN and MAX; 1 moves it from one edge to the other (default: 0.55,0.85).")
    String travel = "0.55,0.85";

    @Option(names = "--stills", paramLabel = "N",
            description = "Also write N still images with captions \"a red circle\" (images/, images.csv, images.jsonl) for the image part of joint training (default: ${DEFAULT-VALUE}).")
    int stills = 0;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        SyntheticShapes.Options o;
        try {
            Set<ShapeCaption> held = ShapeCaption.parseList(holdout);
            double[] t = travelRange(travel);
            o = new SyntheticShapes.Options(count, size, size, frames, fps, seed, held, stills, t[0], t[1]);
        } catch (IllegalArgumentException e) {
            err.println("synthetic-data: " + e.getMessage());
            return BAD_INPUT;
        }
        if (!VideoIO.mp4Available()) {
            err.println("synthetic-data: mp4 writing is not available here: " + VideoIO.MP4_DEPENDENCIES);
            return FAILED;
        }
        int total = o.count() + o.stills();
        int every = Math.max(1, total / 10);
        AtomicInteger done = new AtomicInteger();
        long t0 = System.nanoTime();
        try {
            SyntheticShapes.Generated g = SyntheticShapes.generate(out, o, file -> {
                int n = done.incrementAndGet();
                if (n % every == 0 || n == total)
                    stdout.printf(Locale.ROOT, "  %d/%d %s (%.1f s)%n", n, total, out.relativize(file), (System.nanoTime() - t0) / 1e9);
            });
            Path abs = out.toAbsolutePath();
            stdout.printf(Locale.ROOT, "wrote %d videos (%dx%d, %d frames at %s fps, seed %d) to %s in %.1f s (%.0f ms per video)%n",
                    g.videos().size(), size, size, frames, fmt(fps), seed, abs.resolve("videos"), g.seconds(),
                    1000 * g.seconds() / Math.max(1, total));
            if (!g.images().isEmpty()) stdout.printf(Locale.ROOT, "wrote %d still images to %s%n", g.images().size(), abs.resolve("images"));
            stdout.println("manifests: " + g.files().stream().map(p -> abs.resolve(p.getFileName()).toString()).collect(Collectors.joining(", ")));
            if (!g.heldOut().isEmpty())
                stdout.println("held out (" + o.holdout().size() + " combinations, never shown): "
                        + o.holdout().stream().map(ShapeCaption::caption).collect(Collectors.joining("; ")));
            stdout.flush();
            return OK;
        } catch (IOException | RuntimeException e) {
            err.println("synthetic-data: cannot write " + out + ": " + e.getMessage());
            return FAILED;
        }
    }

    /** "MIN" or "MIN,MAX" as {min, max}. */
    static double[] travelRange(String text) {
        String[] parts = text.split(",", -1);
        if (parts.length > 2) throw new IllegalArgumentException("--travel must be MIN or MIN,MAX, got '" + text + "'");
        try {
            double min = Double.parseDouble(parts[0].trim()), max = parts.length == 2 ? Double.parseDouble(parts[1].trim()) : min;
            return new double[]{min, max};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--travel must be MIN or MIN,MAX (numbers in (0, 1]), got '" + text + "'", e);
        }
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
