package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.TestSeeds;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.checkpoints.Inflation.InflationException;
import org.lavie4j.nn.checkpoints.Inflation.TemporalInit;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class InflationTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    // ------------------------------------------------------------------------------------------------ config

    @Test void sd14ConfigInflatesToTheLavieBaseConfig() throws IOException {
        JsonNode sd = JSON.readTree(TestData.reference().resolve("configs/sd14_unet.json").toFile());
        String before = sd.toString();
        assertEquals(UNetConfig.lavieBase(), Inflation.inflateConfig(sd));
        assertEquals(before, sd.toString(), "the input JSON is not modified");
        ObjectNode json = Inflation.inflateConfigJson(sd);
        assertEquals("[\"CrossAttnDownBlock3D\",\"CrossAttnDownBlock3D\",\"CrossAttnDownBlock3D\",\"DownBlock3D\"]", json.get("down_block_types").toString());
        assertEquals("[\"UpBlock3D\",\"CrossAttnUpBlock3D\",\"CrossAttnUpBlock3D\",\"CrossAttnUpBlock3D\"]", json.get("up_block_types").toString());
        assertFalse(json.get("use_first_frame").asBoolean(true));
        assertEquals("UNet3DConditionModel", json.get("_class_name").asText());
        // the inflated reference config of the real model parses to the same record
        JsonNode lavie = JSON.readTree(TestData.reference().resolve("configs/lavie_base_unet.json").toFile());
        assertEquals(UNetConfig.fromJson(lavie).config(), Inflation.inflateConfig(sd));
    }

    @Test void blockTypesWithoutA3dTwinAreErrors() {
        ObjectNode sd = sdTinyConfig();
        ((ArrayNode) sd.get("down_block_types")).set(1, JSON.getNodeFactory().textNode("AttnDownBlock2D"));
        var e = assertThrows(IllegalArgumentException.class, () -> Inflation.inflateConfig(sd));
        assertTrue(e.getMessage().contains("down_block_types[1] = \"AttnDownBlock2D\""), e.getMessage());

        ObjectNode mid = sdTinyConfig();
        mid.put("mid_block_type", "UNetMidBlock2DSimpleCrossAttn");
        e = assertThrows(IllegalArgumentException.class, () -> Inflation.inflateConfig(mid));
        assertTrue(e.getMessage().contains("UNetMidBlock2DSimpleCrossAttn"), e.getMessage());

        ObjectNode mid2 = sdTinyConfig();
        mid2.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        assertEquals(UNetConfig.tiny(), Inflation.inflateConfig(mid2));
    }

    // ------------------------------------------------------------------------------------------------ key mapping at full size (shapes only)

    @Test void sd14ManifestInflatesToTheLavieBaseManifest() throws IOException {
        StateDict sd = Manifest.shapeOnly("sd14_unet");
        StateDict base = Manifest.shapeOnly("lavie_base_unet");
        assertEquals(686, sd.size());
        assertEquals(830, base.size());

        StateDict out = Inflation.inflate(sd, base, TemporalInit.REFERENCE);
        assertEquals(new ArrayList<>(base.keys()), new ArrayList<>(out.keys()), "exactly the 3-D keys, in the model's order");
        List<String> temporal = Inflation.temporalKeys(base);
        assertEquals(144, temporal.size());
        int zeroed = 0;
        for (String key : out.keys()) {
            TensorSource src = out.get(key);
            assertArrayEquals(base.get(key).shape(), src.shape(), key);
            if (!Inflation.isTemporal(key)) {
                assertSame(sd.get(key), src, key + " comes from SD by its unchanged name");
            } else if (key.endsWith("attn_temp.to_out.0.weight")) {
                zeroed++;
                assertEquals(0.0, src.load().amaxNumber().doubleValue(), key);
            } else {
                assertSame(base.get(key), src, key + " keeps the constructor's init");
            }
        }
        assertEquals(16, zeroed);
        // every SD key is used, so none is dropped
        for (String key : sd.keys()) assertTrue(out.contains(key), key);
        // conv weights stay 4-D, proj_in is a 1x1 conv
        assertArrayEquals(new long[]{320, 4, 3, 3}, out.get("conv_in.weight").shape());
        assertArrayEquals(new long[]{320, 320, 1, 1}, out.get("down_blocks.0.attentions.0.proj_in.weight").shape());

        StateDict zeroOut = Inflation.inflate(sd, base, TemporalInit.ZERO_OUTPUT);
        String bias = "mid_block.attentions.0.transformer_blocks.0.attn_temp.to_out.0.bias";
        assertSame(base.get(bias), out.get(bias), "the reference leaves the bias at its default init");
        assertEquals(0.0, zeroOut.get(bias).load().amaxNumber().doubleValue());
    }

    @Test void everyMismatchIsListedAtOnce() throws IOException {
        StateDict sd = Manifest.shapeOnly("sd14_unet");
        StateDict base = Manifest.shapeOnly("lavie_base_unet");
        StateDict broken = new StateDict("broken sd");
        for (String k : sd.keys()) {
            if (k.equals("conv_out.bias") || k.equals("mid_block.resnets.1.conv2.weight")) continue;   // 2 missing
            broken.put(k, k.equals("conv_in.weight") ? shapeOnly(k, 320, 9, 3, 3) : sd.get(k));       // 1 mis-shaped
        }
        broken.put("class_embedding.weight", shapeOnly("class_embedding.weight", 1000, 1280));           // 1 unexpected
        String temp = "mid_block.attentions.0.transformer_blocks.0.norm_temp.weight";
        broken.put(temp, shapeOnly(temp, 1280));                                                          // already 3-D
        var e = assertThrows(InflationException.class, () -> Inflation.inflate(broken, base, TemporalInit.REFERENCE));
        assertEquals(List.of("mid_block.resnets.1.conv2.weight", "conv_out.bias"), e.missing());
        assertEquals(List.of("class_embedding.weight"), e.unexpected());
        assertEquals(List.of(temp), e.temporalInSource());
        assertEquals(1, e.shapeMismatches().size());
        String m = e.getMessage();
        for (String s : List.of("broken sd", "conv_out.bias", "mid_block.resnets.1.conv2.weight", "class_embedding.weight", temp,
                "conv_in.weight: 3-D model expects [320, 4, 3, 3], 2-D checkpoint has [320, 9, 3, 3]"))
            assertTrue(m.contains(s), "message names " + s + ":\n" + m);
    }

    // ------------------------------------------------------------------------------------------------ tiny end to end

    @Test void tinyInflationKeepsSdWeightsAndTheReferenceTemporalInit() throws IOException {
        StateDict sd2d = tinySd2d();
        UNet3DConditionModel model = new UNet3DConditionModel(UNetConfig.tiny());
        Map<String, INDArray> fresh = new LinkedHashMap<>();
        model.namedEntries().forEach((k, p) -> fresh.put(k, p.data().dup()));

        StateDict inflated = Inflation.inflateWeights(sd2d, model);
        assertTrue(model.load(inflated).isClean());

        int temporal = 0;
        for (var e : model.namedEntries().entrySet()) {
            String k = e.getKey();
            INDArray v = e.getValue().data();
            if (!Inflation.isTemporal(k)) {
                assertEquals(sd2d.get(k).load(), v, k);
                continue;
            }
            temporal++;
            if (k.endsWith("attn_temp.to_out.0.weight")) assertEquals(0.0, v.amaxNumber().doubleValue(), k);
            else assertEquals(fresh.get(k), v, k + " keeps the constructor's init");
        }
        assertEquals(4 * 9, temporal, "4 transformer blocks in the tiny model, 9 temporal keys each");
        String bias = "mid_block.attentions.0.transformer_blocks.0.attn_temp.to_out.0.bias";
        assertNotEquals(0.0, model.namedEntries().get(bias).data().amaxNumber().doubleValue(), "reference: bias not zeroed");

        UNet3DConditionModel zero = new UNet3DConditionModel(UNetConfig.tiny());
        zero.load(Inflation.inflateWeights(sd2d, zero, TemporalInit.ZERO_OUTPUT));
        assertEquals(0.0, zero.namedEntries().get(bias).data().amaxNumber().doubleValue());
    }

    @Test void identicalFramesGiveTheOneFrameOutputPerFrame() throws IOException {
        for (TemporalInit init : TemporalInit.values()) {
            UNet3DConditionModel model = new UNet3DConditionModel(UNetConfig.tiny());
            model.load(Inflation.inflateWeights(tinySd2d(), model, init));
            model.eval();
            INDArray frame = rand(11, 1, 4, 1, 8, 8), ctx = rand(12, 1, 77, 32);
            INDArray one = run(model, frame, ctx);
            INDArray video = Nd4j.concat(2, frame, frame, frame, frame);
            INDArray y = run(model, video, ctx);
            for (int f = 0; f < 4; f++)
                assertTrue(one.equalsWithEps(y.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(f, f + 1)), 1e-5), init + " frame " + f);
        }
    }

    @Test void theInflatedTemporalBranchMixesNothingAcrossFrames() throws IOException {
        // With to_out.0.weight zeroed the temporal branch is a constant (its bias): the output cannot depend on the
        // other temporal weights, whatever the frames hold.
        INDArray x = rand(21, 1, 4, 3, 8, 8), ctx = rand(22, 1, 77, 32);
        UNet3DConditionModel a = inflatedTiny(TemporalInit.REFERENCE);
        UNet3DConditionModel b = new UNet3DConditionModel(UNetConfig.tiny());
        b.load(a.stateDict());   // same weights, then new values for every temporal weight but to_out (and the fixed freqs)
        TestSeeds.seed(23);
        b.namedEntries().forEach((k, p) -> {
            if (Inflation.isTemporal(k) && !k.contains("to_out") && !k.endsWith("freqs")) p.set(Nd4j.randn(DataType.FLOAT, p.shape()));
        });
        assertTrue(run(a, x, ctx).equalsWithEps(run(b, x, ctx), 1e-5));
        // (while the same change with an active output projection does change the output)
        b.namedEntries().forEach((k, p) -> {
            if (k.endsWith("attn_temp.to_out.0.weight")) p.set(Nd4j.randn(DataType.FLOAT, p.shape()));
        });
        assertFalse(run(a, x, ctx).equalsWithEps(run(b, x, ctx), 1e-3));

        // ZERO_OUTPUT: the branch is exactly zero, so the to_out bias of REFERENCE is all that differs
        UNet3DConditionModel z = inflatedTiny(TemporalInit.ZERO_OUTPUT);
        assertFalse(run(a, x, ctx).equalsWithEps(run(z, x, ctx), 1e-3));
        a.namedEntries().forEach((k, p) -> {
            if (k.endsWith("attn_temp.to_out.0.bias")) p.data().assign(0);
        });
        assertTrue(run(a, x, ctx).equalsWithEps(run(z, x, ctx), 1e-5));
    }

    // ------------------------------------------------------------------------------------------------ from a folder

    @Test void fromStableDiffusionReadsTheRootOrTheUnetFolder(@TempDir Path dir) throws IOException {
        Path unet = writeTinySdFolder(dir);
        StateDict sd2d = tinySd2d();
        for (Path p : List.of(dir, unet)) {
            UNet3DConditionModel model = Inflation.fromStableDiffusion(p);
            assertEquals(UNetConfig.tiny(), model.config());
            Map<String, Parameter> entries = model.namedEntries();
            for (String k : sd2d.keys()) assertEquals(sd2d.get(k).load(), entries.get(k).data(), k);
            assertEquals(0.0, entries.get("down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.to_out.0.weight").data().amaxNumber().doubleValue());
        }
    }

    @Test void fromStableDiffusionErrorsNameTheMissingFileOrKey(@TempDir Path dir) throws IOException {
        var e = assertThrows(NoSuchFileException.class, () -> Inflation.fromStableDiffusion(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"));

        e = assertThrows(NoSuchFileException.class, () -> Inflation.fromStableDiffusion(dir));
        assertTrue(e.getMessage().contains(dir.resolve("unet").resolve("config.json").toString()), e.getMessage());

        Path unet = writeTinySdFolder(dir);
        Path weights = unet.resolve("diffusion_pytorch_model.safetensors");
        Map<String, INDArray> partial = new LinkedHashMap<>();
        try (TensorFile w = SafeTensors.read(weights)) {
            for (String k : w.keys()) if (!k.equals("conv_out.bias")) partial.put(k, w.get(k).load());
        }
        Files.delete(weights);
        var noWeights = assertThrows(NoSuchFileException.class, () -> Inflation.fromStableDiffusion(dir));
        assertTrue(noWeights.getMessage().contains("diffusion_pytorch_model.safetensors"), noWeights.getMessage());

        SafeTensors.write(weights, partial, null);
        var mismatch = assertThrows(InflationException.class, () -> Inflation.fromStableDiffusion(dir));
        assertEquals(List.of("conv_out.bias"), mismatch.missing());
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** The unet_base golden weights without the temporal keys: a tiny "SD" 2-D UNet (key names are shared). */
    static StateDict tinySd2d() throws IOException {
        StateDict sd = new StateDict("tiny sd2d");
        try (TensorFile w = SafeTensors.read(TestData.goldenCase("unet_base").resolve("weights.safetensors"))) {
            for (String k : w.keys()) if (!Inflation.isTemporal(k)) sd.put(k, w.get(k).load().dup());
        }
        return sd;
    }

    private static UNet3DConditionModel inflatedTiny(TemporalInit init) throws IOException {
        UNet3DConditionModel model = new UNet3DConditionModel(UNetConfig.tiny());
        model.load(Inflation.inflateWeights(tinySd2d(), model, init));
        model.eval();
        return model;
    }

    /** A Stable-Diffusion-like folder: model_index.json, unet/config.json (2-D names), unet/diffusion_pytorch_model.safetensors. */
    private static Path writeTinySdFolder(Path dir) throws IOException {
        Path unet = Files.createDirectories(dir.resolve("unet"));
        Files.writeString(dir.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}");
        JSON.writeValue(unet.resolve("config.json").toFile(), sdTinyConfig());
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tinySd2d().asMap().forEach((k, v) -> tensors.put(k, v.load()));
        SafeTensors.write(unet.resolve("diffusion_pytorch_model.safetensors"), tensors, null);
        return unet;
    }

    /** The unet_base golden config as SD would write it (2-D block names). */
    private static ObjectNode sdTinyConfig() {
        ObjectNode c = JSON.createObjectNode();
        c.put("_class_name", "UNet2DConditionModel");
        c.put("sample_size", 16);
        c.put("in_channels", 4);
        c.put("out_channels", 4);
        c.putArray("down_block_types").add("CrossAttnDownBlock2D").add("DownBlock2D");
        c.putArray("up_block_types").add("UpBlock2D").add("CrossAttnUpBlock2D");
        c.putArray("block_out_channels").add(32).add(64);
        c.put("layers_per_block", 1);
        c.put("norm_num_groups", 8);
        c.put("cross_attention_dim", 32);
        c.putArray("attention_head_dim").add(1).add(2);
        return c;
    }

    static TensorSource shapeOnly(String key, long... shape) {
        return new TensorSource() {
            @Override public String key() { return key; }
            @Override public DType dtype() { return DType.F32; }
            @Override public long[] shape() { return shape.clone(); }
            @Override public INDArray load() { throw new UnsupportedOperationException("shape-only source " + key); }
        };
    }

    static INDArray run(UNet3DConditionModel unet, INDArray x, INDArray ctx) {
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(937L)), Tensor.of(ctx)).data().dup();
        }
    }

    static INDArray rand(long seed, long... shape) {
        TestSeeds.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }
}
