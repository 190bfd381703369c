package org.lavie4j.train.optim;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AdamWTest {
    private static INDArray randn(long seed, DataType type, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
        return Nd4j.randn(DataType.DOUBLE, shape).castTo(type);
    }

    @Test void followsTheTorchUpdateStepByStep() {
        // scalar recursion of torch.optim.AdamW, written out in double
        double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-3, wd = 0.1;
        double[] grads = {0.5, -2.0, 0.25, 3.0};
        Toy toy = new Toy(DataType.DOUBLE);
        AdamW opt = new AdamW(toy.namedParameters(), new AdamW.Config(lr, b1, b2, eps, wd));
        double p = toy.bias.data().getDouble(1), m = 0, v = 0;
        for (int step = 1; step <= grads.length; step++) {
            double g = grads[step - 1];
            Toy.setGrad(toy.bias, Nd4j.createFromArray(0.0, g, 0.0));
            opt.step();
            p *= 1 - lr * wd;
            m = b1 * m + (1 - b1) * g;
            v = b2 * v + (1 - b2) * g * g;
            double mHat = m / (1 - Math.pow(b1, step));
            double denom = Math.sqrt(v) / Math.sqrt(1 - Math.pow(b2, step)) + eps;
            p -= lr * mHat / denom;
            assertEquals(p, toy.bias.data().getDouble(1), 1e-15, "step " + step);
            assertEquals(step, opt.step("bias"));
        }
        // step 1 moves every element with |g| >> eps by about lr (the update is lr·g/(|g| + eps))
        assertEquals(0.0, toy.bias.data().getDouble(0) - 0.1 * Math.pow(1 - lr * wd, grads.length), 1e-15, "zero gradient: decay only");
    }

    @Test void parametersWithoutGradientAreSkippedAndBuffersAreNotOptimized() {
        Toy toy = new Toy(DataType.FLOAT);
        AdamW opt = new AdamW(toy.namedParameters(), AdamW.Config.defaults());
        assertEquals(java.util.List.of("weight", "bias", "inner.scale"), java.util.List.copyOf(opt.parameters().keySet()));
        INDArray scale = toy.inner.scale.data().dup(), bias = toy.bias.data().dup();
        Toy.setGrad(toy.bias, Nd4j.createFromArray(1f, 1f, 1f));
        opt.step();
        assertEquals(scale, toy.inner.scale.data(), "no gradient: no decay, no state");
        assertEquals(0, opt.step("inner.scale"));
        assertFalse(bias.equals(toy.bias.data()));
        assertEquals(java.util.Set.of("state.bias.step", "state.bias.exp_avg", "state.bias.exp_avg_sq"), opt.stateDict().keys());
        toy.inner.scale.setTrainable(false);
        assertFalse(new AdamW(toy.namedParameters(), AdamW.Config.defaults()).parameters().containsKey("inner.scale"));
    }

    @Test void savedStateResumesBitForBit(@TempDir Path tmp) throws Exception {
        AdamW.Config cfg = new AdamW.Config(1e-2, 0.9, 0.999, 1e-8, 1e-2);
        Toy a = new Toy(DataType.FLOAT);
        AdamW optA = new AdamW(a.namedParameters(), cfg);
        // two steps, then save the optimizer and the weights
        for (int s = 0; s < 2; s++) {
            for (Map.Entry<String, Parameter> e : a.namedParameters().entrySet())
                Toy.setGrad(e.getValue(), randn(100 + s * 10 + e.getKey().length(), DataType.FLOAT, e.getValue().shape()));
            optA.step();
        }
        Path opt = tmp.resolve("optimizer.safetensors"), weights = tmp.resolve("model.safetensors");
        SafeTensors.write(opt, optA.stateDict().asMap(), Map.of(), null);
        SafeTensors.write(weights, a.stateDict().asMap(), Map.of(), null);

        Toy b = new Toy(DataType.FLOAT);
        AdamW optB = new AdamW(b.namedParameters(), cfg);
        try (TensorFile w = SafeTensors.read(weights); TensorFile o = SafeTensors.read(opt)) {
            b.load(StateDict.of(weights.toString(), w.asMap()));
            optB.loadStateDict(StateDict.of(opt.toString(), o.asMap()));
        }
        assertEquals(2, optB.step("weight"));
        // three more steps on both with the same gradients: identical bits
        for (int s = 2; s < 5; s++) {
            for (Toy t : new Toy[]{a, b})
                for (Map.Entry<String, Parameter> e : t.namedParameters().entrySet())
                    Toy.setGrad(e.getValue(), randn(100 + s * 10 + e.getKey().length(), DataType.FLOAT, e.getValue().shape()));
            optA.step();
            optB.step();
        }
        for (String k : a.namedParameters().keySet())
            assertEquals(a.namedParameters().get(k).data(), b.namedParameters().get(k).data(), k);
        StateDict sa = optA.stateDict(), sb = optB.stateDict();
        assertEquals(sa.keys(), sb.keys());
        for (String k : sa.keys()) assertEquals(sa.get(k).load(), sb.get(k).load(), k);
    }

    @Test void badStateIsReportedAllAtOnceAndChangesNothing() {
        Toy toy = new Toy(DataType.FLOAT);
        AdamW opt = new AdamW(toy.namedParameters(), AdamW.Config.defaults());
        Toy.setGrad(toy.bias, Nd4j.createFromArray(1f, 2f, 3f));
        opt.step();
        StateDict bad = new StateDict("bad.safetensors")
                .put("state.weight.exp_avg", Nd4j.zeros(DataType.FLOAT, 4, 3))
                .put("state.weight.exp_avg_sq", Nd4j.zeros(DataType.FLOAT, 3, 4))
                .put("state.nothing.exp_avg", Nd4j.zeros(DataType.FLOAT, 1));
        var e = assertThrows(IllegalArgumentException.class, () -> opt.loadStateDict(bad));
        String m = e.getMessage();
        assertTrue(m.contains("bad.safetensors") && m.contains("unexpected key state.nothing.exp_avg") && m.contains("missing key state.weight.step")
                && m.contains("state.weight.exp_avg: parameter has shape [3, 4], state has [4, 3]"), m);
        assertEquals(1, opt.step("bias"));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Config(-1, 0.9, 0.999, 1e-8, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Config(1e-3, 1.0, 0.999, 1e-8, 0));
    }

    /**
     * The optimizer alone against torch: the train_step case's reference gradients in, its AdamW-updated parameters
     * out, with the case's tolerance for param.* (rtol 0, atol 2e-6).
     */
    @Test void reproducesTorchAdamWOnTheGoldenGradients() throws Exception {
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("train_step"))) {
            UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.fromJson(c.config("config.unet")).config());
            unet.load(c.weightsStateDict());
            LinkedHashMap<String, Parameter> params = unet.namedParameters();
            for (Map.Entry<String, Parameter> e : params.entrySet()) Toy.setGrad(e.getValue(), c.expected("grad." + e.getKey()));
            new AdamW(params, new AdamW.Config(1e-4, 0.9, 0.999, 1e-8, 1e-2)).step();
            double worst = 0;
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                INDArray diff = Transforms.abs(e.getValue().data().sub(c.expected("param." + e.getKey())));
                worst = Math.max(worst, diff.maxNumber().doubleValue());
            }
            System.out.printf("AdamW on the reference gradients: max |param - torch| = %.3e (atol 2e-6) over %d tensors%n", worst, params.size());
            assertTrue(worst <= 2e-6, "max abs error " + worst);
        }
    }
}
