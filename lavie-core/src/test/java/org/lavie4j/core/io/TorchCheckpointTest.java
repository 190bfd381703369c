package org.lavie4j.core.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.io.IoTestData.le2;

class TorchCheckpointTest {
    @TempDir Path dir;

    // ------------------------------------------------------------------ real files written by torch.save

    /** The golden weights.pt (torch.save({"ema": state_dict})) and weights.safetensors hold identical tensors. */
    @ParameterizedTest
    @ValueSource(strings = {"unet_base", "unet_interp", "unet_vsr"})
    void goldenTorchAndSafetensorsWeightsAreIdentical(String kase) throws IOException {
        Path pt = IoTestData.require("golden/" + kase + "/weights.pt");
        Path st = IoTestData.require("golden/" + kase + "/weights.safetensors");
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(pt);
             TensorFile fromPt = ckpt.stateDict();
             TensorFile fromSt = TensorFile.open(st)) {
            assertEquals("ema", ckpt.stateDictKey());
            assertTrue(fromPt.size() > 100, "a real UNet state dict");
            IoTestData.assertSameTensors(fromSt, fromPt);
            assertEquals(fromPt.size(), ckpt.allTensors().size());
            assertTrue(ckpt.allTensors().keySet().stream().allMatch(k -> k.startsWith("ema.")));
        }
        try (TensorFile viaOpen = TensorFile.open(pt); TensorFile fromSt = TensorFile.open(st)) {
            IoTestData.assertSameTensors(fromSt, viaOpen);
        }
    }

    /** views.pt: offsets, transposed / strided / permuted views sharing storages, every dtype (see testdata/torch/make.py). */
    @Test
    void torchViewsMatchTheirContiguousCopies() throws IOException {
        Path pt = IoTestData.require("torch/views.pt");
        try (TensorFile views = TensorFile.open(pt);
             TensorFile expected = SafeTensors.read(IoTestData.require("torch/expected.safetensors"))) {
            IoTestData.assertSameTensors(expected, views);
            assertEquals(List.of("base", "transposed", "narrow", "every_other", "row2", "permuted3d", "f64", "f16", "bf16",
                    "bf16_t", "f16_t", "i64", "i32", "i16", "i8", "u8", "bool", "scalar", "empty"), List.copyOf(views.keys()), "pickle order");
            // hand check against base = arange(24).reshape(4, 6)
            INDArray narrow = views.get("narrow").load();
            assertArrayEquals(new float[]{8, 9, 10, 14, 15, 16}, narrow.data().asFloat());
            assertArrayEquals(new float[]{0, 6, 12, 18, 1, 7}, Arrays.copyOf(views.get("transposed").load().data().asFloat(), 6));
            assertEquals(DType.F16.nd4j(), views.get("f16").load().dataType());
            assertEquals(65504.0, views.get("f16").load().getDouble(2));
            assertEquals(3.140625, views.get("bf16").load().getDouble(2));
        }
    }

    @Test
    void nestedTrainingCheckpoint() throws IOException {
        Path pt = IoTestData.require("torch/nested.pt");
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(pt)) {
            assertEquals("model", ckpt.stateDictKey());
            try (TensorFile sd = ckpt.stateDict(); TensorFile bare = TensorFile.open(IoTestData.require("torch/state_dict.bin"))) {
                assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias"), List.copyOf(sd.keys()), "'module.' stripped");
                IoTestData.assertSameTensors(bare, sd);
            }
            try (TensorFile explicit = ckpt.stateDict("model")) {
                assertTrue(explicit.contains("0.weight"));
            }
            Map<?, ?> root = (Map<?, ?>) ckpt.root();
            PickledObject args = (PickledObject) root.get("args");
            assertEquals("argparse.Namespace", args.qualifiedName());
            assertEquals(1e-4, args.attribute("lr"));
            assertEquals("tiny", args.attribute("name"));
            assertEquals(List.of(1, 2), args.attribute("sizes"));
            assertEquals(3, root.get("epoch"));
            assertEquals("torch.device", ((PickledObject) root.get("device")).qualifiedName());
            assertEquals(new PickledGlobal("torch", "float16"), root.get("dtype"));
            assertInstanceOf(PickledObject.class, root.get("np_scalar"));
            assertInstanceOf(PickledObject.class, root.get("np_array"));
            Map<String, TensorSource> all = ckpt.allTensors();
            assertTrue(all.containsKey("model.module.0.weight"));
            assertTrue(all.containsKey("optimizer.state.0.exp_avg"), all.keySet().toString());
            assertTrue(all.containsKey("param"));
            assertEquals(1.0, all.get("param").load().getDouble(1, 1));
            assertEquals("param", all.get("param").key());
        }
    }

    @Test
    void wholePickledModuleHasTensorsButNoStateDict() throws IOException {
        Path pt = IoTestData.require("torch/whole_module.pt");
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(pt)) {
            assertEquals("torch.nn.modules.container.Sequential", ((PickledObject) ckpt.root()).qualifiedName());
            IOException e = assertThrows(IOException.class, ckpt::stateDict);
            assertTrue(e.getMessage().contains("state_dict()"), e.getMessage());
            assertTrue(ckpt.allTensors().keySet().stream().anyMatch(k -> k.endsWith("_parameters.weight")), ckpt.allTensors().keySet().toString());
        }
    }

    @Test
    void legacyFormatIsRejectedWithAdvice() {
        Path pt = IoTestData.require("torch/legacy.pt");
        for (IOException e : List.of(assertThrows(IOException.class, () -> TensorFile.open(pt)),
                assertThrows(IOException.class, () -> TorchCheckpoint.read(pt)))) {
            assertTrue(e.getMessage().contains(pt.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("legacy (non-zip) PyTorch checkpoint, re-save with torch.save(..., _use_new_zipfile_serialization=True)"), e.getMessage());
        }
    }

    // ------------------------------------------------------------------ hand-built checkpoints

    /** storage 0: twelve floats k * 1.5; storage 1: four halves. */
    private static Map<String, byte[]> storages() {
        ByteBuffer f = ByteBuffer.allocate(48).order(ByteOrder.LITTLE_ENDIAN);
        for (int k = 0; k < 12; k++) f.putFloat(k * 1.5f);
        Map<String, byte[]> m = new LinkedHashMap<>();
        m.put("archive/data/0", f.array());
        m.put("archive/data/1", le2(0x3C00, 0xC000, 0x3800, 0x7BFF));
        m.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        m.put("archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        return m;
    }

    private Path checkpoint(String name, byte[] pickle, Map<String, byte[]> entries) throws IOException {
        Map<String, byte[]> all = new LinkedHashMap<>();
        all.put("archive/data.pkl", pickle);
        all.putAll(entries);
        return zip(name, all);
    }

    private Path zip(String name, Map<String, byte[]> entries) throws IOException {
        Path f = dir.resolve(name);
        try (OutputStream os = Files.newOutputStream(f); ZipOutputStream z = new ZipOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry ze = new ZipEntry(e.getKey());
                ze.setMethod(ZipEntry.STORED); // as torch.save writes them
                ze.setSize(e.getValue().length);
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                ze.setCrc(crc.getValue());
                z.putNextEntry(ze);
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        return f;
    }

    @Test
    void honoursStorageOffsetsStridesAndSharing() throws IOException {
        Pkl p = new Pkl().proto().global("collections", "OrderedDict").emptyTuple().reduce()
                .mark()
                .str("ema.view").tensor("FloatStorage", "0", 12, 2, new int[]{2, 3}, new int[]{1, 2})
                .str("ema.whole").tensor("FloatStorage", "0", 12, 0, new int[]{12}, new int[]{1})
                .str("ema.half").tensor("HalfStorage", "1", 4, 1, new int[]{2}, new int[]{2})
                .str("ema.param").global("torch._utils", "_rebuild_parameter").mark()
                    .tensor("FloatStorage", "0", 12, 11, new int[]{1, 1}, new int[]{1, 1}).op(0x88).hooks().tuple().reduce()
                .str("ema.broadcast").tensor("FloatStorage", "0", 12, 3, new int[]{2, 2}, new int[]{0, 1})
                .setitems().stop();
        Path f = checkpoint("views.pt", p.bytes(), storages());
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(f); TensorFile sd = ckpt.stateDict()) {
            assertEquals("", ckpt.stateDictKey(), "a flat dict of tensors is the state dict itself");
            assertEquals(List.of("ema.view", "ema.whole", "ema.half", "ema.param", "ema.broadcast"), List.copyOf(sd.keys()));
            // view[i][j] = storage[2 + i*1 + j*2] = (2 + i + 2j) * 1.5
            INDArray view = sd.get("ema.view").load();
            assertArrayEquals(new long[]{2, 3}, view.shape());
            assertArrayEquals(new float[]{3f, 6f, 9f, 4.5f, 7.5f, 10.5f}, view.data().asFloat());
            INDArray whole = sd.get("ema.whole").load();
            assertEquals(16.5f, whole.getFloat(11));
            // half[i] = storage[1 + 2i]: bits 0xC000 (-2), 0x7BFF (65504)
            INDArray half = sd.get("ema.half").load();
            assertEquals(DType.F16.nd4j(), half.dataType());
            assertArrayEquals(le2(0xC000, 0x7BFF), IoTestData.bytes(half));
            assertEquals(16.5f, sd.get("ema.param").load().getFloat(0, 0));
            // stride 0 repeats a row: [[s3, s4], [s3, s4]]
            assertArrayEquals(new float[]{4.5f, 6f, 4.5f, 6f}, sd.get("ema.broadcast").load().data().asFloat());
            assertEquals(DType.F32, sd.get("ema.view").dtype());
            assertArrayEquals(new long[]{2, 3}, sd.get("ema.view").shape());
        }
    }

    @Test
    void bigEndianArchivesAreSwapped() throws IOException {
        ByteBuffer f = ByteBuffer.allocate(12).order(ByteOrder.BIG_ENDIAN);
        f.putFloat(1.5f).putFloat(-2f).putFloat(1e-3f);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("archive/data/0", f.array());
        entries.put("archive/byteorder", "big".getBytes(StandardCharsets.US_ASCII));
        Pkl p = new Pkl().proto().emptyDict().str("w").tensor("FloatStorage", "0", 3, 0, new int[]{3}, new int[]{1}).setitem().stop();
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(checkpoint("big.pt", p.bytes(), entries)); TensorFile sd = ckpt.stateDict()) {
            assertArrayEquals(new float[]{1.5f, -2f, 1e-3f}, sd.get("w").load().data().asFloat());
        }
    }

    @Test
    void storagesAreReadOnlyWhenLoaded() throws IOException {
        Pkl p = new Pkl().proto().emptyDict().str("w").tensor("FloatStorage", "0", 12, 0, new int[]{3}, new int[]{1}).setitem().stop();
        Path f = checkpoint("lazy.pt", p.bytes(), storages());
        TorchCheckpoint ckpt = TorchCheckpoint.read(f);
        TensorSource w = ckpt.stateDict().get("w");
        assertEquals(3.0f, w.load().getFloat(2));
        ckpt.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, w::load);
        assertTrue(e.getMessage().contains("lazy.pt") && e.getMessage().contains("closed"), e.getMessage());
    }

    private void assertBad(Path f, String... fragments) {
        IOException e = assertThrows(IOException.class, () -> TorchCheckpoint.read(f).close());
        assertTrue(e.getMessage().contains(f.toString()), "names the file: " + e.getMessage());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    @Test
    void tensorsThatCannotBeRebuiltAreErrorsNamingTheirKey() throws IOException {
        Pkl missing = new Pkl().proto().emptyDict().str("ema").emptyDict().str("down.w")
                .tensor("FloatStorage", "7", 4, 0, new int[]{4}, new int[]{1}).setitem().setitem().stop();
        assertBad(checkpoint("missing.pt", missing.bytes(), storages()), "'ema.down.w'", "missing data entry archive/data/7");

        Pkl beyond = new Pkl().proto().emptyDict().str("w")
                .tensor("FloatStorage", "0", 12, 4, new int[]{3, 3}, new int[]{3, 1}).setitem().stop();
        assertBad(checkpoint("beyond.pt", beyond.bytes(), storages()), "'w'", "holds 48 bytes");

        Pkl unknown = new Pkl().proto().emptyDict().str("w")
                .tensor("ComplexFloatStorage", "0", 6, 0, new int[]{2}, new int[]{1}).setitem().stop();
        assertBad(checkpoint("complex.pt", unknown.bytes(), storages()), "'w'", "unsupported storage type torch.ComplexFloatStorage");

        Pkl notStorage = new Pkl().proto().emptyDict().str("w").global("torch._utils", "_rebuild_tensor_v2").mark()
                .str("oops").intv(0).mark().intv(1).tuple().mark().intv(1).tuple().op(0x89).hooks().tuple().reduce().setitem().stop();
        assertBad(checkpoint("notstorage.pt", notStorage.bytes(), storages()), "'w'", "not a storage");
    }

    @Test
    void brokenPicklesAreErrorsNotCrashesOrHangs() throws IOException {
        byte[] good = new Pkl().proto().emptyDict().str("w").tensor("FloatStorage", "0", 12, 0, new int[]{3}, new int[]{1}).setitem().stop().bytes();
        assertBad(checkpoint("cut.pt", Arrays.copyOf(good, good.length / 2), storages()), "cannot unpickle");
        assertBad(checkpoint("ext.pt", new byte[]{(byte) 0x80, 2, (byte) 0x82, 1, '.'}, storages()), "unsupported pickle opcode");
        assertBad(checkpoint("junk.pt", new byte[]{(byte) 0x80, 2, (byte) 0xff, '.'}, storages()), "unsupported pickle opcode");
        assertBad(checkpoint("huge.pt", new byte[]{(byte) 0x80, 2, 'X', (byte) 0xf0, (byte) 0xff, (byte) 0xff, (byte) 0xff, 'a', '.'}, storages()),
                "cannot unpickle", "claims");
        assertBad(checkpoint("huge8.pt", new byte[]{(byte) 0x80, 4, (byte) 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x70, '.'}, storages()), "claims");
        assertBad(checkpoint("empty.pt", new byte[0], storages()), "cannot unpickle");
        assertBad(checkpoint("underflow.pt", new byte[]{(byte) 0x80, 2, 'R', '.'}, storages()), "cannot unpickle");
    }

    @Test
    void unknownClassesBecomeInertPlaceholders() throws IOException {
        // os.system("rm -rf /") must come back as data, never run
        Pkl p = new Pkl().proto().emptyDict()
                .str("cmd").global("os", "system").mark().str("rm -rf /").tuple().reduce().setitem()
                .str("obj").global("argparse", "Namespace").emptyTuple().op(0x81).emptyDict().str("lr").intv(5).setitem().op('b').setitem()
                .stop();
        Path f = checkpoint("inert.pt", p.bytes(), storages());
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(f)) {
            Map<?, ?> root = (Map<?, ?>) ckpt.root();
            PickledObject cmd = (PickledObject) root.get("cmd");
            assertEquals("os.system", cmd.qualifiedName());
            assertEquals(List.of("rm -rf /"), cmd.args());
            assertEquals(5, ((PickledObject) root.get("obj")).attribute("lr"));
            assertTrue(ckpt.allTensors().isEmpty());
            IOException e = assertThrows(IOException.class, ckpt::stateDict);
            assertTrue(e.getMessage().contains("no state dict") && e.getMessage().contains("cmd"), e.getMessage());
        }
    }

    @Test
    void badZipFiles() throws IOException {
        Path escape = dir.resolve("escape");
        Files.createDirectories(escape);
        Files.writeString(escape.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../views.pt\"}}");
        IOException e = assertThrows(IOException.class, () -> TensorFile.open(escape));
        assertTrue(e.getMessage().contains("outside the folder"), e.getMessage());
        Path noPkl = zip("nopkl.pt", Map.of("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII)));
        assertBad(noPkl, "without data.pkl");
        Path real = IoTestData.require("torch/views.pt");
        byte[] all = Files.readAllBytes(real);
        Path cut = dir.resolve("cut.pt");
        Files.write(cut, Arrays.copyOf(all, all.length / 2));
        assertBad(cut, "not a readable zip archive");
        Path notZip = dir.resolve("text.pt");
        Files.writeString(notZip, "hello");
        assertBad(notZip, "not a PyTorch zip checkpoint");
    }

    /** A few raw pickle opcodes, enough to write what torch.save writes (protocol 2). */
    static final class Pkl {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pkl op(int c) { out.write(c); return this; }
        Pkl proto() { return op(0x80).op(2); }
        Pkl mark() { return op('('); }
        Pkl tuple() { return op('t'); }
        Pkl emptyTuple() { return op(')'); }
        Pkl emptyDict() { return op('}'); }
        Pkl setitem() { return op('s'); }
        Pkl setitems() { return op('u'); }
        Pkl reduce() { return op('R'); }
        Pkl stop() { return op('.'); }

        Pkl global(String module, String name) {
            op('c');
            out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
            return this;
        }

        Pkl str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op('X');
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
            out.writeBytes(b);
            return this;
        }

        Pkl intv(int v) {
            op('J');
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
            return this;
        }

        Pkl ints(int[] v) {
            mark();
            for (int x : v) intv(x);
            return tuple();
        }

        /** collections.OrderedDict() as torch writes backward_hooks. */
        Pkl hooks() { return global("collections", "OrderedDict").emptyTuple().reduce(); }

        /** _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict()). */
        Pkl tensor(String storageType, String key, int numel, int offset, int[] size, int[] stride) {
            global("torch._utils", "_rebuild_tensor_v2").mark();
            mark().str("storage").global("torch", storageType).str(key).str("cpu").intv(numel).tuple().op('Q');
            intv(offset).ints(size).ints(stride).op(0x89).hooks();
            return tuple().reduce();
        }

        byte[] bytes() { return out.toByteArray(); }
    }
}
