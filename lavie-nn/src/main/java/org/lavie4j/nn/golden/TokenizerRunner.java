package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Golden kind {@code tokenizer}: {@code CLIPTokenizer(vocab, merges)} (files of {@code objects.tokenizer.files},
 * relative to the golden root or the case directory) called as
 * {@code tokenizer(case.prompts[i], padding="max_length", max_length, truncation=True)}; each call's
 * {@code input_ids} / {@code attention_mask} is row {@code i} of the outputs it names (I64). Every config key is
 * honoured or checked.
 */
public final class TokenizerRunner implements CaseRunner {
    private static final Set<String> KEYS = Set.of("max_length", "padding", "truncation", "bos_token_id", "eos_token_id",
            "pad_token_id", "ftfy", "pre_tokenizer");
    private static final Pattern INDEXED = Pattern.compile("(case\\.prompts|out\\.[A-Za-z0-9_.]+)\\[(\\d+)]");

    @Override
    public String kind() { return "tokenizer"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        Calls.checkKeys(c, cfg, KEYS, "CLIPTokenizer call");
        if (cfg.path("ftfy").asBoolean(false))
            throw new MalformedCaseException(c.dir(), "config.ftfy true: only the no-ftfy pre-tokenizer is implemented");
        if (!cfg.path("padding").asText("max_length").equals("max_length"))
            throw new MalformedCaseException(c.dir(), "config.padding '" + cfg.get("padding").asText() + "' is not supported (max_length)");
        if (!cfg.path("truncation").asBoolean(true))
            throw new MalformedCaseException(c.dir(), "config.truncation false is not supported");
        int maxLength = cfg.path("max_length").asInt(CLIPTokenizer.DEFAULT_MAX_LENGTH);
        CLIPTokenizer.Settings sd = CLIPTokenizer.Settings.sd14();
        CLIPTokenizer tok = load(c, new CLIPTokenizer.Settings(sd.bosToken(), sd.eosToken(), sd.unkToken(), sd.padToken(), maxLength));
        check(c, cfg, "bos_token_id", tok.bosTokenId());
        check(c, cfg, "eos_token_id", tok.eosTokenId());
        check(c, cfg, "pad_token_id", tok.padTokenId());

        JsonNode prompts = c.json().get("prompts");
        if (prompts == null || !prompts.isArray()) throw new MalformedCaseException(c.dir(), "case.json: no 'prompts' array");
        Map<String, long[][]> rows = new HashMap<>();
        for (JsonNode call : Calls.of(c, "__call__")) {
            JsonNode in = call.path("inputs");
            if (in.has("padding") && !in.get("padding").asText().equals("max_length")
                    || in.has("truncation") && !in.get("truncation").asBoolean()
                    || in.has("max_length") && in.get("max_length").asInt() != maxLength)
                throw new MalformedCaseException(c.dir(), "case.json: call arguments " + in + " differ from config");
            String text = prompts.path(index(c, in.path("text").asText(), "case.prompts")).asText(null);
            if (text == null) throw new MalformedCaseException(c.dir(), "case.json: call text " + in.path("text") + " names no prompt");
            CLIPTokenizer.Encoding e = tok.encode(text);
            put(c, rows, Calls.outputKey(c, call, "return.input_ids"), e.inputIds()[0]);
            put(c, rows, Calls.outputKey(c, call, "return.attention_mask"), e.attentionMask()[0]);
        }
        Map<String, INDArray> out = new HashMap<>();
        for (Map.Entry<String, long[][]> r : rows.entrySet()) {
            for (int i = 0; i < r.getValue().length; i++)
                if (r.getValue()[i] == null) throw new MalformedCaseException(c.dir(), "case.json: no call produces " + r.getKey() + "[" + i + "]");
            out.put(r.getKey(), Nd4j.createFromArray(r.getValue()));
        }
        return out;
    }

    /** The tokenizer from the case's files (resolved against the golden root, then the case directory). */
    private static CLIPTokenizer load(GoldenCase c, CLIPTokenizer.Settings settings) throws IOException, MalformedCaseException {
        JsonNode files = c.objects().path("tokenizer").path("files");
        if (!files.isArray() || files.isEmpty()) throw new MalformedCaseException(c.dir(), "case.json: objects.tokenizer.files missing");
        Path vocab = null, merges = null;
        for (JsonNode f : files) {
            Path p = resolve(c, f.asText());
            if (p.getFileName().toString().equals("vocab.json")) vocab = p;
            else if (p.getFileName().toString().equals("merges.txt")) merges = p;
        }
        if (vocab == null || merges == null) throw new MalformedCaseException(c.dir(), "case.json: objects.tokenizer.files lacks vocab.json or merges.txt");
        return CLIPTokenizer.fromFiles(vocab, merges, settings);
    }

    private static Path resolve(GoldenCase c, String name) {
        Path golden = c.dir().toAbsolutePath().getParent();
        if (golden != null && Files.exists(golden.resolve(name))) return golden.resolve(name).normalize();
        return c.dir().resolve(name).normalize();
    }

    private static void check(GoldenCase c, JsonNode cfg, String key, int actual) throws MalformedCaseException {
        if (cfg.has(key) && cfg.get(key).asLong() != actual)
            throw new MalformedCaseException(c.dir(), "config." + key + " = " + cfg.get(key) + " but the tokenizer's is " + actual);
    }

    private static int index(GoldenCase c, String ref, String prefix) throws MalformedCaseException {
        Matcher m = INDEXED.matcher(ref);
        if (!m.matches() || !m.group(1).equals(prefix))
            throw new MalformedCaseException(c.dir(), "case.json: '" + ref + "' is not " + prefix + "[i]");
        return Integer.parseInt(m.group(2));
    }

    private static void put(GoldenCase c, Map<String, long[][]> rows, String ref, long[] row) throws MalformedCaseException {
        Matcher m = INDEXED.matcher(ref);
        if (!m.matches() || !m.group(1).startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: output '" + ref + "' is not out.<name>[i]");
        String key = m.group(1);
        GoldenCase.TensorSpec spec = c.outputs().get(key.substring(4));
        if (spec == null || spec.shape().length != 2 || spec.shape()[1] != row.length)
            throw new MalformedCaseException(c.dir(), "case.json: output " + key + " is not declared as [N, " + row.length + "]: " + spec);
        int i = Integer.parseInt(m.group(2));
        long[][] rs = rows.computeIfAbsent(key, k -> new long[(int) spec.shape()[0]][]);
        if (i >= rs.length) throw new MalformedCaseException(c.dir(), "case.json: " + ref + " is outside " + spec);
        rs[i] = row;
    }
}
