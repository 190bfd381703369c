package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.layers.InflatedConv3d;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/** Golden kind {@code layer_inflated_conv}: {@code InflatedConv3d(**config).forward(x=in.x)} -> {@code out.y}. */
public final class InflatedConvRunner implements CaseRunner {
    @Override
    public String kind() { return "layer_inflated_conv"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        InflatedConv3d conv = new InflatedConv3d(
                required(c, cfg, "in_channels"), required(c, cfg, "out_channels"), required(c, cfg, "kernel_size"),
                cfg.path("stride").asInt(1), cfg.path("padding").asInt(0));
        conv.load(c.weightsStateDict());
        conv.eval();
        try (Tape off = Grad.disabled()) {
            Tensor y = conv.forward(Tensor.of(c.input("x", DataType.FLOAT)));
            return Map.of("out.y", y.data().dup('c'));
        }
    }

    private static int required(GoldenCase c, JsonNode cfg, String key) throws MalformedCaseException {
        JsonNode v = cfg.get(key);
        if (v == null || !v.canConvertToInt())
            throw new MalformedCaseException(c.dir(), "case.json: config." + key + " missing or not an integer");
        return v.asInt();
    }
}
