package org.lavie4j.core.media;

import org.lavie4j.core.io.AtomicFiles;
import org.w3c.dom.Node;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.AlphaComposite;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Animated GIF through {@code javax.imageio}, looping forever (NETSCAPE2.0 application extension, loop count 0).
 *
 * <p><b>Colour:</b> a GIF frame has at most 256 colours. A frame with at most 256 distinct colours is written with an
 * exact palette (lossless); a frame with more (any natural image) is quantised by {@link MedianCut} to its own
 * 256-colour palette, without dithering: <b>GIF is lossy in colour for natural images</b> (4-6 levels of 255
 * mean error per channel on the tests' colour gradients; banding). Use PNG frames or mp4 where colour matters.
 *
 * <p><b>Timing:</b> GIF delays are whole hundredths of a second. Frame {@code i} gets
 * {@code round(100(i+1)/fps) - round(100 i/fps)} cs (at least 1), so the running time stays within half a
 * centisecond of {@code i/fps}: at 8 fps the delays alternate 13, 12, 13, 12 cs (12.5 on average). Reading gives
 * {@code fps = 100 * frames / total delay} (exactly 8 for an even number of frames written at 8 fps; 100/13 for one
 * frame). Browsers slow delays below 2 cs (above 50 fps) to about 10 cs.
 */
final class GifCodec {
    private static final String IMAGE_FORMAT = "javax_imageio_gif_image_1.0";
    private static final String STREAM_FORMAT = "javax_imageio_gif_stream_1.0";
    /** fps reported for a GIF whose delays are all zero (browsers then show about 10 frames a second). */
    static final double ZERO_DELAY_FPS = 10.0;

    private GifCodec() {}

    /** Delay of frame {@code i} in centiseconds (see the class comment). */
    static int delayCentis(int i, double fps) {
        long d = Math.round(100.0 * (i + 1) / fps) - Math.round(100.0 * i / fps);
        return (int) Math.max(1, Math.min(65535, d));
    }

    static void write(Video v, Path out) throws IOException {
        AtomicFiles.write(out, ch -> {
            ImageWriter writer = ImageIO.getImageWritersByFormatName("gif").next();
            try (MemoryCacheImageOutputStream ios = new MemoryCacheImageOutputStream(Channels.newOutputStream(ch))) {
                writer.setOutput(ios);
                writer.prepareWriteSequence(null);
                ImageWriteParam param = writer.getDefaultWriteParam();
                // not interlaced: no use in an animation, and the JDK reads its own interlaced frames under 5 rows wrongly
                param.setProgressiveMode(ImageWriteParam.MODE_DISABLED);
                for (int f = 0; f < v.frames(); f++) {
                    BufferedImage img = paletteImage(v, f);
                    // the image's own colour model: createFromRenderedImage would give TYPE_BYTE_INDEXED's default palette
                    IIOMetadata meta = writer.getDefaultImageMetadata(new ImageTypeSpecifier(img), param);
                    IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(IMAGE_FORMAT);
                    IIOMetadataNode gce = child(root, "GraphicControlExtension");
                    gce.setAttribute("disposalMethod", "none");
                    gce.setAttribute("userInputFlag", "FALSE");
                    gce.setAttribute("transparentColorFlag", "FALSE");
                    gce.setAttribute("transparentColorIndex", "0");
                    gce.setAttribute("delayTime", Integer.toString(delayCentis(f, v.fps())));
                    if (f == 0) {
                        IIOMetadataNode app = new IIOMetadataNode("ApplicationExtension");
                        app.setAttribute("applicationID", "NETSCAPE");
                        app.setAttribute("authenticationCode", "2.0");
                        app.setUserObject(new byte[]{1, 0, 0});   // sub-block 1: loop count 0 = forever (little endian)
                        child(root, "ApplicationExtensions").appendChild(app);
                    }
                    meta.setFromTree(IMAGE_FORMAT, root);
                    writer.writeToSequence(new IIOImage(img, null, meta), param);
                }
                writer.endWriteSequence();
            } finally {
                writer.dispose();
            }
        });
    }

    /** Frame {@code f} as an indexed image: an exact palette when it has at most 256 colours, else median cut. */
    static BufferedImage paletteImage(Video v, int f) {
        MedianCut.Indexed q = exactPalette(v.rgbView(f));
        if (q == null) q = MedianCut.quantize(v.rgbView(f), 256);
        int size = Math.max(2, q.r().length);   // an IndexColorModel needs two entries
        IndexColorModel cm = new IndexColorModel(8, size, Arrays.copyOf(q.r(), size), Arrays.copyOf(q.g(), size),
                Arrays.copyOf(q.b(), size));
        BufferedImage img = new BufferedImage(v.width(), v.height(), BufferedImage.TYPE_BYTE_INDEXED, cm);
        img.getRaster().setDataElements(0, 0, v.width(), v.height(), q.pixels());
        return img;
    }

    /** The frame's own colours as a palette, or null when it has more than 256. */
    private static MedianCut.Indexed exactPalette(byte[] rgb) {
        int n = rgb.length / 3;
        Map<Integer, Integer> index = new HashMap<>();
        byte[] pixels = new byte[n];
        for (int p = 0; p < n; p++) {
            int c = (rgb[3 * p] & 0xff) << 16 | (rgb[3 * p + 1] & 0xff) << 8 | (rgb[3 * p + 2] & 0xff);
            Integer i = index.get(c);
            if (i == null) {
                if (index.size() == 256) return null;
                i = index.size();
                index.put(c, i);
            }
            pixels[p] = (byte) (int) i;
        }
        byte[] r = new byte[index.size()], g = new byte[index.size()], b = new byte[index.size()];
        for (Map.Entry<Integer, Integer> e : index.entrySet()) {
            int c = e.getKey(), i = e.getValue();
            r[i] = (byte) (c >> 16);
            g[i] = (byte) (c >> 8);
            b[i] = (byte) c;
        }
        return new MedianCut.Indexed(r, g, b, pixels);
    }

    /** Reads up to {@code maxFrames} frames, composited as a browser shows them (offsets, disposal, transparency). */
    static Video read(Path in, int maxFrames) throws IOException {
        try (ImageInputStream iis = ImageIO.createImageInputStream(in.toFile())) {
            if (iis == null) throw new IOException("cannot open " + in);
            Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName("gif");
            ImageReader reader = readers.next();
            try {
                reader.setInput(iis, false, false);
                IIOMetadata stream = reader.getStreamMetadata();
                if (stream == null) throw new IOException("not a GIF file: " + in);
                Node lsd = find(stream.getAsTree(STREAM_FORMAT), "LogicalScreenDescriptor");
                int w = Integer.parseInt(attr(lsd, "logicalScreenWidth", "0"));
                int h = Integer.parseInt(attr(lsd, "logicalScreenHeight", "0"));
                BufferedImage canvas = null;
                List<byte[]> frames = new ArrayList<>();
                long totalDelay = 0;
                for (int i = 0; i < maxFrames; i++) {
                    BufferedImage img;
                    try {
                        img = reader.read(i);
                    } catch (IndexOutOfBoundsException end) {
                        break;
                    }
                    Node meta = reader.getImageMetadata(i).getAsTree(IMAGE_FORMAT);
                    Node desc = find(meta, "ImageDescriptor");
                    Node gce = find(meta, "GraphicControlExtension");
                    int left = Integer.parseInt(attr(desc, "imageLeftPosition", "0"));
                    int top = Integer.parseInt(attr(desc, "imageTopPosition", "0"));
                    if (canvas == null) {
                        // a logical screen of 0 (or smaller than the first frame) is taken from the first frame
                        w = Math.max(w, left + img.getWidth());
                        h = Math.max(h, top + img.getHeight());
                        canvas = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB);
                    }
                    String disposal = attr(gce, "disposalMethod", "none");
                    totalDelay += Integer.parseInt(attr(gce, "delayTime", "0"));
                    BufferedImage before = disposal.equals("restoreToPrevious") ? copy(canvas) : null;
                    Graphics2D g = canvas.createGraphics();
                    g.drawImage(img, left, top, null);
                    frames.add(Video.toRgb(canvas));
                    if (disposal.equals("restoreToBackgroundColor")) {
                        g.setComposite(AlphaComposite.Clear);
                        g.fillRect(left, top, img.getWidth(), img.getHeight());
                    } else if (before != null) {
                        canvas = before;
                    }
                    g.dispose();
                }
                if (frames.isEmpty()) throw new IOException("no frames in GIF " + in);
                double fps = totalDelay > 0 ? 100.0 * frames.size() / totalDelay : ZERO_DELAY_FPS;
                return Video.wrap(frames.toArray(new byte[0][]), h, w, fps);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IOException io && io.getMessage() != null && io.getMessage().contains(in.toString())) throw io;
            throw new IOException("cannot read GIF " + in + ": " + e, e);
        }
    }

    private static BufferedImage copy(BufferedImage src) {
        BufferedImage out = new BufferedImage(src.getWidth(), src.getHeight(), BufferedImage.TYPE_INT_ARGB);
        out.getRaster().setRect(src.getRaster());
        return out;
    }

    /** The child of {@code parent} named {@code name}, appended when missing. */
    private static IIOMetadataNode child(IIOMetadataNode parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling())
            if (n.getNodeName().equals(name)) return (IIOMetadataNode) n;
        IIOMetadataNode n = new IIOMetadataNode(name);
        parent.appendChild(n);
        return n;
    }

    private static Node find(Node parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling())
            if (n.getNodeName().equals(name)) return n;
        return null;
    }

    private static String attr(Node n, String name, String absent) {
        if (n == null) return absent;
        Node a = n.getAttributes().getNamedItem(name);
        return a == null ? absent : a.getNodeValue();
    }

    /** Reads back the loop count of the NETSCAPE2.0 extension of frame 0 (0 = forever), or -1 when there is none. */
    static int loopCount(Path in) throws IOException {
        try (ImageInputStream iis = ImageIO.createImageInputStream(in.toFile())) {
            ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
            try {
                reader.setInput(iis, false, false);
                Node apps = find(reader.getImageMetadata(0).getAsTree(IMAGE_FORMAT), "ApplicationExtensions");
                for (Node n = apps == null ? null : apps.getFirstChild(); n != null; n = n.getNextSibling()) {
                    if ("NETSCAPE".equals(attr(n, "applicationID", "")) && "2.0".equals(attr(n, "authenticationCode", ""))) {
                        byte[] b = (byte[]) ((IIOMetadataNode) n).getUserObject();
                        return b != null && b.length >= 3 && b[0] == 1 ? (b[1] & 0xff) | (b[2] & 0xff) << 8 : -1;
                    }
                }
                return -1;
            } finally {
                reader.dispose();
            }
        }
    }

    /** Reads back each frame's delay in centiseconds (for tests and tools). */
    static int[] delays(Path in) throws IOException {
        try (ImageInputStream iis = ImageIO.createImageInputStream(in.toFile())) {
            ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
            try {
                reader.setInput(iis, false, false);
                int n = reader.getNumImages(true);
                int[] out = new int[n];
                for (int i = 0; i < n; i++)
                    out[i] = Integer.parseInt(attr(find(reader.getImageMetadata(i).getAsTree(IMAGE_FORMAT),
                            "GraphicControlExtension"), "delayTime", "0"));
                return out;
            } finally {
                reader.dispose();
            }
        }
    }
}
