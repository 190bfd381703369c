package org.lavie4j.train.grad;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model-level gradient check of LaVie's base UNet in double precision: tape gradients against central differences
 * at sampled entries of the input, the text states and the parameters of every kind of layer (the first and the
 * last tensor of each kind, so down, mid and up paths are covered), on a tiny random model.
 */
class UNetGradCheckTest {
    /** Two levels of 32 channels (RoPE needs a head of at least 32), one head, 8 groups, text width 16. */
    private static UNet3DConditionModel tinyDouble() {
        UNetConfig t = UNetConfig.tiny();
        UNetConfig config = new UNetConfig(4, 4, List.of(32, 32), t.downBlockTypes(), t.upBlockTypes(), 1, 16, List.of(1, 1),
                8, 1e-5, true, 0, 1, 1.0, false, false);
        UNet3DConditionModel unet = new UNet3DConditionModel(config);
        // seeded weights on every parameter (no zero-initialised layer), scaled so activations stay O(1)
        Nd4j.getRandom().setSeed(2024);
        Init.seed(2024);
        unet.namedParameters().forEach((k, p) -> {
            long[] s = p.shape();
            INDArray r = Nd4j.randn(DataType.DOUBLE, s);
            if (s.length >= 2) r.divi(Math.sqrt((double) p.data().length() / s[0]));
            else if (k.contains("norm") && k.endsWith(".weight")) r.muli(0.2).addi(1.0);
            else r.muli(0.2);
            p.set(r);
        });
        unet.to(DataType.DOUBLE);
        unet.train(true);
        return unet;
    }

    private static INDArray randn(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
        return Nd4j.randn(DataType.DOUBLE, shape);
    }

    private static final Tensor T = Tensor.of(Nd4j.createFromArray(500L));

    /** A forward in double costs ~0.1 s on the 2-core build machines: few entries per tensor keep the test short. */
    private static final GradCheck.Settings INPUTS = GradCheck.Settings.defaults().withSamples(10);
    private static final GradCheck.Settings PARAMETERS = GradCheck.Settings.defaults().withSamples(1);

    private static void check(String name, GradCheck.Result r) {
        System.out.printf("gradcheck %-32s %s%n", name, r);
        assertTrue(r.checked() > 0, name + ": nothing checked");
        assertTrue(r.maxError() < GradAssert.THRESHOLD, name + ": " + r);
    }

    @Test void inputAndTextGradients() {
        UNet3DConditionModel unet = tinyDouble();
        long t0 = System.nanoTime();
        check("UNet (sample, context)", GradCheck.check(x -> unet.forward(x[0], T, x[1]), INPUTS,
                randn(1, 1, 4, 3, 4, 4), randn(2, 1, 5, 16)));
        // joint layout: 2 video frames + 1 image with its own caption
        check("UNet joint 2+1 (sample, context)", GradCheck.check(x -> unet.forward(x[0], T, x[1], new FrameLayout(2, 1)), INPUTS,
                randn(3, 1, 4, 3, 4, 4), randn(4, 1, 2, 5, 16)));
        System.out.printf("UNet input gradient checks: %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    @Test void parameterGradientsOfEveryLayerKind() {
        UNet3DConditionModel unet = tinyDouble();
        // the first and last parameter of each kind (key without indices and block prefix)
        Map<String, List<String>> byKind = new LinkedHashMap<>();
        unet.namedParameters().keySet().forEach(k -> byKind.computeIfAbsent(
                k.replaceAll("\\.\\d+", "").replaceFirst("^(down_blocks|up_blocks|mid_block)\\.", ""), x -> new ArrayList<>()).add(k));
        List<String> keys = new ArrayList<>();
        byKind.values().forEach(ks -> {
            keys.add(ks.get(0));
            if (ks.size() > 1) keys.add(ks.get(ks.size() - 1));
        });
        Map<String, Parameter> params = unet.namedParameters();
        Parameter[] chosen = keys.stream().map(params::get).toArray(Parameter[]::new);
        INDArray x = randn(5, 1, 4, 3, 4, 4), ctx = randn(6, 1, 5, 16);
        long t0 = System.nanoTime();
        GradCheck.Result r = GradCheck.checkParameters(() -> unet.forward(Tensor.of(x), T, Tensor.of(ctx)), PARAMETERS, chosen);
        String worst = r.worst();
        int i = worst.startsWith("parameter ") ? Integer.parseInt(worst.split(" ")[1]) : -1;
        System.out.printf("gradcheck UNet %d of %d parameter tensors (%d kinds) %s [%s] in %.1f s%n", chosen.length, params.size(),
                byKind.size(), r, i >= 0 ? keys.get(i) : "-", (System.nanoTime() - t0) / 1e9);
        assertTrue(r.maxError() < GradAssert.THRESHOLD, (i >= 0 ? keys.get(i) + ": " : "") + r);
    }
}
