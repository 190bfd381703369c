package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code unet_interp}: LaVie's interpolation {@code UNet3DConditionModel(**config)} (interpolation/models),
 * {@code forward(sample, timestep, encoder_hidden_states).sample}; {@code sample} already holds
 * [noisy latents ‖ conditioning latents] on channels.
 */
public final class UNetInterpRunner implements CaseRunner {
    private final DataType weights;

    /** Full-precision weights: the golden contract. */
    public UNetInterpRunner() { this(DataType.FLOAT); }

    /** Weights stored as {@code weights} (FLOAT, HALF or BFLOAT16) while every op computes in FLOAT. */
    public UNetInterpRunner(DataType weights) { this.weights = weights; }

    @Override
    public String kind() { return "unet_interp"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        UNetConfig config;
        try {
            config = UNetConfig.fromJson(c.config(), BlockVariant.INTERPOLATION).config();
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
                for (String unsupported : new String[]{"class_labels", "attention_mask"}) {
                    JsonNode v = call.path("inputs").get(unsupported);
                    if (v != null && !v.isNull())
                        throw new MalformedCaseException(c.dir(), "case.json: " + unsupported + " is not supported (LaVie's interpolation model never passes it)");
                }
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
