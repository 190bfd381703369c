package org.lavie4j.nn.clip;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class CLIPTokenizerTest {
    private static final int BOS = 49406, EOS = 49407;
    private static CLIPTokenizer tok;

    @BeforeAll static void load() { tok = CLIPTokenizer.sd14(); }

    @Test void bundledFilesAreSd14() {
        assertEquals(49408, tok.vocabSize());
        assertEquals(48894, tok.mergeCount());
        assertEquals(BOS, tok.bosTokenId());
        assertEquals(EOS, tok.eosTokenId());
        assertEquals(EOS, tok.padTokenId());
        assertEquals(77, tok.maxLength());
    }

    @Test void byteEncoderIsAPermutationAvoidingWhitespace() {
        char[] m = CLIPTokenizer.bytesToUnicode();
        Set<Character> seen = new HashSet<>();
        for (char ch : m) {
            assertTrue(seen.add(ch));
            assertTrue(!Character.isWhitespace(ch) && !Character.isISOControl(ch), "byte maps to " + (int) ch);
        }
        assertEquals('\u0120', m[' ']); // 'Ġ'
        assertEquals('a', m['a']);
        assertEquals('\u0100', m[0]);
    }

    /** Every golden prompt: BPE tokens equal tokens_per_prompt, ids and mask equal io.safetensors exactly. */
    @Test void goldenPrompts() throws Exception {
        Path dir = TestData.golden().resolve("tokenizer");
        assumeTrue(GoldenCase.isCaseDir(dir), "no tokenizer golden case");
        try (GoldenCase c = GoldenCase.open(dir)) {
            JsonNode prompts = c.json().get("prompts"), tokens = c.json().get("tokens_per_prompt");
            INDArray ids = c.expected("input_ids").castTo(DataType.LONG), mask = c.expected("attention_mask").castTo(DataType.LONG);
            for (int i = 0; i < prompts.size(); i++) {
                String p = prompts.get(i).asText();
                List<String> want = new ArrayList<>();
                tokens.get(i).forEach(t -> want.add(t.asText()));
                assertEquals(want, tok.tokenize(p), "prompt " + i + ": " + p);
                CLIPTokenizer.Encoding e = tok.encode(p);
                assertArrayEquals(ids.getRow(i).toLongVector(), e.inputIds()[0], "input_ids " + i);
                assertArrayEquals(mask.getRow(i).toLongVector(), e.attentionMask()[0], "attention_mask " + i);
            }
        }
    }

    @Test void emptyAndWhitespaceOnly() {
        for (String s : new String[] {"", "   ", "\t\n\r", "\u0000\u0007\u200b", "\ufffd"}) {
            CLIPTokenizer.Encoding e = tok.encode(s);
            assertEquals(BOS, e.inputIds()[0][0]);
            assertEquals(EOS, e.inputIds()[0][1]);
            assertEquals(1, e.attentionMask()[0][1]);
            assertEquals(0, e.attentionMask()[0][2]);
            assertEquals(List.of(), tok.tokenize(s));
        }
    }

    @Test void preTokenizerRules() {
        assertEquals(List.of("cafe</w>"), tok.tokenize("CAFÉ"));
        assertEquals(List.of("cafe</w>"), tok.tokenize("cafe\u0301")); // decomposed accent
        assertEquals(List.of("abc</w>"), tok.tokenize("a\u0000b\u200dc"));
        assertEquals(tok.tokenize("a b"), tok.tokenize("a\u2028b"));
        assertEquals(List.of("ultra</w>", "-</w>", "quality</w>"), tok.tokenize("Ultra-Quality"));
        assertEquals(List.of("a</w>", "_</w>", "b</w>"), tok.tokenize("a_b"));
        // final sigma: lower-casing of the word as a whole, then NFD
        assertEquals(tok.tokenize("οδος"), tok.tokenize("ΟΔΟΣ"));
        // CJK ideographs are split one per word, kana are not
        assertEquals(tok.tokenize("中 文"), tok.tokenize("中文"));
    }

    /**
     * Expected tokens computed with CPython 3.11 ({@code str.lower}, {@code unicodedata}, {@code regex}) running the
     * 4.28.1 no-ftfy code path line by line (transformers itself was not installed): Python's final-sigma rule (not
     * Java's word-boundary one), U+0130, NFD + Mn removal, Zl/Zp splitting, NEL/ZWNBSP/MVS dropped, a lone surrogate dropped.
     */
    @Test void matchesPythonOnTrickyText() {
        assertEquals(List.of("istanbul</w>", "Î", "¿", "Î", "´", "Î", "¿", "Ï", "Ĥ</w>", "Ï", "ĥ", "Î", "±", "Ï", "Ĥ</w>",
                "Ã", "Ł</w>", "Ç", "Ĩ</w>", "ï", "¬", "ģ</w>", "â", "ħ", "»</w>", "â", "ĳ", "ł</w>", "Â²</w>"),
                tok.tokenize("\u0130stanbul \u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3 \u00df \u01c5 \ufb01 \u216b \u2460 \u00b2"));
        assertEquals(List.of("Ò", "«", "à¤", "Ĺ", "Ï", "ĥ</w>", ";</w>", "Î", "±", "Ï", "Ĥ</w>", ".</w>", "Î", "±", "Ï", "ĥ", "b</w>"),
                tok.tokenize("\u04aa\u0917\u093c\u03a3; \u0391\u03a3. \u0391\u03a3\u0301b"));
        assertEquals(List.of("xy</w>", "z</w>", "wv</w>"), tok.tokenize("x\u0085y\u2028z\u00a0w\u180e\ufeffv"));
        assertEquals(List.of("á", "Ħ", "Ĵ", "á", "ħ", "¡", "á", "Ĩ", "«", "á", "Ħ", "Ģ", "á", "ħ", "®", "á", "Ĩ", "¨", "á", "Ħ", "ĭ",
                "á", "ħ", "¥</w>", "ãĥ", "Ĩ", "ãĤŃ", "ãĤ¹ãĥ", "Ī</w>", "à¤¹</w>", "à¤¿</w>", "à¤", "¨", "à¤¦</w>", "à¥Ģ</w>"),
                tok.tokenize("\ud55c\uad6d\uc5b4 \u30c6\u30ad\u30b9\u30c8 \u0939\u093f\u0928\u094d\u0926\u0940"));
        assertEquals(List.of("ab</w>"), tok.tokenize("a\ud800b"));
    }

    @Test void specialTokensInTextStayWhole() {
        assertEquals(List.of("a</w>", "<|endoftext|>", "b</w>"), tok.tokenize("a<|endoftext|>b"));
        assertEquals(List.of("<|startoftext|>", "<|startoftext|>"), tok.tokenize("<|startoftext|> <|startoftext|>"));
        long[] row = tok.encode("x <|endoftext|>").inputIds()[0];
        assertEquals(EOS, row[2]);
        // not special once changed: the pre-pass splits the punctuation
        assertEquals(List.of("<</w>", "|</w>", "endof", "text</w>", "|</w>", "></w>"), tok.tokenize("<|ENDOFTEXT|>"));
    }

    @Test void truncationKeepsBosFirst75AndEos() {
        String text = String.join(" ", Collections.nCopies(200, "cat dog"));
        long[] all = tok.convertTokensToIds(tok.tokenize(text));
        assertEquals(400, all.length);
        CLIPTokenizer.Encoding e = tok.encode(text);
        long[] row = e.inputIds()[0];
        assertEquals(77, row.length);
        assertEquals(BOS, row[0]);
        assertEquals(EOS, row[76]);
        for (int i = 0; i < 75; i++) assertEquals(all[i], row[i + 1]);
        for (long m : e.attentionMask()[0]) assertEquals(1, m);
        // exactly 75 tokens: no padding, 76 tokens: truncated to the same
        String t75 = String.join(" ", Collections.nCopies(75, "cat"));
        assertEquals(tok.encode(t75), tok.encode(t75 + " cat"));
        assertEquals(EOS, tok.encode(t75).inputIds()[0][76]);
    }

    @Test void batchAndArrays() {
        CLIPTokenizer.Encoding e = tok.encode(List.of("a photo of a cat", "", "dog"));
        INDArray ids = e.inputIdsArray(), mask = e.attentionMaskArray();
        assertEquals(DataType.LONG, ids.dataType());
        assertArrayEquals(new long[] {3, 77}, ids.shape());
        assertArrayEquals(new long[] {3, 77}, mask.shape());
        assertArrayEquals(tok.encode("dog").inputIds()[0], ids.getRow(2).toLongVector());
        assertArrayEquals(new long[] {1, 77}, tok.encodeToArray("x").shape());
    }

    /** Random Unicode (controls, lone surrogates, marks, emoji, CJK, private use, unassigned): never throws, rows well-formed. */
    @Test void fuzzAnyUnicode() {
        Random r = new Random(42);
        int[][] ranges = {{0, 0x7F}, {0x80, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x590, 0x6FF}, {0x900, 0x97F},
                {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xD800, 0xDFFF}, {0xE000, 0xF8FF},
                {0xF900, 0xFAFF}, {0xFE00, 0xFFFF}, {0x1F300, 0x1FAFF}, {0x20000, 0x2A6DF}, {0xE0000, 0xE01EF}, {0, 0x10FFFF}};
        for (int n = 0; n < 300; n++) {
            int len = n < 5 ? 10_000 : r.nextInt(200);
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < len; i++) {
                int[] rg = ranges[r.nextInt(ranges.length)];
                int cp = rg[0] + r.nextInt(rg[1] - rg[0] + 1);
                if (cp >= 0xD800 && cp <= 0xDFFF) sb.append((char) cp); // lone surrogate
                else sb.appendCodePoint(cp);
                if (r.nextInt(8) == 0) sb.append(' ');
            }
            checkRow(sb.toString());
        }
    }

    @Test void longSingleWordsAreFast() {
        StringBuilder letters = new StringBuilder();
        Random r = new Random(1);
        for (int i = 0; i < 10_000; i++) letters.append((char) ('a' + r.nextInt(26)));
        long t0 = System.nanoTime();
        checkRow(letters.toString());
        checkRow("x".repeat(10_000));
        checkRow("🐼".repeat(5_000));
        checkRow("!".repeat(10_000));
        assertTrue(System.nanoTime() - t0 < 20_000_000_000L, "10k-char words took too long");
    }

    @Test void cacheDoesNotChangeResults() {
        CLIPTokenizer fresh = CLIPTokenizer.sd14();
        Random r = new Random(7);
        List<String> words = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) { // more distinct words than the LRU holds
            StringBuilder w = new StringBuilder();
            for (int j = 0; j < 1 + r.nextInt(10); j++) w.append((char) ('a' + r.nextInt(26)));
            words.add(w.toString());
        }
        List<String> first = new ArrayList<>();
        for (String w : words) first.addAll(fresh.tokenize(w));
        List<String> again = new ArrayList<>();
        for (String w : words) again.addAll(fresh.tokenize(w));
        assertEquals(first, again);
        assertEquals(fresh.tokenize(String.join(" ", words.subList(0, 500))), tok.tokenize(String.join(" ", words.subList(0, 500))));
    }

    private static void checkRow(String text) {
        CLIPTokenizer.Encoding e = tok.encode(text);
        long[] row = e.inputIds()[0], mask = e.attentionMask()[0];
        assertEquals(77, row.length);
        assertEquals(BOS, row[0]);
        int ones = 0;
        while (ones < 77 && mask[ones] == 1) ones++;
        assertTrue(ones >= 2);
        for (int i = ones; i < 77; i++) {
            assertEquals(0, mask[i]);
            assertEquals(EOS, row[i]);
        }
        assertEquals(EOS, row[ones - 1]);
        int n = tok.tokenize(text).size();
        assertEquals(Math.min(n, 75) + 2, ones);
        for (int i = 1; i < ones - 1; i++) assertTrue(row[i] >= 0 && row[i] < 49408);
    }

    // ------------------------------------------------------------------ files

    @Test void fromFilesEqualsBundled(@TempDir Path d) throws IOException {
        Path v = copyRef(d, "vocab.json"), m = copyRef(d, "merges.txt");
        CLIPTokenizer t = CLIPTokenizer.fromFiles(v, m);
        assertEquals(tok.encode("A Teddy Bear, 2k!"), t.encode("A Teddy Bear, 2k!"));
    }

    @Test void folderPadTokenAndLength(@TempDir Path d) throws IOException {
        copyRef(d, "vocab.json");
        copyRef(d, "merges.txt");
        // the x4 upscaler's folder: pad "!" (id 0)
        Files.writeString(d.resolve("special_tokens_map.json"), """
                {"bos_token": {"content": "<|startoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
                 "eos_token": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
                 "pad_token": "!",
                 "unk_token": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false}}""");
        Files.writeString(d.resolve("tokenizer_config.json"), """
                {"model_max_length": 77, "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer", "do_lower_case": true}""");
        CLIPTokenizer t = CLIPTokenizer.fromFolder(d);
        assertEquals(0, t.padTokenId());
        long[] row = t.encode("a cat").inputIds()[0];
        assertArrayEquals(new long[] {BOS, 320, 2368, EOS, 0, 0}, java.util.Arrays.copyOf(row, 6));
        // the pad token is a no-split special token of a folder-loaded reference tokenizer: "!" stays bare (id 0)
        assertEquals(List.of("wow</w>", "!"), t.tokenize("wow!"));
        assertEquals(List.of("wow</w>", "!</w>"), tok.tokenize("wow!"));

        Files.writeString(d.resolve("tokenizer_config.json"), "{\"model_max_length\": 10}");
        Files.delete(d.resolve("special_tokens_map.json"));
        CLIPTokenizer short10 = CLIPTokenizer.fromFolder(d);
        assertEquals(10, short10.encode("a cat").inputIds()[0].length);
        assertEquals(EOS, short10.padTokenId());
    }

    @Test void badFilesNameFileAndLine(@TempDir Path d) throws IOException {
        Path v = copyRef(d, "vocab.json"), m = copyRef(d, "merges.txt");
        Path missing = d.resolve("nope.json");
        BpeFileException e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(missing, m));
        assertTrue(e.getMessage().contains("nope.json") && e.getMessage().contains("missing"), e.getMessage());

        Path arr = d.resolve("arr.json");
        Files.writeString(arr, "[\"a\", \"b\"]");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(arr, m));
        assertTrue(e.getMessage().contains("arr.json") && e.getMessage().contains("object"), e.getMessage());

        Path strIds = d.resolve("str.json");
        Files.writeString(strIds, "{\n\"a\": 0,\n\"b\": \"one\"\n}");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(strIds, m));
        assertEquals(3, e.line(), e.getMessage());
        assertTrue(e.getMessage().startsWith(strIds + ":3:"), e.getMessage());

        Path broken = d.resolve("broken.json");
        Files.writeString(broken, "{\n\"a\": 0,\n\"b\" 1}");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(broken, m));
        assertEquals(3, e.line(), e.getMessage());

        Path noSpecial = d.resolve("small.json");
        Files.writeString(noSpecial, "{\"a\": 0}");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(noSpecial, m));
        assertTrue(e.getMessage().contains("<|startoftext|>"), e.getMessage());

        Path badMerges = d.resolve("bad_merges.txt");
        Files.writeString(badMerges, "#version: 0.2\ni n\nt h\nthis is three\n");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(v, badMerges));
        assertEquals(4, e.line(), e.getMessage());
        assertTrue(e.getMessage().contains("bad_merges.txt"), e.getMessage());

        Path notText = d.resolve("bin.txt");
        Files.write(notText, new byte[] {'#', '\n', 'a', ' ', (byte) 0xC3, '\n'});
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(v, notText));
        assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());

        Path empty = d.resolve("empty.txt");
        Files.writeString(empty, "\n");
        assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFiles(v, empty));
    }

    @Test void badFolders(@TempDir Path d) throws IOException {
        assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFolder(d.resolve("absent")));
        copyRef(d, "vocab.json");
        BpeFileException e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFolder(d));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
        copyRef(d, "merges.txt");
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"tokenizer_class\": \"T5Tokenizer\"}");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFolder(d));
        assertTrue(e.getMessage().contains("tokenizer_config.json"), e.getMessage());
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"model_max_length\": 1e30}");
        assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFolder(d));
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"pad_token\": \"never-in-vocab\"}");
        e = assertThrows(BpeFileException.class, () -> CLIPTokenizer.fromFolder(d));
        assertTrue(e.getMessage().contains("pad_token"), e.getMessage());
    }

    private static Path copyRef(Path dir, String name) throws IOException {
        Path dst = dir.resolve(name);
        try (var in = CLIPTokenizer.class.getResourceAsStream("/org/lavie4j/nn/clip/" + name)) {
            Files.write(dst, in.readAllBytes());
        }
        return dst;
    }
}
