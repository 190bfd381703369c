package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConvertCommandTest extends CliTestBase {
    /** The values as exact doubles (every stored dtype fits), c order. */
    private static double[] values(INDArray a) {
        return a.dup('c').castTo(DataType.DOUBLE).data().asDouble();
    }

    private static long[] bits(double[] v) {
        long[] b = new long[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Double.doubleToLongBits(v[i]);
        return b;
    }

    private static List<String> dirListing(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void torchCheckpointConvertsBitwiseToTheGoldenSafetensors(@TempDir Path tmp) throws Exception {
        Path outFile = tmp.resolve("unet.safetensors");
        assertEquals(0, run("convert", golden("weights.pt").toString(), outFile.toString()), err.toString());
        assertTrue(err.toString().isEmpty(), err.toString());
        assertTrue(out.toString().contains("wrote " + outFile), out.toString());
        try (TensorFile ref = TensorFile.open(golden("weights.safetensors")); TensorFile got = TensorFile.open(outFile)) {
            assertEquals(ref.keys(), got.keys());
            assertTrue(out.toString().contains(ref.size() + " tensors"), out.toString());
            for (String k : ref.keys()) {
                TensorSource r = ref.get(k), g = got.get(k);
                assertEquals(r.dtype(), g.dtype(), k);
                assertArrayEquals(r.shape(), g.shape(), k);
                assertArrayEquals(bits(values(r.load())), bits(values(g.load())), k);
            }
            assertEquals("pt", got.metadata().get("format"));
            assertEquals("weights.pt", got.metadata().get("source"));
            assertEquals("lavie4j", got.metadata().get("converted_by"));
        }
        assertEquals(List.of("unet.safetensors"), dirListing(tmp));
    }

    @Test
    void halfStoresFloatsAsRoundedF16(@TempDir Path tmp) throws Exception {
        Path outFile = tmp.resolve("half.safetensors");
        assertEquals(0, run("convert", "--half", golden("weights.pt").toString(), outFile.toString()), err.toString());
        int checkedFloats = 0;
        try (TensorFile ref = TensorFile.open(golden("weights.safetensors")); TensorFile got = TensorFile.open(outFile)) {
            assertEquals(ref.keys(), got.keys());
            assertTrue(Files.size(outFile) < Files.size(golden("weights.safetensors")));
            for (String k : ref.keys()) {
                TensorSource r = ref.get(k), g = got.get(k);
                assertArrayEquals(r.shape(), g.shape(), k);
                if (!r.dtype().isFloatingPoint()) {
                    assertEquals(r.dtype(), g.dtype(), k);
                    assertArrayEquals(bits(values(r.load())), bits(values(g.load())), k);
                    continue;
                }
                assertEquals(DType.F16, g.dtype(), k);
                float[] src = r.load().dup('c').castTo(DataType.FLOAT).data().asFloat();
                double[] half = values(g.load());
                for (int i = 0; i < src.length; i++) {
                    float want = halfToFloat(floatToHalf(src[i]));
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits((float) half[i]),
                            k + "[" + i + "]: " + src[i] + " -> " + half[i] + ", expected " + want);
                }
                checkedFloats++;
            }
        }
        assertTrue(checkedFloats > 0);
    }

    @Test
    void existingOutputIsRefusedWithoutForce(@TempDir Path tmp) throws Exception {
        Path outFile = tmp.resolve("taken.safetensors");
        Files.writeString(outFile, "precious");
        assertEquals(2, run("convert", golden("weights.pt").toString(), outFile.toString()));
        assertTrue(err.toString().contains("--force") && err.toString().contains(outFile.toString()), err.toString());
        assertEquals("precious", Files.readString(outFile));
        assertEquals(List.of("taken.safetensors"), dirListing(tmp));

        assertEquals(0, run("convert", "--force", golden("weights.pt").toString(), outFile.toString()), err.toString());
        try (TensorFile got = TensorFile.open(outFile); TensorFile ref = TensorFile.open(golden("weights.safetensors"))) {
            assertEquals(ref.keys(), got.keys());
        }
    }

    @Test
    void outputEqualToInputIsRefused(@TempDir Path tmp) throws Exception {
        Path copy = tmp.resolve("w.safetensors");
        Files.copy(golden("weights.safetensors"), copy);
        byte[] before = Files.readAllBytes(copy);
        assertEquals(2, run("convert", "--force", copy.toString(), copy.toString()));
        assertTrue(err.toString().contains(copy.toString()), err.toString());
        assertArrayEquals(before, Files.readAllBytes(copy));
    }

    @Test
    void corruptInputExits2AndWritesNothing(@TempDir Path tmp) throws Exception {
        byte[] pt = Files.readAllBytes(golden("weights.pt"));
        Path in = tmp.resolve("in");
        Files.createDirectories(in);
        Path badPt = in.resolve("bad.pt");
        Files.write(badPt, Arrays.copyOf(pt, pt.length / 2));
        Path outDir = Files.createDirectories(tmp.resolve("out"));
        Path outFile = outDir.resolve("x.safetensors");
        assertEquals(2, run("convert", badPt.toString(), outFile.toString()));
        assertTrue(err.toString().contains(badPt.toString()), err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());
        assertEquals(List.of(), dirListing(outDir));

        err.getBuffer().setLength(0);
        assertEquals(2, run("convert", tmp.resolve("missing.pt").toString(), outFile.toString()));
        assertTrue(err.toString().contains("missing.pt"), err.toString());
        assertEquals(List.of(), dirListing(outDir));
    }

    @Test
    void partFolderAndSafetensorsInputs(@TempDir Path tmp) throws Exception {
        Path part = Files.createDirectories(tmp.resolve("unet"));
        Files.writeString(part.resolve("config.json"), "{}");
        Files.copy(golden("weights.safetensors"), part.resolve("diffusion_pytorch_model.safetensors"));
        List<Path> outs = new ArrayList<>();
        for (Path in : new Path[]{part, golden("weights.safetensors")}) {
            Path o = tmp.resolve("from-" + in.getFileName() + ".safetensors");
            assertEquals(0, run("convert", in.toString(), o.toString()), err.toString());
            outs.add(o);
        }
        try (TensorFile ref = TensorFile.open(golden("weights.safetensors"))) {
            for (Path o : outs) {
                try (TensorFile got = TensorFile.open(o)) {
                    assertEquals(ref.keys(), got.keys());
                    for (String k : ref.keys()) {
                        assertArrayEquals(bits(values(ref.get(k).load())), bits(values(got.get(k).load())), k);
                    }
                }
            }
        }
        // OUT naming the part folder's own weight file is refused
        Path weights = part.resolve("diffusion_pytorch_model.safetensors");
        byte[] before = Files.readAllBytes(weights);
        assertEquals(2, run("convert", "--force", part.toString(), weights.toString()));
        assertArrayEquals(before, Files.readAllBytes(weights));
    }

    // IEEE 754 binary16, round to nearest even: an independent reference for --half.
    static int floatToHalf(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int exp = (x >>> 23) & 0xff;
        int mant = x & 0x7fffff;
        if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0);
        int e = exp - 127 + 15;
        if (e >= 0x1f) return sign | 0x7c00;
        if (e <= 0) {
            if (e < -10) return sign;
            mant |= 0x800000;
            int shift = 14 - e;
            int h = mant >>> shift;
            int rem = mant & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rem > halfway || (rem == halfway && (h & 1) != 0)) h++;
            return sign | h;
        }
        int h = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
        return sign | h;
    }

    static float halfToFloat(int h) {
        int s = (h & 0x8000) << 16;
        int e = (h >>> 10) & 0x1f;
        int m = h & 0x3ff;
        if (e == 0) return Math.copySign(m * 0x1p-24f, s != 0 ? -1f : 1f);
        if (e == 31) return Float.intBitsToFloat(s | 0x7f800000 | (m << 13));
        return Float.intBitsToFloat(s | ((e - 15 + 127) << 23) | (m << 13));
    }
}
