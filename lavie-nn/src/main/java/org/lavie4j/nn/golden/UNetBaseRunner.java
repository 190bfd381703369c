package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code unet_base}: LaVie's base {@code UNet3DConditionModel(**config)},
 * {@code forward(sample, timestep, encoder_hidden_states, use_image_num=0).sample}.
 */
public final class UNetBaseRunner implements CaseRunner {
    private final DataType weights;

    /** Full-precision weights: the golden contract. */
    public UNetBaseRunner() { this(DataType.FLOAT); }

    /** Weights stored as {@code weights} (FLOAT, HALF or BFLOAT16) while every op computes in FLOAT. */
    public UNetBaseRunner(DataType weights) { this.weights = weights; }

    @Override
    public String kind() { return "unet_base"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        UNetConfig config;
        try {
            config = UNetConfig.fromJson(c.config()).config();
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config: " + e.getMessage());
        }
        UNet3DConditionModel unet = new UNet3DConditionModel(config);
        Calls.storeWeights(unet, weights);   // before load: the checkpoint converts straight to the stored dtype
        unet.load(c.weightsStateDict());
        unet.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                if (call.path("inputs").path("use_image_num").asInt(0) != 0)
                    throw new MalformedCaseException(c.dir(), "case.json: use_image_num > 0 has no reference semantics (golden README)");
                Tensor sample = Tensor.of(Calls.input(c, call, "sample", true));
                Tensor timestep = Tensor.of(c.source(call.path("inputs").path("timestep").asText()).load());
                Tensor ctx = Tensor.of(Calls.input(c, call, "encoder_hidden_states", true));
                Tensor y = unet.forward(sample, timestep, ctx);
                out.put(Calls.outputKey(c, call, "return.sample"), y.data().castTo(DataType.FLOAT).dup('c'));
            }
        }
        return out;
    }
}
