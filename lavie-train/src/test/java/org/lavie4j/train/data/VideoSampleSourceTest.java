package org.lavie4j.train.data;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Clip sampling from manifests: order, exact seek, prefetch, flips with captions, dropout, images, unreadable files. */
class VideoSampleSourceTest {
    @TempDir
    static Path dir;
    static SyntheticShapes.Generated data;

    @BeforeAll
    static void generate() throws IOException {
        data = SyntheticShapes.generate(dir.resolve("shapes"), SyntheticShapes.Options.of(10, 32, 12).withSeed(3).withStills(4));
    }

    private static SampleOptions opts() {
        return SampleOptions.of(6, 32, 32).withStride(2).withSeed(11).withCaptionDropout(0.2);
    }

    private static List<TrainingSample> take(SampleSource s, int n) {
        List<TrainingSample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(s.next());
        return out;
    }

    private static void assertSame(TrainingSample a, TrainingSample b, String what) {
        assertEquals(a.source(), b.source(), what);
        assertEquals(a.caption(), b.caption(), what);
        assertEquals(a.imageCaptions(), b.imageCaptions(), what);
        assertArrayEquals(a.clip().data().asFloat(), b.clip().data().asFloat(), what);
        for (int j = 0; j < a.images().size(); j++)
            assertArrayEquals(a.images().get(j).data().asFloat(), b.images().get(j).data().asFloat(), what + " image " + j);
    }

    @Test
    void seekIsExactAndPrefetchKeepsTheOrder() throws IOException {
        Manifest m = Manifest.read(data.videoManifest());
        SampleOptions o = opts().withImageCount(1).withFlip(SampleOptions.Flip.SWAP_LEFT_RIGHT);
        List<TrainingSample> reference;
        try (VideoSampleSource s = VideoSampleSource.of(m, null, o.withWorkers(0, 1))) {
            reference = take(s, 14);   // crosses the first epoch (10 videos)
            assertEquals(14, s.position());
        }
        List<String> firstEpoch = reference.subList(0, 10).stream().map(t -> t.source().split(" ")[0]).sorted().toList();
        assertEquals(data.videos().stream().map(e -> e.path().toString()).sorted().toList(), firstEpoch, "each video once per epoch");
        try (VideoSampleSource s = VideoSampleSource.of(m, null, o.withWorkers(2, 3))) {
            List<TrainingSample> prefetched = take(s, 14);
            for (int i = 0; i < 14; i++) assertSame(reference.get(i), prefetched.get(i), "prefetched sample " + i);
        }
        for (int k : new int[]{0, 4, 9, 13}) {
            try (VideoSampleSource s = VideoSampleSource.of(m, null, o.withWorkers(2, 4))) {
                s.seek(k);
                assertEquals(k, s.position());
                for (int i = k; i < 14; i++) assertSame(reference.get(i), s.next(), "after seek(" + k + "), sample " + i);
            }
        }
        try (VideoSampleSource s = VideoSampleSource.of(m, null, o.withWorkers(1, 2))) {
            take(s, 3);
            s.seek(1);   // back, with samples in flight
            assertSame(reference.get(1), s.next(), "seek back");
        }
        try (VideoSampleSource s = VideoSampleSource.of(m, null, o.withSeed(12).withWorkers(0, 1))) {
            assertNotEquals(reference.get(0).source() + reference.get(1).source(), s.next().source() + s.next().source(), "another seed, another order");
        }
    }

    @Test
    void flippedClipsSwapLeftAndRightAndStillMatchTheirCaptions() throws IOException {
        Manifest m = Manifest.read(data.videoManifest());
        SampleOptions o = opts().withStride(1).withCaptionDropout(0).withFlip(SampleOptions.Flip.SWAP_LEFT_RIGHT);
        int flipped = 0;
        try (VideoSampleSource s = VideoSampleSource.of(m, null, o.withWorkers(2, 4))) {
            for (int i = 0; i < 20; i++) {
                TrainingSample t = s.next();
                assertArrayEquals(new long[]{3, 6, 32, 32}, t.clip().shape());
                assertTrue(t.clip().minNumber().doubleValue() >= -1 && t.clip().maxNumber().doubleValue() <= 1);
                ShapeDescriber.Description d = ShapeDescriber.describe(Video.fromTensor(t.clip(), 8));
                assertTrue(d.matches(ShapeCaption.parse(t.caption())), t.source() + " '" + t.caption() + "' but shows " + d);
                if (t.source().endsWith("flipped")) flipped++;
            }
        }
        assertTrue(flipped > 3 && flipped < 17, "about half flipped: " + flipped);
        assertEquals("a red circle moving right", SampleOptions.Flip.swapLeftRight("a red circle moving left"));
        assertEquals("Right, then LEFT; leftwards rightmost; lefty", SampleOptions.Flip.swapLeftRight("Left, then RIGHT; rightwards leftmost; lefty"));
        assertEquals("moving left", SampleOptions.Flip.KEEP_CAPTION.caption("moving left"));
    }

