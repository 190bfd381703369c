package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.layers.ResnetBlock3D;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Golden kind {@code layer_resnet3d}: {@code ResnetBlock3D(**config).forward(input_tensor, temb)} -> the call's
 * {@code return} output. Every config key is either honoured or rejected.
 */
public final class Resnet3dRunner implements CaseRunner {
    private static final Set<String> KEYS = Set.of("in_channels", "out_channels", "conv_shortcut", "dropout", "temb_channels",
            "groups", "groups_out", "pre_norm", "eps", "non_linearity", "time_embedding_norm", "output_scale_factor", "use_in_shortcut");

    @Override
    public String kind() { return "layer_resnet3d"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        ResnetBlock3D block = new ResnetBlock3D(config(c, c.config()));
        block.load(c.weightsStateDict());
        block.eval();
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : Calls.of(c, "forward")) {
                Tensor x = Tensor.of(Calls.input(c, call, "input_tensor", true));
                INDArray temb = Calls.input(c, call, "temb", false);
                Tensor y = block.forward(x, temb == null ? null : Tensor.of(temb));
                out.put(Calls.returnKey(c, call), y.data().dup('c'));
            }
        }
        return out;
    }

    /** Maps the reference's keyword arguments (diffusers defaults for absent keys) to the block's config. */
    static ResnetBlock3D.Config config(GoldenCase c, JsonNode cfg) throws MalformedCaseException {
        Calls.checkKeys(c, cfg, KEYS, "ResnetBlock3D");
        int in = Calls.requiredInt(c, cfg, "in_channels");
        int out = cfg.path("out_channels").isNumber() ? cfg.get("out_channels").asInt() : in;
        int temb = cfg.has("temb_channels") ? (cfg.get("temb_channels").isNull() ? 0 : cfg.get("temb_channels").asInt()) : 512;
        int groups = cfg.path("groups").asInt(32);
        int groupsOut = cfg.path("groups_out").isNumber() ? cfg.get("groups_out").asInt() : groups;
        double eps = cfg.path("eps").asDouble(1e-6);
        double dropout = cfg.path("dropout").asDouble(0.0);
        if (dropout != 0.0) throw new MalformedCaseException(c.dir(), "config.dropout " + dropout + " is not supported (LaVie uses 0)");
        String act = cfg.path("non_linearity").asText("swish");
        if (!act.equals("swish") && !act.equals("silu"))
            throw new MalformedCaseException(c.dir(), "config.non_linearity '" + act + "' is not supported (swish, silu)");
        // pre_norm (forced to True by the reference) and conv_shortcut (stored, never read) do not change the computation
        ResnetBlock3D.TimeEmbeddingNorm norm = ResnetBlock3D.TimeEmbeddingNorm.parse(cfg.path("time_embedding_norm").asText("default"));
        double scale = cfg.path("output_scale_factor").asDouble(1.0);
        boolean shortcut = cfg.path("use_in_shortcut").isBoolean() ? cfg.get("use_in_shortcut").asBoolean() : in != out;
        return new ResnetBlock3D.Config(in, out, temb, groups, groupsOut, eps, norm, scale, shortcut);
    }
}
