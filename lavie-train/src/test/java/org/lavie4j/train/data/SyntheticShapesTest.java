package org.lavie4j.train.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The synthetic moving-shapes data set: files, captions, determinism, held-out combinations, and describe(). */
class SyntheticShapesTest {
    @Test
    void writesRealMp4sStillsAndManifests(@TempDir Path dir) throws Exception {
        Set<ShapeCaption> held = ShapeCaption.parseList("red circle left, blue square up");
        SyntheticShapes.Options o = SyntheticShapes.Options.of(12, 32, 8).withSeed(5).withHoldout(held).withStills(3);
        long t0 = System.nanoTime();
        SyntheticShapes.Generated g = SyntheticShapes.generate(dir, o);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("generated %d clips 32x32x8 + %d stills in %.2f s (%.1f ms/clip)%n", g.videos().size(),
                g.images().size(), s, 1000 * s / (g.videos().size() + g.images().size()));

        Manifest videos = Manifest.read(dir.resolve("videos.csv"));
        assertEquals(Manifest.Format.PLAIN, videos.format());
        assertEquals(g.videos(), videos.entries().stream().map(e -> new ManifestEntry(e.path(), e.caption())).toList());
        assertEquals(g.videos().stream().map(ManifestEntry::path).toList(),
                Manifest.read(dir.resolve("videos.jsonl")).entries().stream().map(ManifestEntry::path).toList());
        assertEquals(3, Manifest.read(dir.resolve("images.csv")).entries().size());
        assertEquals(List.of("a red circle moving left", "a blue square moving up"), Files.readAllLines(dir.resolve("heldout.txt")));
        assertTrue(Files.readString(dir.resolve("videos.csv")).startsWith("path,caption\nvideos/000000_"));

        int correct = 0;
        for (ManifestEntry e : g.videos()) {
            ShapeCaption want = ShapeCaption.parse(e.caption());
            assertFalse(held.contains(want), e.caption());
            Video v = VideoIO.read(e.path());
            assertEquals(8, v.frames());
            assertEquals(32, v.height());
            assertEquals(8.0, v.fps(), 1e-9);
            ShapeDescriber.Description d = ShapeDescriber.describe(v);
            assertTrue(d.matches(want), "decoded mp4 " + e.path().getFileName() + ": " + d);
            if (d.matchesAll(want)) correct++;
        }
        System.out.printf("describe() on decoded mp4s: colour+direction %d/%d, shape too %d/%d%n", g.videos().size(),
                g.videos().size(), correct, g.videos().size());
        for (ManifestEntry e : g.images()) {
            Video v = VideoIO.read(e.path());
            assertEquals(1, v.frames());
            assertTrue(e.caption().matches("a \\w+ \\w+"), e.caption());
        }
    }

