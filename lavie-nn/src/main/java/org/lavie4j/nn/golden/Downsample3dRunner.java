package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.layers.Downsample3D;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;
import java.util.Set;

/**
 * Golden kind {@code layer_downsample3d}: {@code Downsample3D(**config).forward(hidden_states)} -> the call's
 * {@code return} output. The reference's default {@code name="conv"} registers the conv also as {@code Conv2d_0}.
 */
public final class Downsample3dRunner implements CaseRunner {
    private static final Set<String> KEYS = Set.of("channels", "use_conv", "out_channels", "padding", "name");

    @Override
    public String kind() { return "layer_downsample3d"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        Calls.checkKeys(c, cfg, KEYS, "Downsample3D");
        int channels = Calls.requiredInt(c, cfg, "channels");
        if (!cfg.path("use_conv").asBoolean(false))
            throw new MalformedCaseException(c.dir(), "config.use_conv false is not supported (the reference raises NotImplementedError)");
        int out = cfg.path("out_channels").isNumber() ? cfg.get("out_channels").asInt() : channels;
        // name "conv" (default): the conv is registered as both Conv2d_0 and conv; any other name: conv only
        boolean alias = cfg.path("name").asText("conv").equals("conv");
        Downsample3D down = new Downsample3D(channels, out, cfg.path("padding").asInt(1), alias);
        down.load(c.weightsStateDict());
        down.eval();
        JsonNode call = Calls.of(c, "forward").get(0);
        String y = Calls.returnKey(c, call);
        try (Tape off = Grad.disabled()) {
            Tensor result = down.forward(Tensor.of(Calls.input(c, call, "hidden_states", true)));
            return Map.of(y, result.data().dup('c'));
        }
    }
}
