package org.lavie4j.core.media;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * JavaCV/FFmpeg are optional: in a JVM without them GIF/PNG still work, {@link VideoIO#mp4Available()} is false, and
 * mp4 fails with the Maven dependencies to add (no NoClassDefFoundError from an eagerly loaded JavaCV class).
 */
class OptionalFfmpegTest {
    @TempDir Path dir;

    /** Run in the child JVM, whose class path lacks JavaCV and FFmpeg. */
    public static void main(String[] args) throws Exception {
        Path d = Path.of(args[0]);
        Video v = TestVideos.paletted(2, 4, 6, 3, 8);
        VideoIO.write(v, d.resolve("a.gif"));
        TestVideos.assertSameFrames(v, VideoIO.read(d.resolve("a.gif")));
        if (VideoIO.mp4Available()) throw new AssertionError("mp4Available() without JavaCV");
        for (boolean write : new boolean[]{true, false}) {
            try {
                if (write) VideoIO.write(v, d.resolve("a.mp4"));
                else VideoIO.read(Files.writeString(d.resolve("b.mp4"), "x"));
                throw new AssertionError("mp4 without JavaCV did not fail");
            } catch (UnsupportedOperationException e) {
                if (!e.getMessage().contains("org.bytedeco:javacv:1.5.7") || !e.getMessage().contains("linux-x86_64-gpl"))
                    throw new AssertionError("message does not name the dependencies: " + e.getMessage());
            }
        }
        if (Files.exists(d.resolve("a.mp4"))) throw new AssertionError("a.mp4 was created");
        System.out.println("OK");
    }

    @Test
    void worksWithoutJavacv() throws IOException, InterruptedException {
        List<String> cp = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator))
            if (!e.contains("javacv") && !e.contains("/ffmpeg/")) cp.add(e);
        assertTrue(System.getProperty("java.class.path").contains("javacv"), "the test class path has JavaCV to remove");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-cp", String.join(File.pathSeparator, cp),
                OptionalFfmpegTest.class.getName(), dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("OK"), out);
    }
}