    @Test
    void describeReadsBackEveryCombination() {
        // every combination three times at two sizes, in memory (no codec): colour and direction must all be right
        int n = 0, right = 0, shapes = 0;
        Map<ShapeCaption.Shape, int[]> perShape = new HashMap<>();
        for (int size : new int[]{32, 64}) {
            SyntheticShapes.Options o = SyntheticShapes.Options.of(3 * ShapeCaption.all().size(), size, size == 32 ? 8 : 16).withSeed(size);
            for (int k = 0; k < o.count(); k++) {
                ShapeCaption want = SyntheticShapes.combination(o, k);
                ShapeDescriber.Description d = ShapeDescriber.describe(SyntheticShapes.clip(o, k));
                n++;
                if (d.matches(want)) right++;
                else System.out.println("miss: " + want + " -> " + d);
                int[] c = perShape.computeIfAbsent(want.shape(), x -> new int[2]);
                c[1]++;
                if (d.shape() == want.shape()) {
                    shapes++;
                    c[0]++;
                }
            }
        }
        System.out.printf("describe() on %d raw clips: colour+direction %d/%d, shape %d/%d %s%n", n, right, n, shapes, n,
                perShape.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()[0] + "/" + e.getValue()[1]).toList());
        assertEquals(n, right);
    }

    @Test
    void travelRangesFromTheDefaultToEdgeToEdge() {
        SyntheticShapes.Options o = SyntheticShapes.Options.of(64, 32, 8).withSeed(3);
        assertEquals(0.55, o.travelMin());
        assertEquals(0.85, o.travelMax());
        SyntheticShapes.Options full = o.withTravel(1, 1);
        for (int k = 0; k < full.count(); k++) {
            ShapeCaption want = SyntheticShapes.combination(full, k);
            var rng = new java.util.SplittableRandom(k);
            SyntheticShapes.Scene a = SyntheticShapes.scene(want, 32, 32, 0.55, 0.85, rng.split()), s = SyntheticShapes.scene(want, 32, 32, 1, 1, rng.split());
            boolean horizontal = want.direction().dx() != 0;
            double half = s.side() / 2 + 1.0, from = horizontal ? s.x0() : s.y0(), to = horizontal ? s.x1() : s.y1();
            double first = want.direction() == ShapeCaption.Direction.RIGHT || want.direction() == ShapeCaption.Direction.DOWN ? half : 32 - half;
            assertEquals(first, from, 1e-9, want + ": starts at its edge");
            assertEquals(32 - first, to, 1e-9, want + ": ends at the other");
            double travelled = Math.abs(horizontal ? a.x1() - a.x0() : a.y1() - a.y0()), free = 32 - 2 * (a.side() / 2 + 1.0);
            assertTrue(travelled >= 0.55 * free - 1e-9 && travelled <= 0.85 * free + 1e-9, "default: 55-85% of " + free + ", got " + travelled);
            ShapeDescriber.Description d = ShapeDescriber.describe(SyntheticShapes.clip(full, k));
            assertEquals(want.colour(), d.colour(), "edge to edge, the describer still reads " + want);
            assertEquals(want.direction(), d.direction(), "edge to edge, the describer still reads " + want);
        }
        for (double[] bad : new double[][]{{0, 1}, {0.9, 0.5}, {0.5, 1.1}, {Double.NaN, 1}})
            assertThrows(IllegalArgumentException.class, () -> o.withTravel(bad[0], bad[1]), java.util.Arrays.toString(bad));
    }

    @Test
    void deterministicBalancedAndHoldsOut() {
        Set<ShapeCaption> held = ShapeCaption.parseList("green triangle down");
        SyntheticShapes.Options o = SyntheticShapes.Options.of(2 * 127, 32, 4).withSeed(9).withHoldout(held);
        Map<ShapeCaption, Integer> counts = new HashMap<>();
        for (int k = 0; k < o.count(); k++) counts.merge(SyntheticShapes.combination(o, k), 1, Integer::sum);
        assertEquals(127, counts.size());
        assertFalse(counts.containsKey(held.iterator().next()));
        assertTrue(counts.values().stream().allMatch(c -> c == 2), "balanced: " + counts.values());
        for (int k : new int[]{0, 7, 100}) {
            Video a = SyntheticShapes.clip(o, k), b = SyntheticShapes.clip(o, k);
            for (int f = 0; f < a.frames(); f++) assertArrayEquals(a.rgb(f), b.rgb(f));
        }
        assertNotEquals(SyntheticShapes.clip(o, 0).rgb(0).length == 0, true);
        byte[] other = SyntheticShapes.clip(o.withSeed(10), 0).rgb(0);
        assertFalse(java.util.Arrays.equals(SyntheticShapes.clip(o, 0).rgb(0), other), "another seed, another clip");
    }

    @Test
    void captionGrammar() {
        ShapeCaption c = ShapeCaption.parse("a Yellow diamond moving Right");
        assertEquals(new ShapeCaption(ShapeCaption.Colour.YELLOW, ShapeCaption.Shape.DIAMOND, ShapeCaption.Direction.RIGHT), c);
        assertEquals("a yellow diamond moving right", c.caption());
        assertEquals(c, ShapeCaption.parseCombination("yellow_diamond_right"));
        var e = assertThrows(IllegalArgumentException.class, () -> ShapeCaption.parseCombination("pink circle left"));
        assertTrue(e.getMessage().contains("unknown colour 'pink'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ShapeCaption.parse("a red circle"));
        assertEquals(4 * 8 * 4, ShapeCaption.all().size());
        for (ShapeCaption.Direction d : ShapeCaption.Direction.values()) {
            assertEquals(-d.dx(), d.opposite().dx(), d.word());
            assertEquals(-d.dy(), d.opposite().dy(), d.word());
        }
    }
}
