package org.lavie4j.core.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TensorFileTest {
    @TempDir Path dir;

    @Test
    void detectsFormatsByContentNotName() throws IOException {
        Path st = dir.resolve("weights.bin");          // a safetensors file under a misleading name
        SafeTensors.write(st, Map.of("a", Nd4j.createFromArray(1f)), Map.of());
        assertEquals(TensorFile.Format.SAFETENSORS, TensorFile.detect(st));
        assertEquals(TensorFile.Format.PYTORCH_ZIP, TensorFile.detect(IoTestData.require("torch/views.pt")));
        assertEquals(TensorFile.Format.PYTORCH_ZIP, TensorFile.detect(IoTestData.require("torch/state_dict.bin")));
        assertEquals(TensorFile.Format.LEGACY_PYTORCH, TensorFile.detect(IoTestData.require("torch/legacy.pt")));
        assertEquals(TensorFile.Format.DIRECTORY, TensorFile.detect(dir));
        Path empty = Files.write(dir.resolve("empty"), new byte[0]);
        assertEquals(TensorFile.Format.UNKNOWN, TensorFile.detect(empty));
        Path text = Files.writeString(dir.resolve("notes.txt"), "just some text here");
        assertEquals(TensorFile.Format.UNKNOWN, TensorFile.detect(text));

        try (TensorFile f = TensorFile.open(st)) {
            assertEquals(List.of("a"), List.copyOf(f.keys()));
            assertEquals(st, f.path());
        }
    }

    @Test
    void safetensorsWhoseHeaderLengthEndsInByte0x80IsNotTakenForALegacyPickle() throws IOException {
        // the u64 little-endian header length 128 starts the file with 0x80, the pickle PROTO opcode of legacy torch files
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + 128 + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(128).put((json + " ".repeat(128 - json.length())).getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putFloat(2.5f);
        Path st = Files.write(dir.resolve("w.safetensors"), b.array());
        assertEquals(TensorFile.Format.SAFETENSORS, TensorFile.detect(st));
        try (TensorFile f = TensorFile.open(st)) {
            assertEquals(2.5f, f.get("a").load().getFloat(0));
        }
    }

    @Test
    void opensEachFormat() throws IOException {
        try (TensorFile pt = TensorFile.open(IoTestData.require("torch/state_dict.bin"))) {
            assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias"), List.copyOf(pt.keys()));
            assertTrue(pt.metadata().isEmpty());
            assertArrayEquals(new long[]{2, 3}, pt.get("0.weight").shape());
            assertEquals("0.weight", pt.get("0.weight").key());
        }
        try (TensorFile st = TensorFile.open(IoTestData.require("torch/expected.safetensors"))) {
            assertTrue(st.contains("narrow"));
            assertFalse(st.contains("nope"));
        }
    }

    @Test
    void clearErrors() throws IOException {
        Path text = Files.writeString(dir.resolve("notes.txt"), "just some text here");
        IOException e = assertThrows(IOException.class, () -> TensorFile.open(text));
        assertTrue(e.getMessage().contains(text.toString()) && e.getMessage().contains("unrecognised checkpoint format"), e.getMessage());

        Path badSt = Files.writeString(dir.resolve("bad.safetensors"), "xyz");
        e = assertThrows(IOException.class, () -> TensorFile.open(badSt));
        assertTrue(e.getMessage().contains("truncated"), "a .safetensors name gets the safetensors diagnosis: " + e.getMessage());

        assertThrows(NoSuchFileException.class, () -> TensorFile.open(dir.resolve("absent.pt")));

        Path st = dir.resolve("w.safetensors");
        SafeTensors.write(st, Map.of("a", Nd4j.createFromArray(1f)), Map.of());
        try (TensorFile f = TensorFile.open(st)) {
            IllegalArgumentException miss = assertThrows(IllegalArgumentException.class, () -> f.get("b.weight"));
            assertTrue(miss.getMessage().contains("b.weight") && miss.getMessage().contains(st.toString()), miss.getMessage());
            assertThrows(UnsupportedOperationException.class, () -> f.asMap().remove("a"), "read-only");
        }
    }
}
