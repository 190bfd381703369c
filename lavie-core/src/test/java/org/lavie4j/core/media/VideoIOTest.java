package org.lavie4j.core.media;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.media.TestVideos.*;

class VideoIOTest {
    @TempDir Path dir;

    @Test
    void pngDirectoryRoundTripIsExact() throws IOException {
        Video v = smooth(5, 20, 30, 8);
        Path out = dir.resolve("frames");
        assertEquals(out, VideoIO.write(v, out));
        assertEquals(List.of("frame_0000.png", "frame_0001.png", "frame_0002.png", "frame_0003.png", "frame_0004.png"), names(out));
        assertEquals(List.of("frames"), names(dir));   // no temporary left beside it
        assertEquals("rwxr-xr-x", perms(out));          // not the owner-only mode of a temporary directory
        Video back = VideoIO.read(out);
        assertSameFrames(v, back);
        assertEquals(VideoIO.DEFAULT_FPS, back.fps());
        assertEquals(3, VideoIO.read(out, 3).frames());

        // into the existing directory: a shorter clip replaces the frames and leaves other files alone
        Files.writeString(out.resolve("notes.txt"), "keep me");
        Video shorter = smooth(2, 20, 30, 8);
        VideoIO.write(shorter, out);
        assertEquals(List.of("frame_0000.png", "frame_0001.png", "notes.txt"), names(out));
        assertSameFrames(shorter, VideoIO.read(out));
        assertEquals(List.of("frames"), names(dir));
    }

    @Test
    void directoryReadsNaturalOrderAndJpeg() throws IOException {
        Video v = paletted(3, 4, 6, 5, 8);
        Path d = Files.createDirectories(dir.resolve("mixed"));
        // f2 < f10 < f100 although "f10" < "f2" as plain strings
        String[] names = {"f10.png", "f2.png", "f100.PNG"};
        int[] order = {1, 0, 2};
        for (int i = 0; i < 3; i++) ImageIO.write(v.image(order[i]), "png", d.resolve(names[i]).toFile());
        Files.writeString(d.resolve("readme.txt"), "not a frame");
        Files.writeString(d.resolve(".hidden.png"), "not a frame either");
        assertSameFrames(v, VideoIO.read(d));

        Path jpg = dir.resolve("one.jpg");
        ImageIO.write(v.image(0), "jpg", jpg.toFile());
        Video j = VideoIO.read(jpg);
        assertEquals(1, j.frames());
        assertEquals(4, j.height());
        assertEquals(6, j.width());

        Path other = Files.createDirectories(dir.resolve("sizes"));
        ImageIO.write(v.image(0), "png", other.resolve("a.png").toFile());
        ImageIO.write(new BufferedImage(5, 4, BufferedImage.TYPE_INT_RGB), "png", other.resolve("b.png").toFile());
        IOException e = assertThrows(IOException.class, () -> VideoIO.read(other));
        assertTrue(e.getMessage().contains("b.png") && e.getMessage().contains("4x5"), e.getMessage());
    }

