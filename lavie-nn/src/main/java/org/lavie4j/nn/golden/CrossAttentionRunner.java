package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.attention.CrossAttention;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
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
        int queryDim = requiredInt(c, cfg, "query_dim");
        JsonNode cross = cfg.get("cross_attention_dim");
        int contextDim = cross == null || cross.isNull() ? queryDim : requiredInt(c, cfg, "cross_attention_dim");
        CrossAttention attn = new CrossAttention(queryDim, contextDim, requiredInt(c, cfg, "heads"),
                requiredInt(c, cfg, "dim_head"), cfg.path("bias").asBoolean(false));
        attn.load(StateDict.of(c.file(GoldenCase.WEIGHTS_FILE).toString(), c.weights().asMap()));
        attn.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : calls(c, "forward")) {
                Tensor x = Tensor.of(input(c, call, "hidden_states", true));
                INDArray ctx = input(c, call, "encoder_hidden_states", false);
                Tensor y = attn.forward(x, ctx == null ? null : Tensor.of(ctx));
                out.put(returnKey(c, call), y.data().castTo(DataType.FLOAT).dup('c'));
            }
        }
        return out;
    }

    // ---- reading the single-object calls of the attention layer cases (also used by TemporalAttentionRunner)

    static int requiredInt(GoldenCase c, JsonNode cfg, String key) throws MalformedCaseException {
        JsonNode v = cfg.get(key);
        if (v == null || !v.canConvertToInt())
            throw new MalformedCaseException(c.dir(), "case.json: config." + key + " missing or not an integer");
        return v.asInt();
    }

    /** The case's calls, each of which must be {@code method}. */
    static List<JsonNode> calls(GoldenCase c, String method) throws MalformedCaseException {
        JsonNode calls = c.calls();
        if (calls == null || !calls.isArray() || calls.isEmpty())
            throw new MalformedCaseException(c.dir(), "case.json: no calls");
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode call : calls) {
            if (!method.equals(call.path("call").asText()))
                throw new MalformedCaseException(c.dir(), "case.json: unsupported call '" + call.path("call").asText() + "' (expected " + method + ")");
            out.add(call);
        }
        return out;
    }

    /** The float32 tensor an argument names ({@code "in.<name>"} or an earlier {@code "out.<name>"}); null if absent and optional. */
    static INDArray input(GoldenCase c, JsonNode call, String argument, boolean required) throws MalformedCaseException {
        JsonNode v = call.path("inputs").get(argument);
        if (v == null || v.isNull()) {
            if (required) throw new MalformedCaseException(c.dir(), "case.json: call " + call.path("call").asText() + " lacks input " + argument);
            return null;
        }
        String ref = v.asText();
        if (!ref.startsWith("in.") && !ref.startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: input " + argument + " = '" + ref + "' is not a stored tensor");
        return c.source(ref).load(DataType.FLOAT);
    }

    /** The {@code out.<name>} key the call's {@code return} is stored under. */
    static String returnKey(GoldenCase c, JsonNode call) throws MalformedCaseException {
        String key = call.path("outputs").path("return").asText("");
        if (!key.startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: call " + call.path("call").asText() + " has no outputs.return");
        return key;
    }
}
