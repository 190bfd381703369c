package org.lavie4j.train.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Manifest layouts (plain, Open-Sora, WebVid; CSV and JSONL), path resolution, and errors naming file and line. */
class ManifestTest {
    private static Path write(Path dir, String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
        return p;
    }

    @Test
    void plainCsvWithQuotesResolvesAgainstItsFolder(@TempDir Path dir) throws IOException {
        Path m = write(dir, "data/train.csv", "\uFEFFpath,caption\r\n"
                + "clips/a.mp4,a red circle moving left\r\n"
                + "\"clips/b c.mp4\",\"a dog, a cat and a \"\"quoted\"\" word\"\r\n"
                + "/abs/c.mp4,\"two\nlines\"\n"
                + "\n"
                + "d.mp4,\n");
        Manifest man = Manifest.read(m);
        assertEquals(Manifest.Format.PLAIN, man.format());
        List<ManifestEntry> e = man.entries();
        assertEquals(4, e.size());
        assertEquals(dir.resolve("data/clips/a.mp4"), e.get(0).path());
        assertEquals("a red circle moving left", e.get(0).caption());
        assertEquals(dir.resolve("data/clips/b c.mp4"), e.get(1).path());
        assertEquals("a dog, a cat and a \"quoted\" word", e.get(1).caption());
        assertEquals(Path.of("/abs/c.mp4"), e.get(2).path());
        assertEquals("two\nlines", e.get(2).caption());
        assertEquals("", e.get(3).caption());
        assertEquals("train.csv:7", e.get(3).origin(), "the line a row starts on, after a two-line caption and a blank line");
        assertEquals(dir.resolve("elsewhere/clips/a.mp4"), Manifest.read(m, dir.resolve("elsewhere")).entries().get(0).path());
    }

    @Test
    void openSoraColumns(@TempDir Path dir) throws IOException {
        Path m = write(dir, "os.csv", "path,text,num_frames,height,width,fps\nv/1.mp4,a panda,120,240,426,29.97\nv/2.mp4,a cat,,,,\n");
        Manifest man = Manifest.read(m);
        assertEquals(Manifest.Format.OPEN_SORA, man.format());
        ManifestEntry a = man.entries().get(0);
        assertEquals(new ManifestEntry(dir.resolve("v/1.mp4"), "a panda", 120, 240, 426, 29.97, "os.csv:2"), a);
        assertEquals(0, man.entries().get(1).numFrames(), "blank: unknown");
        Path j = write(dir, "os.jsonl", "{\"path\": \"v/1.mp4\", \"text\": \"a panda\", \"num_frames\": 120, \"fps\": 24}\n\n"
                + "{\"path\": \"v/2.mp4\", \"text\": \"a cat\"}\n");
        Manifest mj = Manifest.read(j);
        assertEquals(Manifest.Format.OPEN_SORA, mj.format());
        assertEquals(120, mj.entries().get(0).numFrames());
        assertEquals(24.0, mj.entries().get(0).fps());
        assertEquals("os.jsonl:3", mj.entries().get(1).origin());
    }

    @Test
    void webVidLocalFilesUnderRoot(@TempDir Path dir) throws IOException {
        Path m = write(dir, "results_2M_val.csv", "videoid,contentUrl,duration,page_dir,name\n"
                + "31353427,https://ak.picdn.net/shutterstock/videos/31353427/preview/stock-footage-merida.mp4,PT00H00M15S,"
                + "016401_016450,\"Merida, mexico - may 2017: old street\"\n");
        Manifest man = Manifest.read(m, dir.resolve("videos"));
        assertEquals(Manifest.Format.WEBVID, man.format());
        ManifestEntry e = man.entries().get(0);
        assertEquals(dir.resolve("videos/016401_016450/31353427.mp4"), e.path());
        assertEquals("Merida, mexico - may 2017: old street", e.caption());
        assertEquals(dir.resolve("016401_016450/31353427.mp4"), Manifest.read(m).entries().get(0).path(), "default root: the manifest's folder");
    }

    @Test
    void malformedRowsNameFileAndLine(@TempDir Path dir) throws IOException {
        assertError(write(dir, "a.csv", "path,caption\nx.mp4,ok\ny.mp4\n"), "a.csv:3: 1 field(s) but the header has 2 (path,caption)");
        assertError(write(dir, "b.csv", "file,label\nx.mp4,ok\n"), "b.csv:1: unknown manifest format: columns [file, label]");
        assertError(write(dir, "c.csv", "path,caption\n ,no path\n"), "c.csv:2: empty path");
        assertError(write(dir, "d.csv", "path,text,num_frames\nx.mp4,t,many\n"), "d.csv:2: num_frames 'many' is not a number");
        assertError(write(dir, "e.jsonl", "{\"path\":\"x.mp4\",\"caption\":\"a\"}\n{\"path\":\"y.mp4\"}\n"), "e.jsonl:2: missing 'caption'");
        assertError(write(dir, "f.jsonl", "{\"path\":\"x.mp4\",\"caption\":\"a\"}\n{oops\n"), "f.jsonl:2: not JSON");
        assertError(write(dir, "g.csv", "path,caption\n\"x.mp4,open quote\n"), "g.csv:2: a quoted field is never closed");
        assertError(write(dir, "h.txt", "path,caption\n"), "cannot read manifest " + dir.resolve("h.txt") + ": unknown extension 'txt'");
        assertError(write(dir, "i.csv", ""), "i.csv: empty manifest");
        assertError(write(dir, "j.csv", "videoid,contentUrl,duration,page_dir,name\n../x,u,d,p,n\n"), "j.csv:2: videoid '../x'");
    }

    private static void assertError(Path manifest, String expected) {
        IOException e = assertThrows(IOException.class, () -> Manifest.read(manifest));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
    }

    @Test
    void writeReadRoundTrip(@TempDir Path dir) throws IOException {
        List<ManifestEntry> in = List.of(new ManifestEntry(dir.resolve("v/a.mp4"), "a, \"b\"\nc"),
                new ManifestEntry(Path.of("/elsewhere/x.mp4"), " padded "), new ManifestEntry(dir.resolve("e.mp4"), ""));
        for (String name : List.of("m.csv", "m.jsonl")) {
            Manifest.write(dir.resolve(name), in);
            List<ManifestEntry> out = Manifest.read(dir.resolve(name)).entries();
            assertEquals(in, out.stream().map(e -> new ManifestEntry(e.path(), e.caption())).toList(), name);
        }
        assertTrue(Files.readString(dir.resolve("m.csv")).contains("\nv/a.mp4,"), "relative inside the folder");
    }
}
