package org.lavie4j.nn.unet;

import org.lavie4j.core.TestSeeds;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.attention.FrameLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The interpolation variant of {@link UNet3DConditionModel} and its config (interpolation-unet.md §1). */
class InterpolationUNetTest {
    private final ObjectMapper json = new ObjectMapper();

    /** The tiny model with the unet_interp golden weights. */
    static UNet3DConditionModel goldenTiny() throws IOException {
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.tinyInterpolation());
        try (TensorFile w = SafeTensors.read(TestData.goldenCase("unet_interp").resolve("weights.safetensors"))) {
            unet.load(StateDict.of(w.path().toString(), w.asMap()));
        }
        unet.eval();
        return unet;
    }

    static INDArray run(UNet3DConditionModel unet, INDArray x, INDArray ctx) {
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(500L)), Tensor.of(ctx)).data().dup();
        }
    }

    private static INDArray rand(long seed, long... shape) {
        TestSeeds.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    @Test void lavieInterpolationHasExactlyTheKeysAndShapesOfTheRealCheckpoint() {
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.lavieInterpolation());
        Manifest.assertMatches("lavie_interpolation_unet", unet.stateDict());
        assertEquals(798, unet.stateDict().size());
        assertNull(unet.rotary(), "no RoPE module in the interpolation variant");
        assertFalse(unet.stateDict().keys().stream().anyMatch(k -> k.contains("rotary_emb") || k.contains("time_rel_pos_bias")));
    }

    @Test void realConfigParsesToLavieInterpolationButForUseFirstFrame() throws Exception {
        // the shipped config.json says use_first_frame=false; from_pretrained_2d forces it to true before building
        var parsed = UNetConfig.fromJson(json.readTree(TestData.reference().resolve("configs/lavie_interpolation_unet.json").toFile()),
                BlockVariant.INTERPOLATION);
        UNetConfig c = parsed.config(), want = UNetConfig.lavieInterpolation();
        assertFalse(c.useFirstFrame());
        assertEquals(want, new UNetConfig(c.inChannels(), c.outChannels(), c.blockOutChannels(), c.downBlockTypes(), c.upBlockTypes(),
                c.layersPerBlock(), c.crossAttentionDim(), c.attentionHeadDim(), c.normNumGroups(), c.normEps(), c.flipSinToCos(),
                c.freqShift(), c.downsamplePadding(), c.midBlockScaleFactor(), c.centerInputSample(), true, c.variant(), 0));
        assertEquals(List.of("sample_size"), parsed.ignoredKeys());
        // the same key set either way: use_first_frame changes attn1's forward, not its parameters
        UNetConfig t = UNetConfig.tinyInterpolation();
        UNetConfig dense = new UNetConfig(t.inChannels(), t.outChannels(), t.blockOutChannels(), t.downBlockTypes(), t.upBlockTypes(),
                t.layersPerBlock(), t.crossAttentionDim(), t.attentionHeadDim(), t.normNumGroups(), t.normEps(), t.flipSinToCos(),
                t.freqShift(), t.downsamplePadding(), t.midBlockScaleFactor(), t.centerInputSample(), false, t.variant(), 0);
        assertEquals(new UNet3DConditionModel(t).stateDict().keys(), new UNet3DConditionModel(dense).stateDict().keys());
    }

    @Test void goldenCaseConfigParsesToTinyInterpolation() throws Exception {
        var parsed = UNetConfig.fromJson(json.readTree(TestData.goldenCase("unet_interp").resolve("case.json").toFile()).get("config"),
                BlockVariant.INTERPOLATION);
        assertEquals(UNetConfig.tinyInterpolation(), parsed.config());
        assertEquals(List.of("sample_size", "use_relative_position"), parsed.ignoredKeys());
    }

    @Test void configErrorsAreNamed() throws Exception {
        var e = assertThrows(IllegalArgumentException.class,
                () -> UNetConfig.fromJson(json.readTree("{\"use_relative_position\": true}"), BlockVariant.INTERPOLATION));
        assertTrue(e.getMessage().contains("use_relative_position"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(json.readTree("{\"use_first_frame\": true}")));
        assertTrue(e.getMessage().contains("use_first_frame") && e.getMessage().contains("BASE"), e.getMessage());
        assertEquals(BlockVariant.BASE, UNetConfig.fromJson(json.readTree("{}")).config().variant());
        assertEquals(8, UNetConfig.fromJson(json.readTree("{}"), BlockVariant.INTERPOLATION).config().inChannels());
    }

    @Test void inputIsNoisyAndConditioningLatentsOnChannels() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        INDArray x = rand(1, 1, 8, 3, 8, 8), ctx = rand(2, 1, 77, 32);
        INDArray y = run(unet, x, ctx);
        assertArrayEquals(new long[]{1, 4, 3, 8, 8}, y.shape());
        // the conditioning half matters
        INDArray x2 = x.dup();
        x2.get(NDArrayIndex.all(), NDArrayIndex.interval(4, 8)).assign(rand(3, 1, 4, 3, 8, 8));
        assertFalse(y.equalsWithEps(run(unet, x2, ctx), 1e-4));
        var e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(4, 1, 4, 3, 8, 8), ctx));
        assertTrue(e.getMessage().contains("(B, 8, F, H, W)") && e.getMessage().contains("[1, 4, 3, 8, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> {
            try (Tape off = Grad.disabled()) {
                unet.forward(Tensor.of(rand(5, 1, 8, 4, 8, 8)), Tensor.of(Nd4j.createFromArray(1L)), Tensor.of(rand(6, 1, 3, 77, 32)), new FrameLayout(2, 2));
            }
        });
        assertTrue(e.getMessage().contains("base variant"), e.getMessage());
    }

    @Test void samplesOfABatchAreIndependent() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        INDArray x = rand(7, 2, 8, 3, 8, 8), ctx = rand(8, 2, 77, 32);
        INDArray both = run(unet, x, ctx);
        for (int b = 0; b < 2; b++) {
            INDArray one = run(unet, x.get(NDArrayIndex.interval(b, b + 1)).dup(), ctx.get(NDArrayIndex.interval(b, b + 1)).dup());
            assertTrue(one.equalsWithEps(both.get(NDArrayIndex.interval(b, b + 1)), 1e-5), "sample " + b);
        }
    }

    @Test void attentionBudgetChangesMemoryNotResults() throws IOException {
        INDArray x = rand(9, 1, 8, 3, 8, 8), ctx = rand(10, 1, 77, 32);
        INDArray whole = run(goldenTiny(), x, ctx);
        INDArray chunked = run(goldenTiny().maxScoreBytes(1024), x, ctx);
        double diff = whole.sub(chunked).amaxNumber().doubleValue(), scale = whole.amaxNumber().doubleValue();
        assertTrue(diff <= 1e-6 * scale, "chunked attention changed the output by " + diff);
    }

    @Test void baseWeightsDoNotFitTheInterpolationModel() throws IOException {
        UNet3DConditionModel interp = new UNet3DConditionModel(UNetConfig.tinyInterpolation());
        try (TensorFile w = SafeTensors.read(TestData.goldenCase("unet_base").resolve("weights.safetensors"))) {
            var e = assertThrows(org.lavie4j.core.LoadReport.CheckpointMismatchException.class,
                    () -> interp.load(StateDict.of(w.path().toString(), w.asMap())));
            var r = e.report();
            assertTrue(r.shapeMismatches().stream().anyMatch(s -> s.key().equals("conv_in.weight")), r.toString());
            assertTrue(r.unexpected().contains("mid_block.attentions.0.transformer_blocks.0.attn_temp.rotary_emb.freqs"), r.toString());
            assertTrue(r.missing().isEmpty(), r.toString());
        }
    }
}
