package org.lavie4j.train.lora;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.nn.attention.CrossAttention;
import org.lavie4j.nn.layers.Linear;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.train.optim.AdamW;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTest {
    private static final Tensor T = Tensor.of(Nd4j.createFromArray(500L));

    private static INDArray randn(long seed, DataType type, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        Init.seed(seed);
        return Nd4j.randn(type, shape);
    }

    private static UNet3DConditionModel tinyUnet() {
        Nd4j.getRandom().setSeed(11);
        Init.seed(11);
        return new UNet3DConditionModel(UNetConfig.tiny());
    }

    private static INDArray run(UNet3DConditionModel unet) {
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(randn(1, DataType.FLOAT, 1, 4, 2, 8, 8)), T, Tensor.of(randn(2, DataType.FLOAT, 1, 5, 32))).data().dup();
        }
    }

    private static LinkedHashMap<String, INDArray> snapshot(Module m) {
        LinkedHashMap<String, INDArray> out = new LinkedHashMap<>();
        m.namedEntries().forEach((k, p) -> out.put(k, p.data().dup()));
        return out;
    }

    /** Puts seeded non-zero values into every B (A is already random), so the adapters change the output. */
    private static void randomizeB(LoraAdapters lora, long seed, double scale) {
        long s = seed;
        for (Map.Entry<String, Parameter> e : lora.namedParameters().entrySet())
            if (e.getKey().endsWith("lora_B.weight")) e.getValue().set(randn(s++, e.getValue().dtype(), e.getValue().shape()).muli(scale));
    }

    /** A module with one Linear registered as {@code to_q}. */
    private static final class Holder extends Module {
        final Linear toQ = child("to_q", new Linear(6, 5, true));
    }

    @Test void defaultTargetsAdaptEveryAttentionProjectionAndStartAsTheIdentity() {
        UNet3DConditionModel unet = tinyUnet();
        INDArray before = run(unet);
        LoraAdapters lora = Lora.apply(unet, LoraConfig.attention(4, 4), 7);
        // tiny: 4 transformer blocks (down, mid, 2 up) × 3 attentions × 4 projections
        assertEquals(48, lora.modulePaths().size(), lora.modulePaths().toString());
        assertTrue(lora.modulePaths().contains("down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.to_out.0"), lora.modulePaths().toString());
        assertTrue(lora.namedParameters().containsKey("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight"),
                lora.namedParameters().keySet().toString());
        assertEquals(before, run(unet), "B = 0: output unchanged");
        assertTrue(unet.namedParameters().values().stream().noneMatch(Parameter::isTrainable), "the UNet is frozen");
        assertEquals(96, lora.namedParameters().size(), "A and B of every adapter: what trains");
        assertFalse(unet.namedEntries().keySet().stream().anyMatch(k -> k.contains("lora")), "the adapters are not in the UNet's state");
    }

    @Test void adaptedLinearIsWxPlusBPlusScaledBAx() {
        Holder h = new Holder();
        INDArray w = h.toQ.weight().data().dup(), b = h.toQ.bias().data().dup();
        LoraAdapters lora = Lora.apply(h, new LoraConfig(3, 6, List.of("to_q")), 3);
        randomizeB(lora, 5, 1.0);
        INDArray a = lora.namedParameters().get("to_q.lora_A.weight").data(), bb = lora.namedParameters().get("to_q.lora_B.weight").data();
        assertEquals(3, a.size(0));
        assertEquals(6, a.size(1));
        INDArray x = randn(9, DataType.FLOAT, 4, 6);
        INDArray expected = x.mmul(w.transpose()).addRowVector(b).addi(x.mmul(a.transpose()).mmul(bb.transpose()).muli(2.0));
        INDArray actual = h.toQ.forward(Tensor.of(x)).data();
        assertTrue(expected.equalsWithEps(actual, 1e-5), expected + " vs " + actual);
    }

    @Test void gradientsOfAAndBMatchCentralDifferencesInDouble() {
        Nd4j.getRandom().setSeed(4);
        Init.seed(4);
        CrossAttention attn = new CrossAttention(8, 6, 2, 4, false);
        attn.to(DataType.DOUBLE);
        LoraAdapters lora = Lora.apply(attn, new LoraConfig(2, 3, List.of("to_q", "to_k", "to_v", "to_out.0")), 9);
        randomizeB(lora, 21, 0.5);
        Tensor x = Tensor.of(GradAssert.rand(1, 2, 3, 8)), ctx = Tensor.of(GradAssert.rand(2, 2, 4, 6));
        INDArray projection = GradAssert.rand(3, 2, 3, 8);
        try (Tape tape = Grad.record()) {
            tape.backward(attn.forward(x, ctx), projection);
        }
        double eps = 1e-6, worst = 0;
        Random random = new Random(1);
        int checked = 0;
        for (Map.Entry<String, Parameter> e : lora.namedParameters().entrySet()) {
            INDArray v = e.getValue().data(), g = e.getValue().grad();
            assertTrue(g != null, e.getKey() + ": no gradient");
            for (int s = 0; s < 4; s++) {
                long i = random.nextInt((int) v.length());
                double orig = v.getDouble(i);
                v.putScalar(i, orig + eps);
                double plus = loss(lora, attn, x, ctx, projection);
                v.putScalar(i, orig - eps);
                double minus = loss(lora, attn, x, ctx, projection);
                v.putScalar(i, orig);
                double numeric = (plus - minus) / (2 * eps), analytic = g.getDouble(i);
                worst = Math.max(worst, Math.abs(analytic - numeric) / Math.max(Math.abs(analytic) + Math.abs(numeric), 1e-8));
                checked++;
            }
        }
        System.out.printf("gradcheck LoRA A, B on CrossAttention: max rel error %.3g over %d entries%n", worst, checked);
        assertEquals(32, checked);
        assertTrue(worst < GradAssert.THRESHOLD, "max relative error " + worst);
        for (String p : lora.modulePaths()) assertEquals(null, ((Linear) child(attn, p)).weight().grad(), p + ": the frozen W got a gradient");
    }

    private static double loss(LoraAdapters lora, CrossAttention attn, Tensor x, Tensor ctx, INDArray projection) {
        try (Tape off = Grad.disabled()) {
            return attn.forward(x, ctx).data().mul(projection).sumNumber().doubleValue();
        }
    }

    private static Module child(Module m, String path) {
        for (String part : path.split("\\.")) m = m.children().get(part);
        return m;
    }

    @Test void adamWOnTheAdaptersMovesOnlyAAndB() {
        UNet3DConditionModel unet = tinyUnet();
        LinkedHashMap<String, INDArray> before = snapshot(unet);
        LoraAdapters lora = Lora.apply(unet, LoraConfig.attention(2, 2), 1);
        LinkedHashMap<String, INDArray> adaptersBefore = new LinkedHashMap<>();
        lora.namedParameters().forEach((k, p) -> adaptersBefore.put(k, p.data().dup()));
        AdamW opt = new AdamW(lora.namedParameters(), AdamW.Config.defaults().withLr(1e-2).withWeightDecay(0));
        assertEquals(adaptersBefore.keySet(), opt.parameters().keySet());
        INDArray out0 = run(unet);
        // dA = s·Bᵀ·G is zero while B is: step 1 moves the Bs; behind the temporal attention's zero-initialised to_out,
        // to_q/k/v see a gradient from step 2 and their A from step 3
        for (int step = 0; step < 3; step++) {
            try (Tape tape = Grad.record()) {
                Tensor pred = unet.forward(Tensor.of(randn(1, DataType.FLOAT, 1, 4, 2, 8, 8)), T, Tensor.of(randn(2, DataType.FLOAT, 1, 5, 32)));
                tape.backward(pred, randn(3, DataType.FLOAT, pred.shape()));
            }
            opt.step();
            opt.zeroGrad();
        }
        lora.namedParameters().forEach((k, p) -> assertNotEquals(adaptersBefore.get(k), p.data(), k + " did not move"));
        for (Map.Entry<String, Parameter> e : unet.namedEntries().entrySet()) {
            String module = e.getKey().substring(0, e.getKey().lastIndexOf('.'));
            if (lora.modulePaths().contains(module) && e.getKey().endsWith(".weight"))
                assertSame(e.getValue().data(), lora.baseWeight(module), "the layer computes with W itself");
            assertEquals(before.get(e.getKey()), e.getValue().data(), e.getKey() + " moved");
            assertEquals(null, e.getValue().grad(), e.getKey() + " keeps a gradient");
        }
        assertNotEquals(out0, run(unet), "the adapted model's output changed");
    }

    @Test void mergeGivesTheAdaptedOutputAndUnmergeRestoresTheBase() {
        UNet3DConditionModel unet = tinyUnet();
        LinkedHashMap<String, INDArray> before = snapshot(unet);
        LoraAdapters lora = Lora.apply(unet, LoraConfig.attention(4, 8), 2);
        randomizeB(lora, 100, 0.05);
        INDArray adapted = run(unet), base;
        lora.merge();
        assertTrue(lora.merged());
        INDArray merged = run(unet);
        assertTrue(adapted.equalsWithEps(merged, 1e-5), "max diff " + adapted.sub(merged).amaxNumber());
        assertTrue(unet.namedParameters().values().stream().noneMatch(Parameter::isTrainable), "merged model is frozen");
        String key = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight";
        assertFalse(before.get(key).equalsWithEps(unet.namedEntries().get(key).data(), 1e-7), "merged weight differs from the base");
        lora.unmerge();
        base = lora.baseWeight("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q");
        assertEquals(before.get(key), base, "unmerge restores W exactly");
        assertSame(base, unet.namedEntries().get(key).data());
        assertTrue(adapted.equalsWithEps(run(unet), 1e-5));
    }

    @Test void savedAdaptersLoadIntoAFreshModelAndGiveTheSameOutput(@TempDir Path dir) throws Exception {
        UNet3DConditionModel unet = tinyUnet();
        LinkedHashMap<String, INDArray> base = snapshot(unet);
        LoraAdapters lora = Lora.apply(unet, LoraConfig.attention(4, 2), 3);
        randomizeB(lora, 200, 0.05);
        INDArray adapted = run(unet);
        Path file = lora.save(dir.resolve("lora.safetensors"));
        try (TensorFile f = TensorFile.open(file)) {
            assertEquals(96, f.size());
            assertTrue(f.contains("up_blocks.1.attentions.1.transformer_blocks.0.attn_temp.to_v.lora_B.weight"), f.keys().toString());
            assertEquals("4", f.metadata().get("lora_rank"));
            assertEquals("2.0", f.metadata().get("lora_alpha"));
        }

        UNet3DConditionModel fresh = new UNet3DConditionModel(UNetConfig.tiny());
        StateDict sd = new StateDict("base");
        base.forEach(sd::put);
        fresh.load(sd);
        LoraAdapters loaded = Lora.apply(fresh, file);
        assertEquals(lora.config(), loaded.config());
        assertTrue(adapted.equalsWithEps(run(fresh), 1e-6));

        // rank 2 adapters cannot take rank 4 weights: the rank and every mis-shaped tensor are named
        UNet3DConditionModel other = new UNet3DConditionModel(UNetConfig.tiny());
        LoraAdapters rank2 = Lora.apply(other, LoraConfig.attention(2, 2), 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rank2.load(file));
        assertTrue(e.getMessage().contains("rank: file 4, adapters 2"), e.getMessage());
        assertTrue(e.getMessage().contains("attn1.to_q.lora_A.weight"), e.getMessage());

        // a module that has no adapter here (only attn1 adapted), and adapters missing from a file
        UNet3DConditionModel third = new UNet3DConditionModel(UNetConfig.tiny());
        LoraAdapters onlyAttn1 = Lora.apply(third, new LoraConfig(4, 2, List.of("attn1.to_q")), 3);
        e = assertThrows(IllegalArgumentException.class, () -> onlyAttn1.load(file));
        assertTrue(e.getMessage().contains("attn2.to_k.lora_A.weight"), e.getMessage());
        Map<String, INDArray> partial = new LinkedHashMap<>();
        onlyAttn1.namedParameters().forEach((k, p) -> { if (k.endsWith("lora_A.weight")) partial.put(k, p.data()); });
        Path partialFile = dir.resolve("partial.safetensors");
        SafeTensors.write(partialFile, partial, Map.of());
        e = assertThrows(IllegalArgumentException.class, () -> onlyAttn1.load(partialFile));
        assertTrue(e.getMessage().contains("lora_B.weight"), e.getMessage());

        // diffusers' pipeline-level prefix is accepted
        Map<String, INDArray> prefixed = new LinkedHashMap<>();
        onlyAttn1.namedParameters().forEach((k, p) -> prefixed.put("unet." + k, p.data().dup()));
        Path prefixedFile = dir.resolve("diffusers.safetensors");
        SafeTensors.write(prefixedFile, prefixed, Map.of());
        onlyAttn1.load(prefixedFile);
    }

    @Test void targetsThatAreNotLinearOrMatchNothingAreErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Lora.apply(tinyUnet(), new LoraConfig(2, 2, List.of("attn1")), 0));
        assertTrue(e.getMessage().contains("not Linear") && e.getMessage().contains("attn1 (CrossAttention)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Lora.apply(tinyUnet(), new LoraConfig(2, 2, List.of("to_qq")), 0));
        assertTrue(e.getMessage().contains("match no module"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LoraConfig(0, 1, List.of("to_q")));
        assertThrows(IllegalArgumentException.class, () -> new LoraConfig(2, 1, List.of()));
    }
}
