package org.lavie4j.train.grad;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model-level gradient check of the CLIP text encoder in double precision: its input is token ids, so the check is
 * w.r.t. parameters: both embedding tables, and the first and last parameter of every other kind of layer (attention
 * projections, LayerNorms, MLP, final LayerNorm), tape gradients against central differences at sampled entries.
 */
class CLIPTextGradCheckTest {
    /** 12 tokens, 6 positions, 2 layers of width 32 with 4 heads; the ids of one batch use every token and position. */
    private static final CLIPTextConfig CONFIG = new CLIPTextConfig(12, 32, 37, 2, 4, 6, CLIPTextConfig.Activation.QUICK_GELU, 1e-5);

    private static CLIPTextModel tinyDouble() {
        CLIPTextModel clip = new CLIPTextModel(CONFIG);
        Nd4j.getRandom().setSeed(2025);
        Init.seed(2025);
        clip.namedParameters().forEach((k, p) -> {
            long[] s = p.shape();
            INDArray r = Nd4j.randn(DataType.DOUBLE, s);
            if (k.contains("embedding")) r.muli(0.5);
            else if (s.length >= 2) r.divi(Math.sqrt((double) p.data().length() / s[0]));
            else if (k.contains("norm") && k.endsWith(".weight")) r.muli(0.2).addi(1.0);
            else r.muli(0.2);
            p.set(r);
        });
        clip.to(DataType.DOUBLE);
        clip.train(true);
        return clip;
    }

    /** (2, 6): a permutation of the 12 tokens, so every row of the token table has a gradient. */
    private static final INDArray IDS = Nd4j.createFromArray(new long[][]{{0, 7, 3, 11, 5, 9}, {4, 1, 10, 2, 8, 6}});

    @Test void parameterGradientsOfEveryLayerKind() {
        CLIPTextModel clip = tinyDouble();
        Map<String, List<String>> byKind = new LinkedHashMap<>();
        clip.namedParameters().keySet().forEach(k -> byKind.computeIfAbsent(k.replaceAll("\\.\\d+", ""), x -> new ArrayList<>()).add(k));
        List<String> keys = new ArrayList<>();
        byKind.values().forEach(ks -> {
            keys.add(ks.get(0));
            if (ks.size() > 1) keys.add(ks.get(ks.size() - 1));
        });
        Map<String, Parameter> params = clip.namedParameters();
        assertTrue(keys.contains("text_model.embeddings.token_embedding.weight"), keys.toString());
        assertTrue(keys.contains("text_model.embeddings.position_embedding.weight"), keys.toString());
        // softmax is invariant to a key bias (it adds q·b_k to every score of a row): its gradient is zero, checked apart
        List<String> keyBiases = keys.stream().filter(k -> k.endsWith("k_proj.bias")).toList();
        keys.removeAll(keyBiases);
        assertEquals(2, keyBiases.size(), keyBiases.toString());
        GradCheck.Result zero = GradCheck.checkParameters(() -> clip.forward(Tensor.of(IDS)), GradCheck.Settings.defaults().withSamples(8),
                keyBiases.stream().map(params::get).toArray(Parameter[]::new));
        System.out.printf("gradcheck CLIP k_proj.bias (zero gradient) %s%n", zero);
        assertTrue(zero.maxAbsError() < 1e-7, "k_proj.bias: " + zero);
        Parameter[] chosen = keys.stream().map(params::get).toArray(Parameter[]::new);
        long t0 = System.nanoTime();
        GradCheck.Result r = GradCheck.checkParameters(() -> clip.forward(Tensor.of(IDS)), GradCheck.Settings.defaults().withSamples(8), chosen);
        String worst = r.worst();
        int i = worst.startsWith("parameter ") ? Integer.parseInt(worst.split(" ")[1]) : -1;
        System.out.printf("gradcheck CLIP %d of %d parameter tensors (%d kinds) %s [%s] in %.1f s%n", chosen.length, params.size(),
                byKind.size(), r, i >= 0 ? keys.get(i) : "-", (System.nanoTime() - t0) / 1e9);
        assertEquals(8 * chosen.length, r.checked());
        assertTrue(r.maxError() < GradAssert.THRESHOLD, (i >= 0 ? keys.get(i) + ": " : "") + r);
    }

    /** Every entry of both embedding tables: rows of unused tokens would pass trivially, so the batch uses all. */
    @Test void embeddingTablesInFull() {
        CLIPTextModel clip = tinyDouble();
        Map<String, Parameter> params = clip.namedParameters();
        Parameter tok = params.get("text_model.embeddings.token_embedding.weight"), pos = params.get("text_model.embeddings.position_embedding.weight");
        GradCheck.Result r = GradCheck.checkParameters(() -> clip.forward(Tensor.of(IDS)), GradCheck.Settings.defaults().withSamples(0), tok, pos);
        System.out.printf("gradcheck CLIP embeddings (all entries) %s%n", r);
        assertEquals((12 + 6) * 32, r.checked());
        assertTrue(r.maxError() < GradAssert.THRESHOLD, r.toString());
    }
}
