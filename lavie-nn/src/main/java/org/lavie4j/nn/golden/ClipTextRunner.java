package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code clip_text}: {@code CLIPTextModel(CLIPTextConfig(**config))}, then for every call
 * {@code forward(input_ids, attention_mask=None).last_hidden_state}.
 */
public final class ClipTextRunner implements CaseRunner {
    private final DataType weights;

    /** Full-precision weights: the golden contract. */
    public ClipTextRunner() { this(DataType.FLOAT); }

    /** Weights stored as {@code weights} (FLOAT, HALF or BFLOAT16) while every op computes in FLOAT. */
    public ClipTextRunner(DataType weights) { this.weights = weights; }

    @Override
    public String kind() { return "clip_text"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        CLIPTextConfig config;
        try {
            config = CLIPTextConfig.fromJson(c.config()).config();
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config: " + e.getMessage());
        }
        CLIPTextModel model = new CLIPTextModel(config);
        Calls.storeWeights(model, weights);   // before load: the checkpoint converts straight to the stored dtype
        model.load(c.weightsStateDict());
        model.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                JsonNode mask = call.path("inputs").get("attention_mask");
                if (mask != null && !mask.isNull())
                    throw new MalformedCaseException(c.dir(), "case.json: attention_mask is not supported (Stable Diffusion passes none)");
                JsonNode ref = call.path("inputs").get("input_ids");
                if (ref == null || !ref.isTextual() || !ref.asText().startsWith("in."))
                    throw new MalformedCaseException(c.dir(), "case.json: call forward lacks a stored input_ids tensor");
                Tensor ids = Tensor.of(c.source(ref.asText()).load());   // I64, as stored
                Tensor y = model.forward(ids);
                out.put(Calls.outputKey(c, call, "return.last_hidden_state"), y.data().castTo(DataType.FLOAT).dup('c'));
                y.release();
            }
        }
        return out;
    }
}
