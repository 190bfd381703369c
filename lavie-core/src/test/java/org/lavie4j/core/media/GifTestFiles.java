package org.lavie4j.core.media;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes GIFs with features our writer does not produce (partial frames at an offset), to test the reader. */
final class GifTestFiles {
    private GifTestFiles() {}

    static void writeWithOffset(Path out, BufferedImage first, BufferedImage patch, int left, int top) throws IOException {
        ImageWriter w = ImageIO.getImageWritersByFormatName("gif").next();
        Files.deleteIfExists(out);
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(out.toFile())) {
            w.setOutput(ios);
            w.prepareWriteSequence(null);
            w.writeToSequence(new IIOImage(first, null, meta(w, first, 0, 0)), null);
            w.writeToSequence(new IIOImage(patch, null, meta(w, patch, left, top)), null);
            w.endWriteSequence();
        } finally {
            w.dispose();
        }
    }

    private static IIOMetadata meta(ImageWriter w, BufferedImage img, int left, int top) throws IOException {
        IIOMetadata m = w.getDefaultImageMetadata(new ImageTypeSpecifier(img), null);
        String fmt = "javax_imageio_gif_image_1.0";
        IIOMetadataNode root = (IIOMetadataNode) m.getAsTree(fmt);
        IIOMetadataNode desc = (IIOMetadataNode) root.getElementsByTagName("ImageDescriptor").item(0);
        desc.setAttribute("imageLeftPosition", Integer.toString(left));
        desc.setAttribute("imageTopPosition", Integer.toString(top));
        IIOMetadataNode gce = (IIOMetadataNode) root.getElementsByTagName("GraphicControlExtension").item(0);
        gce.setAttribute("disposalMethod", "doNotDispose");
        gce.setAttribute("delayTime", "10");
        desc.setAttribute("interlaceFlag", "FALSE");
        m.setFromTree(fmt, root);
        return m;
    }
}