    @Test
    void captionDropoutAndImages() throws IOException {
        Manifest m = Manifest.read(data.videoManifest());
        Manifest stills = Manifest.read(data.imageManifest());
        int empty = 0, n = 40;
        try (VideoSampleSource s = VideoSampleSource.of(m, stills, opts().withCaptionDropout(0.5).withImageCount(2))) {
            for (int i = 0; i < n; i++) {
                TrainingSample t = s.next();
                if (t.caption().isEmpty()) empty++;
                assertEquals(2, t.images().size());
                assertEquals(new org.lavie4j.nn.attention.FrameLayout(6, 2), t.layout());
                for (int j = 0; j < 2; j++) {
                    assertArrayEquals(new long[]{3, 32, 32}, t.images().get(j).shape());
                    String c = t.imageCaptions().get(j);
                    assertTrue(c.isEmpty() || c.matches("a \\w+ \\w+"), "a still's caption: " + c);
                }
            }
        }
        assertTrue(empty > 8 && empty < 32, "about half the captions dropped: " + empty + " of " + n);
        try (VideoSampleSource s = VideoSampleSource.of(m, null, opts().withCaptionDropout(0).withImageCount(1).withWorkers(0, 1))) {
            TrainingSample t = s.next();
            assertTrue(t.imageCaptions().get(0).contains(" moving "), "frames of the videos carry the videos' captions");
        }
    }

    @Test
    void unreadableVideosAreSkippedAndCounted(@TempDir Path tmp) throws IOException {
        Path garbage = tmp.resolve("garbage.mp4");
        byte[] junk = new byte[4096];
        new Random(1).nextBytes(junk);
        Files.write(garbage, junk);
        Path truncated = tmp.resolve("truncated.mp4");
        byte[] good = Files.readAllBytes(data.videos().get(0).path());
        Files.write(truncated, Arrays.copyOf(good, good.length / 2));
        Path empty = Files.createFile(tmp.resolve("empty.mp4"));
        List<ManifestEntry> entries = new ArrayList<>(data.videos().subList(0, 3));
        entries.add(new ManifestEntry(garbage, "a red circle moving left"));
        entries.add(new ManifestEntry(truncated, "a red circle moving left"));
        entries.add(new ManifestEntry(empty, "a red circle moving left"));
        entries.add(new ManifestEntry(tmp.resolve("missing.mp4"), "a red circle moving left"));
        long[] skips = new long[2];
        List<List<String>> sources = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            try (VideoSampleSource s = new VideoSampleSource(entries, List.of(), opts().withWorkers(2 * w, 3))) {
                List<String> src = new ArrayList<>();
                for (int i = 0; i < 14; i++) {
                    TrainingSample t = s.next();
                    assertFalse(t.source().contains(tmp.toString()), t.source());
                    src.add(t.source());
                }
                skips[w] = s.skipped();
                sources.add(src);
            }
        }
        assertTrue(skips[0] >= 8, "two epochs of 7 entries, 4 unreadable: at least 8 skips, got " + skips[0]);
        assertEquals(skips[0], skips[1], "the same skips with and without workers");
        assertEquals(sources.get(0), sources.get(1));

        List<ManifestEntry> allBad = List.of(new ManifestEntry(garbage, "x"), new ManifestEntry(empty, "y"));
        try (VideoSampleSource s = new VideoSampleSource(allBad, List.of(), opts().withWorkers(0, 1))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, s::next);
            assertTrue(e.getMessage().contains("could not be read") && (e.getMessage().contains("garbage.mp4") || e.getMessage().contains("empty.mp4")),
                    e.getMessage());
        }
    }

    @Test
    void frameReaderDecodesOnlyTheChosenFramesExactly(@TempDir Path tmp) throws IOException {
        int n = 20;
        byte[][] rgb = new byte[n][];
        for (int f = 0; f < n; f++) {
            rgb[f] = new byte[3 * 24 * 40];
            Arrays.fill(rgb[f], (byte) (10 * f + 5));
        }
        Path mp4 = VideoIO.write(Video.fromRgb(rgb, 24, 40, 8), tmp.resolve("ramp.mp4"));
        Video all = VideoIO.read(mp4);
        FrameReader.Frames fr = FrameReader.read(mp4, total -> {
            assertEquals(n, total);
            return new int[]{3, 5, 5, 19};
        });
        assertEquals(24, fr.height());
        assertEquals(40, fr.width());
        int[] want = {3, 5, 5, 19};
        for (int k = 0; k < want.length; k++) {
            assertArrayEquals(all.rgb(want[k]), fr.rgb()[k], "frame " + want[k] + " as VideoIO.read decodes it");
            assertEquals(10 * want[k] + 5, fr.rgb()[k][0] & 0xff, 2.0);
        }
        assertThrows(IllegalStateException.class, () -> FrameReader.read(mp4, total -> new int[]{5, 3}));
        // a GIF goes through VideoIO
        Path gif = VideoIO.write(Video.fromRgb(Arrays.copyOf(rgb, 4), 24, 40, 8), tmp.resolve("ramp.gif"));
        assertArrayEquals(rgb[2], FrameReader.read(gif, total -> new int[]{2}).rgb()[0]);
    }

    @Test
    void clipIndicesStrideShortVideosAndRepeats() {
        SplittableRandom r = new SplittableRandom(1);
        for (int t = 0; t < 50; t++) {
            int[] idx = VideoSampleSource.clipIndices(100, 8, 3, r);
            assertTrue(idx[0] >= 0 && idx[7] < 100);
            for (int k = 1; k < 8; k++) assertEquals(3, idx[k] - idx[k - 1]);
        }
        int[] fit = VideoSampleSource.clipIndices(10, 4, 5, r);   // span 16 > 10: stride 3 fits (span 10)
        assertArrayEquals(new int[]{0, 3, 6, 9}, fit);
        assertArrayEquals(new int[]{0, 0, 1, 1, 2, 2}, VideoSampleSource.clipIndices(3, 6, 1, r));
        assertArrayEquals(new int[]{0}, VideoSampleSource.clipIndices(1, 1, 4, r));
    }
}