    @Test
    void singlePng() throws IOException {
        Video v = smooth(1, 9, 11, 8);
        Path png = dir.resolve("still.png");
        VideoIO.write(v, png);
        assertSameFrames(v, VideoIO.read(png));
        assertEquals(List.of("still.png"), names(dir));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VideoIO.write(smooth(2, 9, 11, 8), dir.resolve("two.png")));
        assertTrue(e.getMessage().contains("one frame"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("two.png")));
    }

    @Test
    void gifRoundTripIsExactWithAtMost256Colours() throws IOException {
        // 256 colours (the most a GIF frame holds), 2 colours, and a frame with one colour
        for (int colours : new int[]{256, 2, 1}) {
            Video v = paletted(4, 24, 40, colours, 8);
            Path gif = dir.resolve("c" + colours + ".gif");
            VideoIO.write(v, gif);
            Video back = VideoIO.read(gif);
            assertSameFrames(v, back);
            // 8 fps = 12.5 cs: delays alternate 13, 12 so that 4 frames last exactly 0.5 s
            assertArrayEquals(new int[]{13, 12, 13, 12}, GifCodec.delays(gif));
            assertEquals(8.0, back.fps(), 1e-12);
            assertEquals(0, GifCodec.loopCount(gif), "loops forever");
        }
        assertEquals(2, VideoIO.read(dir.resolve("c256.gif"), 2).frames());
        // tiny frames (the JDK misreads its own interlaced frames under 5 rows; ours are not interlaced)
        for (int h = 1; h <= 5; h++) {
            Video v = paletted(2, h, 4, 3, 8);
            Path gif = dir.resolve("tiny.gif");
            VideoIO.write(v, gif);
            assertSameFrames(v, VideoIO.read(gif));
        }

        // an odd count at 8 fps, and other rates: read-back fps within one centisecond per frame
        for (double fps : new double[]{8, 24, 7.5, 3}) {
            Video v = paletted(3, 8, 8, 3, fps);
            Path gif = dir.resolve("fps.gif");
            VideoIO.write(v, gif);
            double back = VideoIO.read(gif).fps();
            assertEquals(100.0 / fps, 100.0 / back, 1.0 / 3 + 1e-9, "fps " + fps + " read back as " + back);
        }
    }

    @Test
    void gifOfNaturalImagesIsLossyButClose() throws IOException {
        Video v = smooth(4, 64, 96, 8);   // thousands of colours per frame
        Path gif = dir.resolve("natural.gif");
        VideoIO.write(v, gif);
        Video back = VideoIO.read(gif);
        assertEquals(4, back.frames());
        double[] mae = meanAbsError(v, back);
        // measured 4.3, 5.4, 5.4 levels (median cut; the JDK octree gives 5.3, 6.9, 6.3 and drops colours)
        for (double m : mae) assertTrue(m < 7, "median-cut palette error " + java.util.Arrays.toString(mae));
    }

    @Test
    void gifReaderComposesPartialFrames() throws IOException {
        // a GIF whose second frame covers only part of the screen (as optimisers write them): the rest shows frame 1
        Video full = paletted(1, 10, 10, 4, 8);
        Path a = dir.resolve("a.gif");
        VideoIO.write(full, a);
        Video small = paletted(1, 4, 4, 2, 8);
        Path b = dir.resolve("b.gif");
        VideoIO.write(small, b);
        // splice: frame from b placed at (3, 2) after a's frame, using ImageIO metadata
        Path spliced = dir.resolve("spliced.gif");
        GifTestFiles.writeWithOffset(spliced, GifCodec.paletteImage(full, 0), GifCodec.paletteImage(small, 0), 3, 2);
        Video v = VideoIO.read(spliced);
        assertEquals(2, v.frames());
        assertEquals(10, v.height());
        byte[] f1 = v.rgb(1), f0 = full.rgb(0), s = small.rgb(0);
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 10; x++)
                for (int c = 0; c < 3; c++) {
                    boolean inside = x >= 3 && x < 7 && y >= 2 && y < 6;
                    int expected = inside ? s[3 * ((y - 2) * 4 + x - 3) + c] : f0[3 * (y * 10 + x) + c];
                    assertEquals(expected, f1[3 * (y * 10 + x) + c], "pixel " + x + "," + y);
                }
    }

    @Test
    void failedWritesLeaveNothingAndKeepExistingFiles() throws IOException {
        Path existing = Files.writeString(dir.resolve("out.gif"), "precious");
        // inject a failure half way through the body of an atomic write
        assertThrows(IOException.class, () -> AtomicPaths.writeFile(existing, tmp -> {
            Files.writeString(tmp, "half");
            throw new IOException("encoder died");
        }));
        assertEquals("precious", Files.readString(existing));
        Path fresh = dir.resolve("fresh.mp4");
        assertThrows(IOException.class, () -> AtomicPaths.writeFile(fresh, tmp -> {
            Files.writeString(tmp, "half");
            throw new IOException("encoder died");
        }));
        assertFalse(Files.exists(fresh));
        assertEquals(List.of("out.gif"), names(dir));

        // directories: a failure after some frames leaves neither a new directory nor changes in an existing one
        Path frames = dir.resolve("frames");
        assertThrows(IOException.class, () -> AtomicPaths.writeDirectory(frames, tmp -> {
            Files.writeString(tmp.resolve("frame_0000.png"), "x");
            throw new IOException("encoder died");
        }, n -> true));
        assertFalse(Files.exists(frames));
        Path old = Files.createDirectories(dir.resolve("old"));
        Files.writeString(old.resolve("frame_0000.png"), "old frame");
        assertThrows(IOException.class, () -> AtomicPaths.writeDirectory(old, tmp -> {
            Files.writeString(tmp.resolve("frame_0000.png"), "new");
            throw new IOException("encoder died");
        }, n -> true));
        assertEquals(List.of("frame_0000.png"), names(old));
        assertEquals("old frame", Files.readString(old.resolve("frame_0000.png")));
        assertEquals(List.of("old", "out.gif"), names(dir));

        // a parent that is a regular file cannot hold the output: an error, and nothing created
        Path blocker = Files.writeString(dir.resolve("blocker"), "file");
        assertThrows(IOException.class, () -> VideoIO.write(paletted(1, 2, 2, 1, 8), blocker.resolve("x.gif")));
        assertThrows(IOException.class, () -> VideoIO.write(paletted(1, 2, 2, 1, 8), blocker.resolve("frames")));
        assertEquals("file", Files.readString(blocker));
        // a missing parent is created (as AtomicFiles does)
        Path nested = dir.resolve("a/b/c.gif");
        VideoIO.write(paletted(1, 2, 2, 1, 8), nested);
        assertTrue(Files.isRegularFile(nested));
        assertEquals(List.of("c.gif"), names(dir.resolve("a/b")));
    }

    @Test
    void badInput() throws IOException {
        Path missing = dir.resolve("nope.mp4");
        NoSuchFileException nf = assertThrows(NoSuchFileException.class, () -> VideoIO.read(missing));
        assertTrue(nf.getMessage().contains(missing.toString()), nf.getMessage());
        assertThrows(NoSuchFileException.class, () -> VideoIO.read(dir.resolve("nope.gif")));

        Path txt = Files.writeString(dir.resolve("clip.txt"), "text");
        IOException e = assertThrows(IOException.class, () -> VideoIO.read(txt));
        assertTrue(e.getMessage().contains(txt.toString()) && e.getMessage().contains(".mp4") && e.getMessage().contains(".gif"),
                e.getMessage());
        IllegalArgumentException w = assertThrows(IllegalArgumentException.class,
                () -> VideoIO.write(paletted(1, 2, 2, 1, 8), dir.resolve("clip.bmp")));
        assertTrue(w.getMessage().contains("'bmp'") && w.getMessage().contains(".mp4") && w.getMessage().contains("directory"),
                w.getMessage());
        assertFalse(Files.exists(dir.resolve("clip.bmp")));

        Path empty = Files.createDirectories(dir.resolve("empty"));
        e = assertThrows(IOException.class, () -> VideoIO.read(empty));
        assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("no frame images"), e.getMessage());

        Path badGif = Files.write(dir.resolve("bad.gif"), new byte[]{'G', 'I', 'F', '8', '9', 'a', 1, 2, 3});
        e = assertThrows(IOException.class, () -> VideoIO.read(badGif));
        assertTrue(e.getMessage().contains(badGif.toString()), e.getMessage());
        Path badPng = Files.write(dir.resolve("bad.png"), new byte[]{(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        e = assertThrows(IOException.class, () -> VideoIO.read(badPng));
        assertTrue(e.getMessage().contains(badPng.toString()), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VideoIO.read(badPng, 0));
    }

    static String perms(Path p) throws IOException {
        return java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void naturalOrder() {
        List<String> names = new ArrayList<>(List.of("f10.png", "f2.png", "f1.png", "f02.png", "a.png", "f1b.png"));
        names.sort(PngFrames::naturalCompare);
        assertEquals(List.of("a.png", "f1.png", "f1b.png", "f02.png", "f2.png", "f10.png"), names);
    }
}
