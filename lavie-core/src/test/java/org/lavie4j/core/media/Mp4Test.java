package org.lavie4j.core.media;

import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.javacv.FFmpegFrameRecorder;
import org.bytedeco.javacv.Frame;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.lavie4j.core.media.TestVideos.*;

/** mp4 through JavaCV/FFmpeg (optional dependencies of lavie-core, present on its own test class path). */
class Mp4Test {
    @TempDir Path dir;

    @BeforeAll
    static void ffmpegPresent() {
        assumeTrue(VideoIO.mp4Available(), "JavaCV/FFmpeg not on the class path");
    }

    @Test
    void gplBuildWithLibx264IsTheEncoder() {
        assumeTrue(Mp4Test.class.getClassLoader().getResource("org/bytedeco/ffmpeg/linux-x86_64-gpl/libjniavutil.so") != null,
                "FFmpeg's GPL natives are not on the class path");
        // Lavie4j.setup() (run before the tests) sets JavaCPP's platform extension to ND4J's oneDNN build; FFmpeg's GPL
        // natives must still be the ones loaded, or libx264 would be missing
        assertEquals(Mp4Codec.Encoder.X264, Mp4Codec.bestEncoder());
    }

    @Test
    void roundTripWithinCodecTolerance() throws IOException {
        Video v = smooth(16, 64, 96, 8);
        Path mp4 = dir.resolve("clip.mp4");
        assertEquals(mp4, VideoIO.write(v, mp4));
        assertEquals(List.of("clip.mp4"), names(dir));
        assertEquals("rw-r--r--", VideoIOTest.perms(mp4));
        Video back = VideoIO.read(mp4);
        assertEquals(16, back.frames());
        assertEquals(64, back.height());
        assertEquals(96, back.width());
        assertEquals(8.0, back.fps(), 1e-9);
        double[] mae = meanAbsError(v, back);
        // measured with libx264 crf 5 / preset medium, yuv420p, bicubic + accurate-rounding swscale both ways:
        // 0.74, 0.54, 1.26 levels of 255 (R, G, B). Most of it is the colour conversion, not the codec: lossless
        // H.264 (crf 0) of the same yuv420p frames measures 0.53, 0.37, 1.07 (limited-range YUV rounding and 4:2:0
        // chroma on the fast blue ripple). A wrong colour matrix or range would give errors of several levels.
        for (double m : mae) assertTrue(m < 1.5, "mean absolute error per channel " + Arrays.toString(mae));
        assertEquals(5, VideoIO.read(mp4, 5).frames());

        // other frame rates come back (LaVie: 8 base, 24 interpolated)
        for (double fps : new double[]{24, 7.5}) {
            Path other = dir.resolve("fps.mp4");
            VideoIO.write(smooth(4, 16, 16, fps), other);
            assertEquals(fps, VideoIO.read(other).fps(), 1e-6);
        }
    }

    @Test
    void openh264FallbackWorks() throws IOException {
        assumeTrue(Mp4Codec.Encoder.OPENH264.present(), "no libopenh264 in this FFmpeg build");
        Video v = smooth(8, 64, 96, 8);
        Path mp4 = dir.resolve("openh264.mp4");
        Mp4Codec.write(v, mp4, Mp4Codec.Encoder.OPENH264);
        Video back = VideoIO.read(mp4);
        assertEquals(8, back.frames());
        double[] mae = meanAbsError(v, back);
        // measured 1.53, 1.11, 2.52 levels (500 kbit/s floor; about 3x x264 crf 5 on this tiny clip)
        for (double m : mae) assertTrue(m < 4.0, "openh264 mean absolute error " + Arrays.toString(mae));
    }

    @Test
    void otherContainersAreReadByContent() throws IOException {
        Path mp4 = dir.resolve("clip.mp4");
        Video v = smooth(3, 32, 32, 8);
        VideoIO.write(v, mp4);
        Path mov = Files.copy(mp4, dir.resolve("clip.mov"));   // mp4 is a QuickTime-family file: FFmpeg probes it
        assertEquals(3, VideoIO.read(mov).frames());
    }

