package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.TemporalAttention;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code layer_temporal_attention}: {@code TemporalAttention(**config)} with
 * {@code rotary_emb = RotaryEmbedding(32)} (config string {@code "RotaryEmbedding(N)"}; absent or null: none), then
 * for every call {@code forward(hidden_states)} -> the call's {@code return} output. The rotary {@code freqs} come
 * from the weights file (README behaviour 8).
 */
public final class TemporalAttentionRunner implements CaseRunner {
    @Override
    public String kind() { return "layer_temporal_attention"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        if (cfg.path("bias").asBoolean(false))
            throw new MalformedCaseException(c.dir(), "case.json: config.bias=true is not supported (LaVie's temporal attention has no q/k/v bias)");
        JsonNode cross = cfg.get("cross_attention_dim");
        if (cross != null && !cross.isNull())
            throw new MalformedCaseException(c.dir(), "case.json: config.cross_attention_dim is not supported for temporal attention");
        TemporalAttention attn = new TemporalAttention(Calls.requiredInt(c, cfg, "query_dim"),
                Calls.requiredInt(c, cfg, "heads"), Calls.requiredInt(c, cfg, "dim_head"), rotary(c, cfg));
        attn.load(c.weightsStateDict());
        attn.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                Tensor y = attn.forward(Tensor.of(Calls.input(c, call, "hidden_states", true)));
                out.put(Calls.returnKey(c, call), y.data().castTo(DataType.FLOAT).dup('c'));
            }
        }
        return out;
    }

    static RotaryEmbedding rotary(GoldenCase c, JsonNode cfg) throws MalformedCaseException {
        JsonNode r = cfg.get("rotary_emb");
        if (r == null || r.isNull()) return null;
        String s = r.asText().replace(" ", "");
        if (!s.matches("RotaryEmbedding\\((dim=)?\\d+\\)"))
            throw new MalformedCaseException(c.dir(), "case.json: config.rotary_emb '" + r.asText() + "' is not RotaryEmbedding(N)");
        return new RotaryEmbedding(Integer.parseInt(s.replaceAll("\\D", "")));
    }
}
