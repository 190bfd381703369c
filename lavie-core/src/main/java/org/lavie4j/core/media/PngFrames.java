package org.lavie4j.core.media;

import org.lavie4j.core.io.AtomicFiles;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Still images (PNG write; PNG/JPEG read) and directories of frame images, through {@code javax.imageio}. A written
 * directory holds {@code frame_0000.png}, {@code frame_0001.png}, ...; a read directory is every PNG/JPEG file in it
 * (hidden files skipped) in natural name order, so {@code f2.png} comes before {@code f10.png}.
 */
final class PngFrames {
    /** Names of the frames this class writes: {@code frame_} and at least four digits. */
    static final Pattern FRAME_NAME = Pattern.compile("frame_\\d{4,}\\.png");
    static final List<String> IMAGE_EXTENSIONS = List.of("png", "jpg", "jpeg");

    private PngFrames() {}

    static String frameName(int i) {
        return String.format(Locale.ROOT, "frame_%04d.png", i);
    }

    /** Writes the single frame of {@code v} as one PNG file. */
    static void writePng(Video v, Path out) throws IOException {
        if (v.frames() != 1)
            throw new IllegalArgumentException("a .png file holds one frame but the video has " + v.frames()
                    + "; write to a directory (frame PNGs), a .gif or an .mp4");
        BufferedImage img = v.image(0);
        AtomicFiles.write(out, ch -> encode(img, Channels.newOutputStream(ch)));
    }

    /** Writes every frame of {@code v} as {@code frame_NNNN.png} in directory {@code out} (atomically; see {@link AtomicPaths}). */
    static void writeDirectory(Video v, Path out) throws IOException {
        AtomicPaths.writeDirectory(out, tmp -> {
            for (int f = 0; f < v.frames(); f++) {
                try (FileChannel ch = FileChannel.open(tmp.resolve(frameName(f)),
                        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    encode(v.image(f), Channels.newOutputStream(ch));
                }
            }
        }, name -> FRAME_NAME.matcher(name).matches());
    }

    /** Reads one image file (PNG, JPEG or anything else ImageIO decodes) as a one-frame video. */
    static Video readImage(Path in, double fps) throws IOException {
        BufferedImage img = decode(in);
        return Video.wrap(new byte[][]{Video.toRgb(img)}, img.getHeight(), img.getWidth(), fps);
    }

    /** Reads the first {@code maxFrames} images of a directory in natural name order; all must have one size. */
    static Video readDirectory(Path dir, int maxFrames, double fps) throws IOException {
        List<Path> files = imageFiles(dir);
        if (files.isEmpty())
            throw new IOException("no frame images (" + String.join(", ", IMAGE_EXTENSIONS) + ") in directory " + dir);
        int n = Math.min(files.size(), maxFrames);
        byte[][] rgb = new byte[n][];
        int h = -1, w = -1;
        for (int f = 0; f < n; f++) {
            BufferedImage img = decode(files.get(f));
            if (f == 0) {
                h = img.getHeight();
                w = img.getWidth();
            } else if (img.getHeight() != h || img.getWidth() != w) {
                throw new IOException(files.get(f) + " is " + img.getHeight() + "x" + img.getWidth() + " (HxW) but "
                        + files.get(0).getFileName() + " is " + h + "x" + w + ": frames of a video must have one size");
            }
            rgb[f] = Video.toRgb(img);
        }
        return Video.wrap(rgb, h, w, fps);
    }

    /** The image files of a directory in natural name order. */
    static List<Path> imageFiles(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if (!name.startsWith(".") && IMAGE_EXTENSIONS.contains(VideoIO.extension(name)) && Files.isRegularFile(p))
                    out.add(p);
            }
        }
        out.sort((a, b) -> naturalCompare(a.getFileName().toString(), b.getFileName().toString()));
        return out;
    }

    /** Compares names with runs of digits compared as numbers ({@code f2 < f10}); ties broken by plain order. */
    static int naturalCompare(String a, String b) {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            char ca = a.charAt(i), cb = b.charAt(j);
            if (Character.isDigit(ca) && Character.isDigit(cb)) {
                int si = i, sj = j;
                while (i < a.length() && Character.isDigit(a.charAt(i))) i++;
                while (j < b.length() && Character.isDigit(b.charAt(j))) j++;
                String da = a.substring(si, i).replaceFirst("^0+(?=.)", "");
                String db = b.substring(sj, j).replaceFirst("^0+(?=.)", "");
                int c = da.length() != db.length() ? Integer.compare(da.length(), db.length()) : da.compareTo(db);
                if (c != 0) return c;
            } else {
                if (ca != cb) return Character.compare(ca, cb);
                i++;
                j++;
            }
        }
        int c = Integer.compare(a.length() - i, b.length() - j);
        return c != 0 ? c : a.compareTo(b);
    }

    /** PNG-encodes {@code img} to {@code out} without ImageIO's disk cache. */
    private static void encode(BufferedImage img, OutputStream out) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        try (MemoryCacheImageOutputStream ios = new MemoryCacheImageOutputStream(out)) {
            writer.setOutput(ios);
            writer.write(null, new IIOImage(img, null, null), null);
        } finally {
            writer.dispose();
        }
        out.flush();
    }

    /** Decodes one image, with the file named in every failure. */
    static BufferedImage decode(Path in) throws IOException {
        try (ImageInputStream iis = ImageIO.createImageInputStream(in.toFile())) {
            if (iis == null) throw new IOException("cannot open image " + in);
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) throw new IOException("not a readable image (PNG or JPEG expected): " + in);
            ImageReader reader = readers.next();
            try {
                reader.setInput(iis, true, true);
                return reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IOException io && io.getMessage() != null && io.getMessage().contains(in.toString())) throw io;
            throw new IOException("cannot decode image " + in + ": " + e, e);
        }
    }
}