    @Test
    void corruptAndTruncatedFilesFailClearly() throws IOException {
        byte[] noise = new byte[20_000];
        new Random(3).nextBytes(noise);
        Path junk = Files.write(dir.resolve("junk.mp4"), noise);
        IOException e = assertThrows(IOException.class, () -> VideoIO.read(junk));
        assertTrue(e.getMessage().contains(junk.toString()), e.getMessage());

        Path good = dir.resolve("good.mp4");
        VideoIO.write(smooth(16, 64, 96, 8), good);
        byte[] all = Files.readAllBytes(good);
        for (int keep : new int[]{all.length / 2, all.length - 200, 100}) {
            Path cut = Files.write(dir.resolve("cut" + keep + ".mp4"), Arrays.copyOf(all, keep));
            e = assertThrows(IOException.class, () -> VideoIO.read(cut), "truncated to " + keep + " bytes");
            assertTrue(e.getMessage().contains(cut.toString()), e.getMessage());
        }
        Path half = dir.resolve("cut" + all.length / 2 + ".mp4");
        e = assertThrows(IOException.class, () -> VideoIO.read(half));
        assertTrue(e.getMessage().contains("moov atom not found"), "FFmpeg's reason is kept: " + e.getMessage());

        // index first (web-optimised, "faststart"), then cut: the header opens, frames run out early
        Path fast = dir.resolve("fast.mp4");
        writeFaststart(smooth(16, 64, 96, 8), fast);
        assertEquals(16, VideoIO.read(fast).frames());
        byte[] f = Files.readAllBytes(fast);
        Path cutFast = Files.write(dir.resolve("cutfast.mp4"), Arrays.copyOf(f, f.length * 6 / 10));
        e = assertThrows(IOException.class, () -> VideoIO.read(cutFast));
        assertTrue(e.getMessage().contains(cutFast.toString()) && e.getMessage().contains("of the 16 frames"), e.getMessage());
        assertEquals(4, VideoIO.read(cutFast, 4).frames(), "the frames before the cut are still readable");

        Path empty = Files.write(dir.resolve("empty.mp4"), new byte[0]);
        e = assertThrows(IOException.class, () -> VideoIO.read(empty));
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
    }

    /** An mp4 with its index before the media data, as web tools write it. */
    private static void writeFaststart(Video v, Path out) throws IOException {
        FFmpegFrameRecorder rec = new FFmpegFrameRecorder(out.toFile(), v.width(), v.height(), 0);
        rec.setFormat("mp4");
        rec.setVideoCodecName("libx264");
        rec.setPixelFormat(avutil.AV_PIX_FMT_YUV420P);
        rec.setFrameRate(v.fps());
        rec.setOption("movflags", "+faststart");
        rec.start();
        ByteBuffer buf = ByteBuffer.allocateDirect(3 * v.width() * v.height());
        for (int i = 0; i < v.frames(); i++) {
            buf.clear();
            buf.put(v.rgb(i)).flip();
            rec.recordImage(v.width(), v.height(), Frame.DEPTH_UBYTE, 3, 3 * v.width(), avutil.AV_PIX_FMT_RGB24, buf);
        }
        rec.stop();
        rec.release();
    }

    @Test
    void failedEncodeLeavesExistingFileAndNoTemporary() throws IOException {
        Path out = Files.writeString(dir.resolve("out.mp4"), "precious");
        // odd size: rejected before anything is written
        IllegalArgumentException odd = assertThrows(IllegalArgumentException.class, () -> VideoIO.write(smooth(2, 63, 96, 8), out));
        assertTrue(odd.getMessage().contains("63x96"), odd.getMessage());
        assertEquals("precious", Files.readString(out));
        // a failure inside FFmpeg, after the temporary file was opened: a frame rate that has no time base
        IOException e = assertThrows(IOException.class, () -> VideoIO.write(smooth(2, 16, 16, 1e-9), out));
        assertTrue(e.getMessage().contains("mp4"), e.getMessage());
        assertEquals("precious", Files.readString(out));
        assertEquals(List.of("out.mp4"), names(dir));
        Path fresh = dir.resolve("fresh.mp4");
        assertThrows(IOException.class, () -> VideoIO.write(smooth(2, 16, 16, 1e-9), fresh));
        assertFalse(Files.exists(fresh));
        assertEquals(List.of("out.mp4"), names(dir));
    }
}
