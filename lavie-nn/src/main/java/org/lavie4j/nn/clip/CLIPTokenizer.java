package org.lavie4j.nn.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CLIP byte-level BPE tokenizer of Stable Diffusion 1.4, exactly as transformers 4.28.1's slow
 * {@code CLIPTokenizer} (models/clip/tokenization_clip.py) when ftfy is not installed, called as
 * {@code tokenizer(text, padding="max_length", max_length=77, truncation=True)}.
 *
 * <p>Per text: the special tokens ({@code <|startoftext|>}, {@code <|endoftext|>}, and the pad token) written in the
 * text are split off first and kept whole (the reference's no-split trie of a tokenizer loaded from a folder); every
 * other piece goes through the {@link BasicTokenizer} pre-pass (control characters dropped, CJK spaced, lower-case,
 * accents stripped, punctuation split off), is joined with spaces, cut by the reference regex, byte-encoded
 * ({@code bytes_to_unicode}) and merged by BPE ({@code </w>} marks a word end). Ids: vocabulary lookup (unknown ->
 * the unk id), truncated to {@code maxLength - 2}, framed by BOS/EOS, right-padded with the pad id; the attention mask
 * is 1 on BOS, tokens and EOS.
 *
 * <p>Deliberate deviation: the BPE cache is a bounded LRU (the reference's dict grows without bound); results are the
 * same. Instances are immutable apart from that cache and safe to share between threads.
 */
public final class CLIPTokenizer {
    public static final String START_OF_TEXT = "<|startoftext|>";
    public static final String END_OF_TEXT = "<|endoftext|>";
    public static final int DEFAULT_MAX_LENGTH = 77;
    /** Largest {@code model_max_length} accepted from a folder (the "no limit" sentinel 1e30 is rejected). */
    static final int MAX_MODEL_LENGTH = 1 << 16;
    private static final int CACHE_CAPACITY = 16_384;
    /** Pre-tokens longer than this (byte-encoded chars) are not cached, to keep the cache's memory bounded. */
    private static final int CACHE_MAX_TOKEN = 256;
    private static final String RESOURCES = "/org/lavie4j/nn/clip/";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The reference pattern; its IGNORECASE only concerns the literal alternatives, which are kept case-insensitive. */
    private static final Pattern PAT = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|(?i:'s|'t|'re|'ve|'m|'ll|'d)|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.UNICODE_CHARACTER_CLASS);
    private static final char[] BYTE_ENCODER = bytesToUnicode();

    /** Token ids and attention masks of a batch, each row {@code maxLength} long; I64 in the INDArray views. */
    public record Encoding(long[][] inputIds, long[][] attentionMask) {
        public Encoding {
            Objects.requireNonNull(inputIds, "inputIds");
            Objects.requireNonNull(attentionMask, "attentionMask");
            if (inputIds.length != attentionMask.length)
                throw new IllegalArgumentException("inputIds has " + inputIds.length + " rows, attentionMask " + attentionMask.length);
        }

        /** Number of texts. */
        public int size() { return inputIds.length; }

        /** {@code input_ids} as an I64 array {@code [N, maxLength]}. */
        public INDArray inputIdsArray() { return toArray(inputIds); }

        /** {@code attention_mask} as an I64 array {@code [N, maxLength]}. */
        public INDArray attentionMaskArray() { return toArray(attentionMask); }

        private static INDArray toArray(long[][] rows) {
            if (rows.length == 0) return Nd4j.create(DataType.LONG, 0, 0);
            return Nd4j.createFromArray(rows);
        }

        @Override public boolean equals(Object o) {
            return o instanceof Encoding e && Arrays.deepEquals(inputIds, e.inputIds) && Arrays.deepEquals(attentionMask, e.attentionMask);
        }

        @Override public int hashCode() { return 31 * Arrays.deepHashCode(inputIds) + Arrays.deepHashCode(attentionMask); }

        @Override public String toString() {
            return "Encoding" + Arrays.deepToString(inputIds) + " mask " + Arrays.deepToString(attentionMask);
        }
    }

    /** The special tokens and the padded length: the settings a diffusers {@code tokenizer/} folder can change. */
    public record Settings(String bosToken, String eosToken, String unkToken, String padToken, int maxLength) {
        public Settings {
            Objects.requireNonNull(bosToken, "bosToken");
            Objects.requireNonNull(eosToken, "eosToken");
            Objects.requireNonNull(unkToken, "unkToken");
            Objects.requireNonNull(padToken, "padToken");
            if (bosToken.isEmpty() || eosToken.isEmpty() || unkToken.isEmpty() || padToken.isEmpty())
                throw new IllegalArgumentException("special tokens must be non-empty");
            if (maxLength < 3 || maxLength > MAX_MODEL_LENGTH)
                throw new IllegalArgumentException("maxLength " + maxLength + " not in [3, " + MAX_MODEL_LENGTH + "]");
        }

        /** SD 1.4: BOS {@code <|startoftext|>}, EOS = UNK = PAD {@code <|endoftext|>}, 77 positions. */
        public static Settings sd14() {
            return new Settings(START_OF_TEXT, END_OF_TEXT, END_OF_TEXT, END_OF_TEXT, DEFAULT_MAX_LENGTH);
        }
    }

    private final Map<String, Integer> encoder;
    private final BpeMerges merges;
    private final Settings settings;
    private final int bosId, eosId, unkId, padId;
    /** Special tokens kept whole, longest first (longest match at the earliest position, as the reference's trie). */
    private final List<String> noSplit;
    private final Map<String, String[]> cache = Collections.synchronizedMap(new LinkedHashMap<>(1024, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<String, String[]> eldest) { return size() > CACHE_CAPACITY; }
    });

    private CLIPTokenizer(Map<String, Integer> encoder, BpeMerges merges, Settings settings, String vocabName) throws BpeFileException {
        this.encoder = encoder;
        this.merges = merges;
        this.settings = settings;
        this.bosId = specialId(settings.bosToken(), "bos_token", vocabName);
        this.eosId = specialId(settings.eosToken(), "eos_token", vocabName);
        this.unkId = specialId(settings.unkToken(), "unk_token", vocabName);
        this.padId = specialId(settings.padToken(), "pad_token", vocabName);
        Set<String> specials = new LinkedHashSet<>(List.of(settings.bosToken(), settings.eosToken(), settings.unkToken(), settings.padToken()));
        List<String> sorted = new ArrayList<>(specials);
        sorted.sort((a, b) -> Integer.compare(b.length(), a.length()));
        this.noSplit = List.copyOf(sorted);
    }

    private int specialId(String token, String what, String vocabName) throws BpeFileException {
        Integer id = encoder.get(token);
        if (id == null) throw new BpeFileException(vocabName, 0, what + " '" + token + "' is not in the vocabulary");
        return id;
    }

    // ------------------------------------------------------------------ construction

    /** The SD 1.4 tokenizer from the bundled {@code vocab.json} / {@code merges.txt} (openai/CLIP bpe_simple_vocab_16e6). */
    public static CLIPTokenizer sd14() {
        try {
            return create(resource("vocab.json"), RESOURCES + "vocab.json", resource("merges.txt"), RESOURCES + "merges.txt", Settings.sd14());
        } catch (IOException e) {
            throw new IllegalStateException("bundled tokenizer resources are broken: " + e.getMessage(), e);
        }
    }

    /** A tokenizer from a vocabulary and merges with the SD 1.4 special tokens and 77 positions. */
    public static CLIPTokenizer fromFiles(Path vocabJson, Path mergesTxt) throws IOException {
        return fromFiles(vocabJson, mergesTxt, Settings.sd14());
    }

    /** A tokenizer from a vocabulary and merges with the given special tokens and length. */
    public static CLIPTokenizer fromFiles(Path vocabJson, Path mergesTxt, Settings settings) throws IOException {
        return create(read(vocabJson), vocabJson.toString(), read(mergesTxt), mergesTxt.toString(), settings);
    }

    /**
     * A tokenizer from a diffusers {@code tokenizer/} folder: {@code vocab.json}, {@code merges.txt}, and where present
     * {@code tokenizer_config.json} (special tokens, {@code model_max_length}) and {@code special_tokens_map.json}
     * (special tokens; it wins over {@code tokenizer_config.json}, as in the reference's {@code from_pretrained}).
     * Special-token values are strings or {@code {"content": ...}} objects. The x4 upscaler's folder pads with "!".
     *
     * @throws BpeFileException naming the file when a part is missing or malformed
     */
    public static CLIPTokenizer fromFolder(Path tokenizerDir) throws IOException {
        if (!Files.isDirectory(tokenizerDir)) throw new BpeFileException(tokenizerDir, 0, "not a tokenizer folder (no such directory)", null);
        String[] tokens = {START_OF_TEXT, END_OF_TEXT, END_OF_TEXT, END_OF_TEXT};
        String[] keys = {"bos_token", "eos_token", "unk_token", "pad_token"};
        int maxLength = DEFAULT_MAX_LENGTH;
        Path config = tokenizerDir.resolve("tokenizer_config.json");
        if (Files.exists(config)) {
            JsonNode cfg = readJsonObject(config);
            JsonNode cls = cfg.get("tokenizer_class");
            if (cls != null && !cls.isNull() && !cls.asText().startsWith("CLIPTokenizer"))
                throw new BpeFileException(config, 0, "tokenizer_class '" + cls.asText() + "' is not a CLIP BPE tokenizer", null);
            applySpecialTokens(cfg, keys, tokens, config);
            JsonNode mml = cfg.get("model_max_length");
            if (mml != null && !mml.isNull()) {
                if (!mml.isIntegralNumber() || !mml.canConvertToInt() || mml.asInt() < 3 || mml.asInt() > MAX_MODEL_LENGTH)
                    throw new BpeFileException(config, 0, "model_max_length " + mml + " is not an integer in [3, " + MAX_MODEL_LENGTH + "]", null);
                maxLength = mml.asInt();
            }
        }
        Path map = tokenizerDir.resolve("special_tokens_map.json");
        if (Files.exists(map)) applySpecialTokens(readJsonObject(map), keys, tokens, map);
        Settings settings = new Settings(tokens[0], tokens[1], tokens[2], tokens[3], maxLength);
        return fromFiles(tokenizerDir.resolve("vocab.json"), tokenizerDir.resolve("merges.txt"), settings);
    }

    private static void applySpecialTokens(JsonNode json, String[] keys, String[] tokens, Path file) throws BpeFileException {
        JsonNode extra = json.get("additional_special_tokens");
        if (extra != null && extra.isArray() && !extra.isEmpty())
            throw new BpeFileException(file, 0, "additional_special_tokens are not supported by this port", null);
        for (int i = 0; i < keys.length; i++) {
            JsonNode v = json.get(keys[i]);
            if (v == null) continue;
            String content = v.isTextual() ? v.asText() : v.isObject() && v.path("content").isTextual() ? v.get("content").asText() : null;
            if (content == null || content.isEmpty())
                throw new BpeFileException(file, 0, keys[i] + " must be a non-empty string or an object with a string 'content', got " + v, null);
            tokens[i] = content;
        }
    }

    private static JsonNode readJsonObject(Path file) throws IOException {
        String text = BpeVocab.utf8(read(file), file.toString());
        JsonNode n;
        try {
            n = JSON.readTree(text);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
            throw new BpeFileException(file, line, "not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (n == null || !n.isObject()) throw new BpeFileException(file, 0, "must hold a JSON object", null);
        return n;
    }

    private static CLIPTokenizer create(byte[] vocab, String vocabName, byte[] mergesBytes, String mergesName, Settings settings) throws BpeFileException {
        Map<String, Integer> encoder = BpeVocab.parse(BpeVocab.utf8(vocab, vocabName), vocabName);
        BpeMerges merges = BpeMerges.parse(BpeVocab.utf8(mergesBytes, mergesName), mergesName);
        return new CLIPTokenizer(Map.copyOf(encoder), merges, settings, vocabName);
    }

    private static byte[] read(Path file) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new BpeFileException(file, 0, "missing tokenizer file", e);
        } catch (IOException e) {
            throw new BpeFileException(file, 0, "cannot read: " + e.getMessage(), e);
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = CLIPTokenizer.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) throw new BpeFileException(RESOURCES + name, 0, "resource missing from the classpath");
            return in.readAllBytes();
        }
    }

    // ------------------------------------------------------------------ tokenizing

    /** The BPE tokens of {@code text} before ids and special framing (the reference's {@code tokenize}). */
    public List<String> tokenize(String text) {
        Objects.requireNonNull(text, "text");
        List<String> out = new ArrayList<>();
        int start = 0;
        while (start <= text.length()) {
            int at = -1;
            String special = null;
            for (int i = start; i < text.length() && at < 0; i++) {
                for (String s : noSplit) { // longest first
                    if (text.startsWith(s, i)) { at = i; special = s; break; }
                }
            }
            int end = at < 0 ? text.length() : at;
            if (end > start) tokenizePiece(text.substring(start, end), out);
            if (at < 0) break;
            out.add(special);
            start = at + special.length();
        }
        return out;
    }

    /** The reference's {@code _tokenize}: pre-pass, regex, byte encoding, BPE. */
    private void tokenizePiece(String piece, List<String> out) {
        String text = String.join(" ", BasicTokenizer.tokenize(piece));
        if (text.isEmpty()) return;
        Matcher m = PAT.matcher(text);
        while (m.find()) {
            if (m.end() == m.start()) continue;
            byte[] utf8 = m.group().getBytes(StandardCharsets.UTF_8); // no lone surrogates left: the pre-pass drops Cs
            char[] enc = new char[utf8.length];
            for (int i = 0; i < utf8.length; i++) enc[i] = BYTE_ENCODER[utf8[i] & 0xFF];
            Collections.addAll(out, bpe(new String(enc)));
        }
    }

    private String[] bpe(String token) {
        if (token.length() > CACHE_MAX_TOKEN) return merges.bpe(token);
        String[] hit = cache.get(token);
        if (hit != null) return hit;
        String[] r = merges.bpe(token);
        cache.put(token, r);
        return r;
    }

    /** Vocabulary ids of tokens; a token outside the vocabulary maps to the unk id. */
    public long[] convertTokensToIds(List<String> tokens) {
        long[] ids = new long[tokens.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = encoder.getOrDefault(tokens.get(i), unkId);
        return ids;
    }

    /** One text: BOS, at most {@code maxLength - 2} token ids, EOS, then pad ids; mask 1 on all but the padding. */
    public Encoding encode(String text) {
        return encode(List.of(text));
    }

    /** A batch, one row per text (padding="max_length", truncation=True). */
    public Encoding encode(List<String> texts) {
        Objects.requireNonNull(texts, "texts");
        int len = settings.maxLength();
        long[][] ids = new long[texts.size()][];
        long[][] mask = new long[texts.size()][];
        for (int r = 0; r < ids.length; r++) {
            long[] tok = convertTokensToIds(tokenize(Objects.requireNonNull(texts.get(r), "texts[" + r + "]")));
            int n = Math.min(tok.length, len - 2);
            long[] row = new long[len];
            long[] m = new long[len];
            Arrays.fill(row, padId);
            row[0] = bosId;
            System.arraycopy(tok, 0, row, 1, n);
            row[n + 1] = eosId;
            Arrays.fill(m, 0, n + 2, 1L);
            ids[r] = row;
            mask[r] = m;
        }
        return new Encoding(ids, mask);
    }

    /** {@code input_ids} of one text as an I64 array {@code [1, maxLength]}. */
    public INDArray encodeToArray(String text) {
        return encode(text).inputIdsArray();
    }

    /** {@code input_ids} of a batch as an I64 array {@code [N, maxLength]}. */
    public INDArray encodeToArray(List<String> texts) {
        return encode(texts).inputIdsArray();
    }

    // ------------------------------------------------------------------ accessors

    public Settings settings() { return settings; }
    public int maxLength() { return settings.maxLength(); }
    public int bosTokenId() { return bosId; }
    public int eosTokenId() { return eosId; }
    public int unkTokenId() { return unkId; }
    public int padTokenId() { return padId; }
    /** Number of vocabulary entries. */
    public int vocabSize() { return encoder.size(); }
    /** Number of distinct merges read. */
    public int mergeCount() { return merges.size(); }

    /** The id of one token, or -1 if it is not in the vocabulary. */
    public int tokenToId(String token) { return encoder.getOrDefault(token, -1); }

    /**
     * {@code bytes_to_unicode}: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order, so
     * that no byte becomes whitespace or a control character.
     */
    static char[] bytesToUnicode() {
        char[] map = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) map[b] = direct[b] ? (char) b : (char) (256 + n++);
        return map;
    }
}
