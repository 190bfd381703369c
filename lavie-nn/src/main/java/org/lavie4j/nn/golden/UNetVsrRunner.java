package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.VsrConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code unet_vsr}: LaVie's {@code UNet3DVSRModel(**config)} (vsr/models/unet.py),
 * {@code forward(sample, timestep, low_res, encoder_hidden_states, class_labels).sample}; the concatenation with
 * {@code low_res} happens inside forward, {@code class_labels} is the noise level.
 */
public final class UNetVsrRunner implements CaseRunner {
    private final DataType weights;

    /** Full-precision weights: the golden contract. */
    public UNetVsrRunner() { this(DataType.FLOAT); }

    /** Weights stored as {@code weights} (FLOAT, HALF or BFLOAT16) while every op computes in FLOAT. */
    public UNetVsrRunner(DataType weights) { this.weights = weights; }

    @Override
    public String kind() { return "unet_vsr"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        VsrConfig config;
        try {
            config = VsrConfig.fromJson(c.config()).config();
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config: " + e.getMessage());
        }
        UNet3DVSRModel unet = new UNet3DVSRModel(config);
        Calls.storeWeights(unet, weights);   // before load: the checkpoint converts straight to the stored dtype
        unet.load(c.weightsStateDict());
        unet.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                JsonNode mask = call.path("inputs").get("attention_mask");
                if (mask != null && !mask.isNull())
                    throw new MalformedCaseException(c.dir(), "case.json: attention_mask is not supported (LaVie's VSR pipeline never passes it)");
                Tensor sample = Tensor.of(Calls.input(c, call, "sample", true));
                Tensor timestep = Tensor.of(c.source(call.path("inputs").path("timestep").asText()).load());
                Tensor lowRes = Tensor.of(Calls.input(c, call, "low_res", true));
                Tensor ctx = Tensor.of(Calls.input(c, call, "encoder_hidden_states", true));
                String labels = call.path("inputs").path("class_labels").asText("");
                Tensor classLabels = labels.isEmpty() ? null : Tensor.of(c.source(labels).load());
                Tensor y = unet.forward(sample, timestep, lowRes, ctx, classLabels);
                out.put(Calls.outputKey(c, call, "return.sample"), y.data().castTo(DataType.FLOAT).dup('c'));
            }
        }
        return out;
    }
}
