package org.lavie4j.core.media;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class VideoTest {
    /** The reference conversion, op by op in float32 as PyTorch evaluates it on a float32 tensor. */
    private static int reference(float x, boolean halfUp) {
        float t = (x / 2f + 0.5f) * 255f + (halfUp ? 0.5f : 0f);
        if (!(t > 0f)) return 0;
        return t >= 255f ? 255 : (int) t;
    }

    /** A (3, 1, 1, n) tensor with {@code values} in channel 0 (and 0 elsewhere), converted; channel 0 returned. */
    private static int[] channel0(float[] values, Video.Rounding r) {
        INDArray x = Nd4j.zeros(DataType.FLOAT, 3, 1, 1, values.length);
        for (int i = 0; i < values.length; i++) x.putScalar(new long[]{0, 0, 0, i}, values[i]);
        byte[] rgb = Video.fromTensor(x, 8, r).rgb(0);
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) out[i] = rgb[3 * i] & 0xff;
        return out;
    }

    @Test
    void fromTensorRoundsLikeTheReference() {
        // -1 -> 0.5 -> 0; 1 -> 255.5 -> 255; out of range clamps; 0 lands exactly on 127.5: half up gives 128
        float[] xs = {-1f, 1f, -3f, 1.5f, 0f, -0.5f, 0.5f, Float.NaN, 1f / 255f, -1f + 1f / 255f};
        assertArrayEquals(new int[]{0, 255, 0, 255, 128, 64, 191, 0, 128, 1}, channel0(xs, Video.Rounding.HALF_UP));
        // VSR truncates: 0 -> 127, -1 + 1/255 -> 0.5 -> 0
        assertArrayEquals(new int[]{0, 255, 0, 255, 127, 63, 191, 0, 128, 0}, channel0(xs, Video.Rounding.TRUNCATE));

        Random rnd = new Random(7);
        float[] many = new float[4096];
        for (int i = 0; i < many.length; i++) many[i] = rnd.nextFloat() * 2.4f - 1.2f;
        // ties: every k + 0.5 level in [-1, 1], as the nearest float (some round either side of the tie in float32)
        for (int k = 0; k < 255 && k < many.length; k++) many[k] = (float) ((k + 0.5) / 127.5 - 1.0);
        int[] got = channel0(many, Video.Rounding.HALF_UP);
        for (int i = 0; i < many.length; i++) assertEquals(reference(many[i], true), got[i], "x=" + many[i]);
        got = channel0(many, Video.Rounding.TRUNCATE);
        for (int i = 0; i < many.length; i++) assertEquals(reference(many[i], false), got[i], "x=" + many[i]);
    }

    @Test
    void fromTensorLayoutAndBatchOfOne() {
        int f = 2, h = 3, w = 4;
        INDArray x = Nd4j.create(DataType.FLOAT, 3, f, h, w);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < f; i++)
                for (int y = 0; y < h; y++)
                    for (int z = 0; z < w; z++) x.putScalar(new long[]{c, i, y, z}, (c * 40 + i * 12 + y * 4 + z) / 127.5 - 1);
        Video v = Video.fromTensor(x, 8);
        assertEquals(f, v.frames());
        assertEquals(h, v.height());
        assertEquals(w, v.width());
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < f; i++)
                for (int y = 0; y < h; y++)
                    for (int z = 0; z < w; z++)
                        assertEquals(c * 40 + i * 12 + y * 4 + z, v.rgb(i)[3 * (y * w + z) + c] & 0xff);
        Video b = Video.fromTensor(x.reshape(1, 3, f, h, w).castTo(DataType.DOUBLE), 8);
        for (int i = 0; i < f; i++) assertArrayEquals(v.rgb(i), b.rgb(i));
        // a non-contiguous view converts the same
        Video view = Video.fromTensor(Nd4j.concat(1, x, x).get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 4)), 8);
        for (int i = 0; i < f; i++) assertArrayEquals(v.rgb(i), view.rgb(i));
    }

    @Test
    void fromTensorRejectsOtherShapes() {
        for (long[] s : new long[][]{{2, 3, 1, 2, 2}, {4, 1, 2, 2}, {3, 2, 2}, {1, 1, 3, 1, 2, 2}, {1, 4, 1, 2, 2}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Video.fromTensor(Nd4j.zeros(DataType.FLOAT, s), 8));
            assertTrue(e.getMessage().contains(java.util.Arrays.toString(s)), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Video.fromTensor(Nd4j.zeros(DataType.FLOAT, 3, 1, 2, 2), 0));
    }

    @Test
    void toTensorInvertsFromTensor() {
        Random rnd = new Random(1);
        byte[][] frames = new byte[3][5 * 7 * 3];
        for (byte[] fr : frames) rnd.nextBytes(fr);
        frames[0][0] = 0;
        frames[0][1] = (byte) 255;
        frames[0][2] = (byte) 128;
        Video v = Video.fromRgb(frames, 5, 7, 12);
        INDArray x = v.toTensor();
        assertArrayEquals(new long[]{3, 3, 5, 7}, x.shape());
        assertEquals(DataType.FLOAT, x.dataType());
        assertEquals(-1f, x.getFloat(0, 0, 0, 0));
        assertEquals(1f, x.getFloat(1, 0, 0, 0));
        assertEquals((float) (128 / 127.5 - 1), x.getFloat(2, 0, 0, 0));
        assertEquals(1f, x.maxNumber().floatValue(), 0f);
        Video back = Video.fromTensor(x, 12);
        for (int f = 0; f < 3; f++) assertArrayEquals(frames[f], back.rgb(f));
    }

    @Test
    void imagesAndBytesAgree() {
        BufferedImage a = new BufferedImage(3, 2, BufferedImage.TYPE_INT_ARGB);
        a.setRGB(0, 0, 0xff102030);
        a.setRGB(2, 1, 0x80405060);   // alpha is dropped, colour kept
        BufferedImage g = new BufferedImage(3, 2, BufferedImage.TYPE_BYTE_GRAY);
        g.getRaster().setSample(1, 0, 0, 77);   // grey level kept as is (no linear-grey conversion)
        Video v = Video.of(List.of(a, g), 8);
        assertArrayEquals(new byte[]{0x10, 0x20, 0x30}, java.util.Arrays.copyOfRange(v.rgb(0), 0, 3));
        assertArrayEquals(new byte[]{0x40, 0x50, 0x60}, java.util.Arrays.copyOfRange(v.rgb(0), 15, 18));
        assertArrayEquals(new byte[]{77, 77, 77}, java.util.Arrays.copyOfRange(v.rgb(1), 3, 6));
        BufferedImage back = v.image(0);
        assertEquals(0x102030, back.getRGB(0, 0) & 0xffffff);
        assertEquals(0x405060, back.getRGB(2, 1) & 0xffffff);
        // copies, not views
        v.rgb(0)[0] = 99;
        assertEquals(0x10, v.rgb(0)[0]);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Video.of(List.of(a, new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB)), 8));
        assertTrue(e.getMessage().contains("frame 1 is 2x2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Video.fromRgb(new byte[][]{new byte[5]}, 1, 2, 8));
        assertThrows(IllegalArgumentException.class, () -> Video.of(List.of(), 8));
        assertThrows(IllegalArgumentException.class, () -> Video.of(List.of(a), Double.NaN));
    }
}
