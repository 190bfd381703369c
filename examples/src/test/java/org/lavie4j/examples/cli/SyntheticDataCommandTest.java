package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.train.data.Manifest;
import org.lavie4j.train.data.ManifestEntry;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.train.data.ShapeDescriber;
import org.lavie4j.train.data.SyntheticShapes;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie synthetic-data}: files, manifests, held-out combinations, determinism and bad options. */
class SyntheticDataCommandTest extends CliTestBase {
    @Test
    void writesVideosStillsAndManifests(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("shapes");
        assertEquals(0, run("synthetic-data", out.toString(), "--count", "6", "--size", "32", "--frames", "8", "--fps", "10",
                "--seed", "4", "--holdout", "red circle left, Blue Square Up", "--stills", "2"), err.toString());
        assertTrue(this.out.toString().contains("wrote 6 videos (32x32, 8 frames at 10 fps, seed 4)"), this.out.toString());
        assertTrue(this.out.toString().contains("videos.csv") && this.out.toString().contains("images.jsonl"), this.out.toString());
        assertTrue(this.out.toString().contains("held out (2 combinations, never shown): a red circle moving left; a blue square moving up"));
        List<ManifestEntry> videos = Manifest.read(out.resolve("videos.csv")).entries();
        assertEquals(6, videos.size());
        for (ManifestEntry e : videos) {
            Video v = VideoIO.read(e.path());
            assertEquals(8, v.frames());
            assertEquals(10.0, v.fps(), 1e-9);
            ShapeCaption c = ShapeCaption.parse(e.caption());
            assertNotEquals("a red circle moving left", c.caption());
            assertTrue(ShapeDescriber.describe(v).matches(c), e.caption());
        }
        assertEquals(2, Manifest.read(out.resolve("images.csv")).entries().size());
        assertEquals(List.of("a red circle moving left", "a blue square moving up"), Files.readAllLines(out.resolve("heldout.txt")));
        try (var s = Files.walk(out)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporaries left");
        }

        // the same options give the same bytes
        Path again = tmp.resolve("again");
        assertEquals(0, run("synthetic-data", again.toString(), "--count", "6", "--size", "32", "--frames", "8", "--fps", "10",
                "--seed", "4", "--holdout", "red circle left, Blue Square Up", "--stills", "2"));
        assertEquals(Files.readString(out.resolve("videos.csv")), Files.readString(again.resolve("videos.csv")));
        assertArrayEquals(Files.readAllBytes(videos.get(0).path()),
                Files.readAllBytes(again.resolve(out.relativize(videos.get(0).path()))));
    }

    @Test
    void badOptionsAreExplained(@TempDir Path tmp) {
        assertEquals(2, run("synthetic-data", tmp.resolve("a").toString(), "--holdout", "pink circle left"));
        assertTrue(err.toString().contains("unknown colour 'pink'"), err.toString());
        assertEquals(2, run("synthetic-data", tmp.resolve("b").toString(), "--size", "33"));
        assertTrue(err.toString().contains("even"), err.toString());
        assertEquals(2, run("synthetic-data", tmp.resolve("c").toString(), "--frames", "1"));
        assertEquals(2, run("synthetic-data", tmp.resolve("d").toString(), "--travel", "0.5,1.5"));
        assertTrue(err.toString().contains("0 < min <= max <= 1, got 0.5..1.5"), err.toString());
        assertEquals(2, run("synthetic-data", tmp.resolve("e").toString(), "--travel", "all"));
        assertTrue(err.toString().contains("--travel must be MIN or MIN,MAX"), err.toString());
        for (String d : new String[]{"a", "b", "c", "d", "e"}) assertFalse(Files.exists(tmp.resolve(d)), d);
    }

    @Test
    void helpNamesTheVocabulary() {
        assertEquals(SyntheticShapes.vocabulary(), SyntheticDataCommand.WORDS);
        assertEquals(0, run("synthetic-data", "--help"));
        assertTrue(out.toString().contains("a <colour> <shape> moving <direction>"), out.toString());
    }
}
