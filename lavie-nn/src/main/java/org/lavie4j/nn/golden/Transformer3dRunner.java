package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.attention.Transformer3DModel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code layer_transformer3d}: {@code Transformer3DModel(**config)} with a {@code RotaryEmbedding(N)},
 * {@code forward(hidden_states, encoder_hidden_states, use_image_num=0).sample}.
 */
public final class Transformer3dRunner implements CaseRunner {
    @Override
    public String kind() { return "layer_transformer3d"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        for (String flag : new String[]{"use_linear_projection", "only_cross_attention", "upcast_attention", "use_first_frame"})
            if (cfg.path(flag).asBoolean(false))
                throw new MalformedCaseException(c.dir(), "case.json: config." + flag + "=true is not supported by the base Transformer3DModel");
        if (cfg.path("num_layers").asInt(1) != 1)
            throw new MalformedCaseException(c.dir(), "case.json: config.num_layers must be 1 (LaVie builds one block per slot)");
        int heads = Calls.requiredInt(c, cfg, "num_attention_heads"), dimHead = Calls.requiredInt(c, cfg, "attention_head_dim");
        JsonNode in = cfg.get("in_channels");
        int channels = in == null || in.isNull() ? heads * dimHead : Calls.requiredInt(c, cfg, "in_channels");
        Transformer3DModel model = new Transformer3DModel(heads, dimHead, channels, cfg.path("norm_num_groups").asInt(32),
                Calls.requiredInt(c, cfg, "cross_attention_dim"), TemporalAttentionRunner.rotary(c, cfg));
        model.load(c.weightsStateDict());
        model.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                if (call.path("inputs").path("use_image_num").asInt(0) != 0)
                    throw new MalformedCaseException(c.dir(), "case.json: use_image_num > 0 has no reference semantics (golden README)");
                Tensor x = Tensor.of(Calls.input(c, call, "hidden_states", true));
                Tensor ctx = Tensor.of(Calls.input(c, call, "encoder_hidden_states", true));
                Tensor y = model.forward(x, ctx, FrameLayout.video((int) x.size(2)));
                out.put(Calls.outputKey(c, call, "return.sample"), y.data().castTo(DataType.FLOAT).dup('c'));
            }
        }
        return out;
    }
}
