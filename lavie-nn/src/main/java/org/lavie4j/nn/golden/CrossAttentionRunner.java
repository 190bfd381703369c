package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.nn.attention.CrossAttention;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code layer_cross_attention}: {@code CrossAttention(**config)}, then for every call
 * {@code forward(hidden_states, encoder_hidden_states)} -> the call's {@code return} output. A missing or null
 * {@code cross_attention_dim} / {@code encoder_hidden_states} means self-attention.
 */
public final class CrossAttentionRunner implements CaseRunner {
    @Override
    public String kind() { return "layer_cross_attention"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        int queryDim = Calls.requiredInt(c, cfg, "query_dim");
        JsonNode cross = cfg.get("cross_attention_dim");
        int contextDim = cross == null || cross.isNull() ? queryDim : Calls.requiredInt(c, cfg, "cross_attention_dim");
        CrossAttention attn = new CrossAttention(queryDim, contextDim, Calls.requiredInt(c, cfg, "heads"),
                Calls.requiredInt(c, cfg, "dim_head"), cfg.path("bias").asBoolean(false));
        attn.load(c.weightsStateDict());
        attn.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                Tensor x = Tensor.of(Calls.input(c, call, "hidden_states", true));
                INDArray ctx = Calls.input(c, call, "encoder_hidden_states", false);
                Tensor y = attn.forward(x, ctx == null ? null : Tensor.of(ctx));
                out.put(Calls.returnKey(c, call), y.data().castTo(DataType.FLOAT).dup('c'));
            }
        }
        return out;
    }
}
