package org.lavie4j.train.grad;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model-level gradient check of the VAE ({@link VaeConfig#tiny()}: two levels, resnets, down/up sampling, mid-block
 * attention) in double precision: the encode path (posterior sample {@code mean + std ⊙ ε} for a fixed ε, so both
 * moments are covered) w.r.t. the pixels and the encoder's parameters, the decode path w.r.t. the latents and the
 * decoder's parameters; tape gradients against central differences at sampled entries, the first and last parameter
 * of each kind of layer.
 */
class VaeGradCheckTest {
    private static AutoencoderKL tinyDouble() {
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
        Nd4j.getRandom().setSeed(2026);
        Init.seed(2026);
        vae.namedParameters().forEach((k, p) -> {
            long[] s = p.shape();
            INDArray r = Nd4j.randn(DataType.DOUBLE, s);
            if (s.length >= 2) r.divi(Math.sqrt((double) p.data().length() / s[0]));
            else if (k.contains("norm") && k.endsWith(".weight")) r.muli(0.2).addi(1.0);
            else r.muli(0.2);
            p.set(r);
        });
        vae.to(DataType.DOUBLE);
        vae.train(true);
        return vae;
    }

    private static INDArray randn(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
        return Nd4j.randn(DataType.DOUBLE, shape);
    }

    private static final GradCheck.Settings INPUTS = GradCheck.Settings.defaults().withSamples(20);
    private static final GradCheck.Settings PARAMETERS = GradCheck.Settings.defaults().withSamples(2);

    private static void check(String name, GradCheck.Result r) {
        System.out.printf("gradcheck %-36s %s%n", name, r);
        assertTrue(r.checked() > 0, name + ": nothing checked");
        assertTrue(r.maxError() < GradAssert.THRESHOLD, name + ": " + r);
    }

    /** Images (1, 3, 8, 8) -> latents (1, 4, 4, 4). */
    private static final INDArray EPS = randn(9, 1, 4, 4, 4);

    @Test void inputGradients() {
        AutoencoderKL vae = tinyDouble();
        long t0 = System.nanoTime();
        check("VAE encode (pixels)", GradCheck.check(x -> vae.encode(x[0]).sample(Tensor.of(EPS)), INPUTS, randn(1, 1, 3, 8, 8)));
        check("VAE decode (latents)", GradCheck.check(x -> vae.decode(x[0]), INPUTS, randn(2, 1, 4, 4, 4)));
        System.out.printf("VAE input gradient checks: %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    @Test void encoderParameterGradientsOfEveryLayerKind() {
        AutoencoderKL vae = tinyDouble();
        Tensor x = Tensor.of(randn(3, 1, 3, 8, 8));
        checkKinds(vae, "VAE encoder", k -> k.startsWith("encoder.") || k.startsWith("quant_conv."),
                () -> vae.encode(x).sample(Tensor.of(EPS)));
    }

    @Test void decoderParameterGradientsOfEveryLayerKind() {
        AutoencoderKL vae = tinyDouble();
        Tensor z = Tensor.of(randn(4, 1, 4, 4, 4));
        checkKinds(vae, "VAE decoder", k -> k.startsWith("decoder.") || k.startsWith("post_quant_conv."), () -> vae.decode(z));
    }

    private static void checkKinds(AutoencoderKL vae, String name, java.util.function.Predicate<String> part, Supplier<Tensor> f) {
        Map<String, List<String>> byKind = new LinkedHashMap<>();
        vae.namedParameters().keySet().stream().filter(part).forEach(k -> byKind.computeIfAbsent(k.replaceAll("\\.\\d+", ""), x -> new ArrayList<>()).add(k));
        List<String> keys = new ArrayList<>();
        byKind.values().forEach(ks -> {
            keys.add(ks.get(0));
            if (ks.size() > 1) keys.add(ks.get(ks.size() - 1));
        });
        Map<String, Parameter> params = vae.namedParameters();
        // softmax is invariant to a key bias (it adds q·b_k to every score of a row): its gradient is zero, checked apart
        List<String> keyBiases = keys.stream().filter(k -> k.endsWith("key.bias") || k.endsWith("to_k.bias")).toList();
        keys.removeAll(keyBiases);
        assertTrue(keyBiases.size() == 1, name + ": " + keyBiases);
        GradCheck.Result zero = GradCheck.checkParameters(f, GradCheck.Settings.defaults().withSamples(8),
                keyBiases.stream().map(params::get).toArray(Parameter[]::new));
        System.out.printf("gradcheck %s %s (zero gradient) %s%n", name, keyBiases, zero);
        assertTrue(zero.maxAbsError() < 1e-7, keyBiases + ": " + zero);
        Parameter[] chosen = keys.stream().map(params::get).toArray(Parameter[]::new);
        long t0 = System.nanoTime();
        GradCheck.Result r = GradCheck.checkParameters(f, PARAMETERS, chosen);
        String worst = r.worst();
        int i = worst.startsWith("parameter ") ? Integer.parseInt(worst.split(" ")[1]) : -1;
        System.out.printf("gradcheck %s %d parameter tensors (%d kinds) %s [%s] in %.1f s%n", name, chosen.length, byKind.size(), r,
                i >= 0 ? keys.get(i) : "-", (System.nanoTime() - t0) / 1e9);
        assertTrue(chosen.length > 10, name + ": " + keys);
        assertTrue(r.maxError() < GradAssert.THRESHOLD, (i >= 0 ? keys.get(i) + ": " : "") + r);
    }
}
