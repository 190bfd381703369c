package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.layers.Upsample3D;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;
import java.util.Set;

/**
 * Golden kind {@code layer_upsample3d}: {@code Upsample3D(**config).forward(hidden_states, output_size)} -> the
 * call's {@code return} output; {@code output_size} null means nearest ×2, else {@code [F, H, W]} with F equal to the
 * input's frame count.
 */
public final class Upsample3dRunner implements CaseRunner {
    private static final Set<String> KEYS = Set.of("channels", "use_conv", "use_conv_transpose", "out_channels", "name");

    @Override
    public String kind() { return "layer_upsample3d"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        Calls.checkKeys(c, cfg, KEYS, "Upsample3D");
        int channels = Calls.requiredInt(c, cfg, "channels");
        if (cfg.path("use_conv_transpose").asBoolean(false))
            throw new MalformedCaseException(c.dir(), "config.use_conv_transpose is not supported (the reference raises NotImplementedError)");
        if (!cfg.path("name").asText("conv").equals("conv"))
            throw new MalformedCaseException(c.dir(), "config.name '" + cfg.get("name").asText() + "' is not supported (key conv only)");
        boolean useConv = cfg.path("use_conv").asBoolean(false);
        int out = cfg.path("out_channels").isNumber() ? cfg.get("out_channels").asInt() : channels;
        if (!useConv) out = channels;   // without a conv, out_channels is unused by the reference
        Upsample3D up = new Upsample3D(channels, out, useConv);
        if (useConv || c.hasWeights()) up.load(c.weightsStateDict());
        up.eval();

        JsonNode call = Calls.of(c, "forward").get(0);
        String y = Calls.returnKey(c, call);
        JsonNode size = call.path("inputs").path("output_size");
        try (Tape off = Grad.disabled()) {
            Tensor input = Tensor.of(Calls.input(c, call, "hidden_states", true));
            Tensor result;
            if (size.isMissingNode() || size.isNull()) {
                result = up.forward(input);
            } else {
                if (!size.isArray() || size.size() != 3 || size.get(0).asLong() != input.size(2))
                    throw new MalformedCaseException(c.dir(), "case.json: output_size must be [F, H, W] with F = " + input.size(2) + ", got " + size);
                result = up.forward(input, size.get(1).asInt(), size.get(2).asInt());
            }
            return Map.of(y, result.data().dup('c'));
        }
    }
}
