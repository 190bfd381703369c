package org.lavie4j.nn.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Configuration of the CLIP text tower (transformers 4.28.1 {@code CLIPTextConfig}): the fields of a
 * {@code text_encoder/config.json} that change the computation. Dropout is not modelled (0 in every SD config).
 */
public record CLIPTextConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        Activation hiddenAct,
        double layerNormEps) {

    private static final Logger LOG = LoggerFactory.getLogger(CLIPTextConfig.class);

    /** The MLP activations the port supports, with their transformers {@code hidden_act} names. */
    public enum Activation {
        /** {@code x·σ(1.702x)} (OpenAI CLIP, SD 1.x). */
        QUICK_GELU("quick_gelu"),
        /** Exact erf GELU (OpenCLIP ViT-H, SD 2.x / x4 upscaler). */
        GELU("gelu");

        final String json;

        Activation(String json) { this.json = json; }

        public String jsonName() { return json; }

        public Tensor apply(Tensor x) {
            return this == QUICK_GELU ? Ops.quickGelu(x) : Ops.gelu(x);
        }

        static Activation parse(String s) {
            for (Activation a : values()) if (a.json.equals(s)) return a;
            throw new IllegalArgumentException("CLIP text config: hidden_act = \"" + s + "\" is not supported (only \"quick_gelu\", \"gelu\")");
        }
    }

    public CLIPTextConfig {
        if (hiddenAct == null) throw new IllegalArgumentException("hidden_act is null");
        if (vocabSize <= 0 || hiddenSize <= 0 || intermediateSize <= 0 || numHiddenLayers <= 0 || numAttentionHeads <= 0 || maxPositionEmbeddings <= 0)
            throw new IllegalArgumentException("vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and "
                    + "max_position_embeddings must be positive, got " + vocabSize + ", " + hiddenSize + ", " + intermediateSize + ", "
                    + numHiddenLayers + ", " + numAttentionHeads + ", " + maxPositionEmbeddings);
        if (hiddenSize % numAttentionHeads != 0)
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numAttentionHeads);
        if (!(layerNormEps > 0)) throw new IllegalArgumentException("layer_norm_eps must be positive, got " + layerNormEps);
    }

    /** Stable Diffusion 1.4's text encoder: OpenAI CLIP ViT-L/14 text tower (123M parameters). */
    public static CLIPTextConfig sd14() {
        return new CLIPTextConfig(49408, 768, 3072, 12, 12, 77, Activation.QUICK_GELU, 1e-5);
    }

    /** The tiny model of the {@code clip_text} golden case. */
    public static CLIPTextConfig tiny() {
        return new CLIPTextConfig(1000, 32, 37, 2, 4, 77, Activation.QUICK_GELU, 1e-5);
    }

    /** Channels per attention head. */
    public int headDim() { return hiddenSize / numAttentionHeads; }

    /** A parsed config and the keys of the JSON that do not change the computation (listed, never silently dropped). */
    public record Parsed(CLIPTextConfig config, List<String> ignoredKeys) {}

    private static final Set<String> USED = Set.of("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "max_position_embeddings", "hidden_act", "layer_norm_eps");

    /** Dropout rates: only 0 can be honoured (no dropout is implemented); absent or null is accepted. */
    private static final Set<String> ZERO_ONLY = Set.of("dropout", "attention_dropout");

    /**
     * Reads a transformers {@code CLIPTextConfig} JSON ({@code text_encoder/config.json}). Absent keys take
     * transformers 4.28.1's defaults (hidden 512, intermediate 2048, 12 layers, 8 heads, 77 positions, quick_gelu,
     * eps 1e-5, vocab 49408). Unsupported values ({@code hidden_act} other than quick_gelu/gelu, non-zero dropout, a
     * whole {@code CLIPConfig}) are errors; other keys ({@code projection_dim}, token ids, {@code torch_dtype}, ...)
     * do not change the text model's output and are returned in {@link Parsed#ignoredKeys()}.
     */
    public static Parsed fromJson(JsonNode json) {
        if (json == null || !json.isObject()) throw new IllegalArgumentException("CLIP text config must be a JSON object");
        if (json.has("text_config") || "clip".equals(json.path("model_type").asText()))
            throw new IllegalArgumentException("CLIP text config: this is a whole CLIPConfig; pass its text_config (or a text_encoder/config.json)");
        Set<String> keys = new TreeSet<>();
        json.fieldNames().forEachRemaining(keys::add);
        List<String> ignored = new ArrayList<>();
        for (String k : keys) {
            if (USED.contains(k)) continue;
            if (ZERO_ONLY.contains(k)) {
                JsonNode v = json.get(k);
                if (!v.isNull() && !(v.isNumber() && v.asDouble() == 0.0))
                    throw new IllegalArgumentException("CLIP text config: " + k + " = " + v + " is not supported (only 0)");
            }
            ignored.add(k);
        }
        JsonNode act = json.get("hidden_act");
        if (act != null && !act.isNull() && !act.isTextual())
            throw new IllegalArgumentException("CLIP text config: hidden_act must be a string, got " + act);
        CLIPTextConfig config = new CLIPTextConfig(
                integer(json, "vocab_size", 49408), integer(json, "hidden_size", 512), integer(json, "intermediate_size", 2048),
                integer(json, "num_hidden_layers", 12), integer(json, "num_attention_heads", 8),
                integer(json, "max_position_embeddings", 77),
                Activation.parse(act == null || act.isNull() ? "quick_gelu" : act.asText()),
                number(json, "layer_norm_eps", 1e-5));
        if (!ignored.isEmpty()) LOG.debug("CLIP text config: keys that do not change the computation, ignored: {}", ignored);
        return new Parsed(config, List.copyOf(ignored));
    }

    private static int integer(JsonNode json, String key, int fallback) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isIntegralNumber() || !v.canConvertToInt())
            throw new IllegalArgumentException("CLIP text config: " + key + " must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(JsonNode json, String key, double fallback) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isNumber()) throw new IllegalArgumentException("CLIP text config: " + key + " must be a number, got " + v);
        return v.asDouble();
    }

    /** This config as a transformers {@code text_encoder/config.json} ({@link #fromJson} reads it back to an equal config). */
    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.putArray("architectures").add("CLIPTextModel");
        n.put("model_type", "clip_text_model");
        n.put("vocab_size", vocabSize);
        n.put("hidden_size", hiddenSize);
        n.put("intermediate_size", intermediateSize);
        n.put("num_hidden_layers", numHiddenLayers);
        n.put("num_attention_heads", numAttentionHeads);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("hidden_act", hiddenAct.jsonName());
        n.put("layer_norm_eps", layerNormEps);
        n.put("dropout", 0.0);
        n.put("attention_dropout", 0.0);
        return n;
    }
}
