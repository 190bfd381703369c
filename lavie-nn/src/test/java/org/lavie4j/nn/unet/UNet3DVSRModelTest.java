package org.lavie4j.nn.unet;

import org.lavie4j.core.TestSeeds;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.attention.CrossAttention;
import org.lavie4j.nn.attention.TemporalAttention;
import org.lavie4j.nn.attention.VsrTransformer3DModel;
import org.lavie4j.nn.attention.VsrTransformerBlock;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link UNet3DVSRModel} and {@link VsrConfig} (vsr-unet.md §1–2, §9). */
class UNet3DVSRModelTest {
    private final ObjectMapper json = new ObjectMapper();

    private static INDArray run(UNet3DVSRModel unet, INDArray x, INDArray t, INDArray lowRes, INDArray ctx, INDArray labels) {
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(x), Tensor.of(t), Tensor.of(lowRes), Tensor.of(ctx), labels == null ? null : Tensor.of(labels)).data().dup();
        }
    }

    private static INDArray run(UNet3DVSRModel unet, INDArray x, INDArray lowRes, INDArray ctx) {
        return run(unet, x, Nd4j.createFromArray(667L), lowRes, ctx, Nd4j.createFromArray(50L));
    }

    private static INDArray rand(long seed, long... shape) {
        TestSeeds.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    @Test void lavieVsrHasExactlyTheKeysAndShapesOfTheRealCheckpoint() {
        TestSeeds.seed(1);
        UNet3DVSRModel unet = new UNet3DVSRModel(VsrConfig.lavieVsr());
        Manifest.assertMatches("lavie_vsr_unet", unet.stateDict());
        assertEquals(1158, unet.stateDict().size());
        assertEquals(17, unet.stateDict().keys().stream().filter(k -> k.endsWith("rotary_emb.freqs")).count(), "UNet + 16 attention copies");
    }

    @Test void realConfigParsesToLavieVsr() throws Exception {
        var parsed = VsrConfig.fromJson(json.readTree(TestData.reference().resolve("configs/lavie_vsr_unet.json").toFile()));
        assertEquals(VsrConfig.lavieVsr(), parsed.config());
        assertTrue(parsed.ignoredKeys().containsAll(List.of("sample_size", "freeze_pretrained_2d_upsampler", "temporal_module_config.use_deformable_conv")),
                parsed.ignoredKeys().toString());
        assertEquals(1024, VsrConfig.lavieVsr().timeEmbedDim());
        assertEquals(List.of(false, true, true, true), List.of(VsrConfig.lavieVsr().upOnlyCrossAttention(0), VsrConfig.lavieVsr().upOnlyCrossAttention(1),
                VsrConfig.lavieVsr().upOnlyCrossAttention(2), VsrConfig.lavieVsr().upOnlyCrossAttention(3)));
    }

    @Test void goldenCaseConfigParsesToTinyWithItsCrossOnlyBlocks() throws Exception {
        JsonNode c = json.readTree(VsrGolden.CASE.resolve("case.json").toFile());
        assertEquals(VsrConfig.tiny(), VsrConfig.fromJson(c.get("config")).config());
        UNet3DVSRModel unet = new UNet3DVSRModel(VsrConfig.tiny());
        List<String> cross = new ArrayList<>(), self = new ArrayList<>();
        collectTransformers(unet, "", cross, self);
        List<String> wantCross = new ArrayList<>(), wantSelf = new ArrayList<>();
        c.get("cross_only_transformer_blocks").forEach(n -> wantCross.add(n.asText().replace(".transformer_blocks.0", "")));
        c.get("self_attention_transformer_blocks").forEach(n -> wantSelf.add(n.asText().replace(".transformer_blocks.0", "")));
        assertEquals(wantCross, cross);
        assertEquals(wantSelf.stream().sorted().toList(), self.stream().sorted().toList());
    }

    private static void collectTransformers(Module m, String path, List<String> cross, List<String> self) {
        if (m instanceof VsrTransformer3DModel t) {
            (t.block().onlyCrossAttention() ? cross : self).add(path);
            assertEquals(t.block().onlyCrossAttention() ? 48 : 32, t.block().attn1().contextDim(), path);
            return;
        }
        m.children().forEach((name, child) -> collectTransformers(child, path.isEmpty() ? name : path + "." + name, cross, self));
    }

    @Test void goldenTinyMatchesTheReference() {
        UNet3DVSRModel unet = VsrGolden.model();
        INDArray y = run(unet, VsrGolden.io("in.sample"), VsrGolden.io("in.timestep"), VsrGolden.io("in.low_res"),
                VsrGolden.io("in.encoder_hidden_states"), VsrGolden.io("in.class_labels"));
        INDArray expected = VsrGolden.io("out.sample");
        INDArray err = y.sub(expected), bound = Nd4j.math().abs(expected).muli(1e-4).addi(VsrGolden.ATOL);   // the case's rtol / atol
        System.out.printf("unet_vsr direct: max abs err %.3e%n", err.amaxNumber().doubleValue());
        assertTrue(Nd4j.math().abs(err).subi(bound).maxNumber().doubleValue() <= 0, "outside rtol 1e-4, atol 3.5e-5");
    }

    @Test void frameSlicesChangeMemoryNotResults() {
        // double precision: only summation order differs; batch 2 (per-sample statistics), 3 frames (a short last slice)
        INDArray x = rand(12, 2, 4, 3, 8, 8).castTo(DataType.DOUBLE), lowRes = rand(13, 2, 3, 3, 8, 8).castTo(DataType.DOUBLE),
                ctx = rand(14, 2, 77, 48).castTo(DataType.DOUBLE);
        UNet3DVSRModel unet = VsrGolden.model();
        unet.to(DataType.DOUBLE);
        assertEquals(0, unet.sliceFrames());
        INDArray whole = run(unet, x, lowRes, ctx);
        for (int slice : new int[]{1, 2}) {
            INDArray sliced = run(unet.sliceFrames(slice), x, lowRes, ctx);
            double diff = whole.sub(sliced).amaxNumber().doubleValue(), scale = whole.amaxNumber().doubleValue();
            System.out.printf("frame slices of %d: max abs diff %.3e (output max %.3e)%n", slice, diff, scale);
            assertTrue(diff <= 1e-12 * scale, "slices of " + slice + " changed the output by " + diff);
        }
        assertThrows(IllegalArgumentException.class, () -> unet.sliceFrames(-1));
    }

    @Test void goldenTinyMatchesTheReferenceInFrameSlices() {
        UNet3DVSRModel unet = VsrGolden.model().sliceFrames(1);
        INDArray y = run(unet, VsrGolden.io("in.sample"), VsrGolden.io("in.timestep"), VsrGolden.io("in.low_res"),
                VsrGolden.io("in.encoder_hidden_states"), VsrGolden.io("in.class_labels"));
        INDArray expected = VsrGolden.io("out.sample");
        INDArray err = y.sub(expected), bound = Nd4j.math().abs(expected).muli(1e-4).addi(VsrGolden.ATOL);
        System.out.printf("unet_vsr in frame slices: max abs err %.3e%n", err.amaxNumber().doubleValue());
        assertTrue(Nd4j.math().abs(err).subi(bound).maxNumber().doubleValue() <= 0, "outside rtol 1e-4, atol 3.5e-5");
    }

    @Test void memoryBudgetsReachEveryLayerAndChangeMemoryNotResults() {
        // in double precision, so that only the blocking of the score products could differ (float32 GEMMs of other
        // shapes round differently, amplified through the network to ~1e-6 of the output)
        INDArray x = rand(2, 1, 4, 3, 8, 8).castTo(DataType.DOUBLE), lowRes = rand(3, 1, 3, 3, 8, 8).castTo(DataType.DOUBLE),
                ctx = rand(4, 1, 77, 48).castTo(DataType.DOUBLE);
        UNet3DVSRModel unet = VsrGolden.model();
        unet.to(DataType.DOUBLE);
        INDArray whole = run(unet, x, lowRes, ctx);
        unet.maxScoreBytes(1024).maxFeedForwardBytes(4096);                              // one or a few rows per block
        List<Long> budgets = new ArrayList<>();
        collectBudgets(unet, budgets);
        assertEquals(3 * 7 + 7, budgets.size(), "attn1, attn2 and attn_temporal of 7 transformers, and their feed-forwards");
        assertEquals(3 * 7, budgets.stream().filter(b -> b == 1024).count(), budgets.toString());
        assertEquals(7, budgets.stream().filter(b -> b == 4096).count(), budgets.toString());
        INDArray chunked = run(unet, x, lowRes, ctx);
        double diff = whole.sub(chunked).amaxNumber().doubleValue(), scale = whole.amaxNumber().doubleValue();
        System.out.printf("attention / feed-forward budgets: max abs diff %.3e (output max %.3e)%n", diff, scale);
        assertTrue(diff <= 1e-12 * scale, "chunking changed the output by " + diff);
        assertThrows(IllegalArgumentException.class, () -> unet.maxScoreBytes(0));
        assertThrows(IllegalArgumentException.class, () -> unet.maxFeedForwardBytes(-1));
    }

    private static void collectBudgets(Module m, List<Long> out) {
        if (m instanceof CrossAttention a) out.add(a.maxScoreBytes());
        if (m instanceof TemporalAttention a) out.add(a.maxScoreBytes());
        if (m instanceof VsrTransformerBlock b) out.add(b.maxFeedForwardBytes());
        if (m instanceof TemporalAttention) return;   // its shared rotary module holds no attention
        m.children().values().forEach(c -> collectBudgets(c, out));
    }

    @Test void samplesOfABatchAreIndependent() {
        UNet3DVSRModel unet = VsrGolden.model();
        INDArray x = rand(5, 2, 4, 3, 8, 8), lowRes = rand(6, 2, 3, 3, 8, 8), ctx = rand(7, 2, 77, 48);
        INDArray t = Nd4j.createFromArray(981L, 21L), labels = Nd4j.createFromArray(50L, 20L);
        INDArray both = run(unet, x, t, lowRes, ctx, labels);
        for (int b = 0; b < 2; b++) {
            var i = NDArrayIndex.interval(b, b + 1);
            INDArray one = run(unet, x.get(i).dup(), t.get(i).dup(), lowRes.get(i).dup(), ctx.get(i).dup(), labels.get(i).dup());
            assertTrue(one.equalsWithEps(both.get(i), 1e-5), "sample " + b);
        }
        // one timestep and one label are broadcast to the batch
        INDArray same = run(unet, x, Nd4j.createFromArray(981L, 981L), lowRes, ctx, Nd4j.createFromArray(50L, 50L));
        assertEquals(same, run(unet, x, Nd4j.createFromArray(981L), lowRes, ctx, Nd4j.createFromArray(50L)));
    }

    @Test void noiseLevelAndLowResInputMatterAndAreChecked() {
        UNet3DVSRModel unet = VsrGolden.model();
        INDArray x = rand(8, 1, 4, 2, 8, 8), lowRes = rand(9, 1, 3, 2, 8, 8), ctx = rand(10, 1, 77, 48), t = Nd4j.createFromArray(500L);
        INDArray y = run(unet, x, t, lowRes, ctx, Nd4j.createFromArray(50L));
        assertArrayEquals(new long[]{1, 4, 2, 8, 8}, y.shape());
        assertFalse(y.equalsWithEps(run(unet, x, t, lowRes, ctx, Nd4j.createFromArray(20L)), 1e-4), "the noise level is a condition");
        assertFalse(y.equalsWithEps(run(unet, x, t, rand(11, 1, 3, 2, 8, 8), ctx, Nd4j.createFromArray(50L)), 1e-4), "so is the low-res video");
        var e = assertThrows(IllegalArgumentException.class, () -> run(unet, x, t, lowRes, ctx, Nd4j.createFromArray(351L)));
        assertTrue(e.getMessage().contains("350") && e.getMessage().contains("351"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, x, t, lowRes, ctx, null));
        assertTrue(e.getMessage().contains("class_labels"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, x, t, lowRes, ctx, Nd4j.createFromArray(50.5f)));
        assertTrue(e.getMessage().contains("integers"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, x, t, rand(12, 1, 4, 2, 8, 8), ctx, Nd4j.createFromArray(50L)));
        assertTrue(e.getMessage().contains("7 channels") && e.getMessage().contains("[1, 4, 2, 8, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, x, t, rand(13, 1, 3, 2, 4, 4), ctx, Nd4j.createFromArray(50L)));
        assertTrue(e.getMessage().contains("low_res [1, 3, 2, 4, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(14, 1, 4, 2, 6, 8), t, rand(15, 1, 3, 2, 6, 8), ctx, Nd4j.createFromArray(50L)));
        assertTrue(e.getMessage().contains("divisible by 4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, x, t, lowRes, rand(16, 1, 77, 32), Nd4j.createFromArray(50L)));
        assertTrue(e.getMessage().contains("[1, 77, 32]"), e.getMessage());
    }

    @Test void temporalModulesFollowTheConfiguredLevelsOnly() {
        VsrConfig t = VsrConfig.tiny();
        VsrConfig some = new VsrConfig(t.inChannels(), t.outChannels(), t.blockOutChannels(), t.downBlockTypes(), t.upBlockTypes(),
                t.onlyCrossAttention(), t.layersPerBlock(), t.crossAttentionDim(), t.attentionHeadDim(), t.normNumGroups(), t.normEps(),
                t.flipSinToCos(), t.freqShift(), t.downsamplePadding(), t.midBlockScaleFactor(), t.centerInputSample(), 0, t.maxNoiseLevel(),
                List.of(1), false, List.of(0, 2));
        UNet3DVSRModel unet = new UNet3DVSRModel(some);
        var keys = unet.stateDict().keys();
        assertTrue(keys.stream().anyMatch(k -> k.startsWith("down_temporal_blocks.1.")));
        assertFalse(keys.stream().anyMatch(k -> k.startsWith("down_temporal_blocks.0.") || k.startsWith("down_temporal_blocks.2.")
                || k.startsWith("mid_temporal_block.") || k.startsWith("up_temporal_blocks.1.") || k.startsWith("class_embedding")));
        unet.eval();
        INDArray y = run(unet, rand(17, 1, 4, 2, 8, 8), Nd4j.createFromArray(10L), rand(18, 1, 3, 2, 8, 8), rand(19, 1, 77, 48), null);
        assertArrayEquals(new long[]{1, 4, 2, 8, 8}, y.shape());
    }

    @Test void configErrorsAreNamed() throws Exception {
        for (String bad : List.of("{\"video_condition\": true}", "{\"use_linear_projection\": false}", "{\"class_embed_type\": \"timestep\"}",
                "{\"temporal_module_config\": {\"attention_block_types\": [\"Temporal_Self\", \"\"]}}",
                "{\"temporal_module_config\": {\"attention_block_types\": [\"\", \"\"], \"use_scale_shift\": true}}",
                "{\"down_temporal_idx\": [0, 4]}", "{\"only_cross_attention\": [true, false]}", "{\"block_out_channels\": [256, 512, 520, 1024]}")) {
            var e = assertThrows(IllegalArgumentException.class, () -> VsrConfig.fromJson(json.readTree(bad)), bad);
            System.out.println(bad + " -> " + e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> VsrConfig.fromJson(json.readTree("{\"video_condition\": true}")));
        assertTrue(e.getMessage().contains("video_condition"), e.getMessage());
        assertEquals(VsrConfig.lavieVsr(), VsrConfig.fromJson(json.readTree("{}")).config());
        assertEquals(0, VsrConfig.fromJson(json.readTree("{\"num_class_embeds\": null}")).config().numClassEmbeds());
    }
}
