package org.lavie4j.nn.vae;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.Comparison;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AutoencoderKLTest {
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void goldenCasePasses() throws Exception {
        CaseResult r = GoldenRunner.discover().run(TestData.goldenCase("vae"));
        r.outputs().forEach(c -> System.out.println("golden " + r.caseName() + " " + c));
        assertEquals(Comparison.Status.PASS, r.status(), r.toString());
    }

    @Test void sd14HasExactlyTheKeysAndShapesOfTheReference() throws IOException {
        assertKeysMatch(new AutoencoderKL(VaeConfig.sd14()), "sd14_vae.tsv", 248, 83_653_863L);
    }

    @Test void x4UpscalerHasExactlyTheKeysAndShapesOfTheReference() throws IOException {
        assertKeysMatch(new AutoencoderKL(VaeConfig.x4Upscaler()), "x4_upscaler_vae.tsv", 204, -1);
    }

    @Test void tinyHasTheGoldenWeightKeys() throws Exception {
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("vae"))) {
            AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
            assertEquals(c.weights().keys(), vae.stateDict().keys().stream().collect(java.util.stream.Collectors.toSet()));
            assertEquals(658_375L, vae.parameterCount());
        }
    }

    private static void assertKeysMatch(AutoencoderKL vae, String manifest, int tensors, long params) throws IOException {
        Manifest.assertMatches(manifest.replace(".tsv", ""), vae.stateDict());
        assertEquals(tensors, vae.stateDict().size());
        if (params > 0) assertEquals(params, vae.parameterCount());
    }

    // ------------------------------------------------------------------ gradients

    /** A 2-level VAE small enough for finite differences, in double, with non-trivial norm affines. */
    private static AutoencoderKL doubleVae() {
        TestSeeds.seed(11);
        AutoencoderKL vae = new AutoencoderKL(new VaeConfig(3, 3, List.of(4, 8), 1, 2, 2, 8, 0.18215));
        vae.namedEntries().forEach((k, p) -> {
            if (k.contains("norm")) p.set(Nd4j.rand(11L + k.hashCode(), p.shape()).castTo(DataType.FLOAT).addi(0.5));
        });
        vae.to(DataType.DOUBLE);
        return vae;
    }

    @Test void gradientCheckEncodeSampleWrtInputAndNoise() {
        AutoencoderKL vae = doubleVae();
        GradAssert.assertGradients("VAE encode(x).sample(eps)", t -> vae.encode(t[0]).sample(t[1]),
                GradAssert.rand(1, 2, 3, 4, 4), GradAssert.rand(2, 2, 2, 2, 2));
    }

    @Test void gradientCheckDecodeWrtLatent() {
        AutoencoderKL vae = doubleVae();
        GradAssert.assertGradients("VAE decode(z)", t -> vae.decode(t[0]), GradAssert.rand(3, 1, 2, 3, 2));
    }

    @Test void gradientCheckParameters() {
        AutoencoderKL vae = doubleVae();
        Tensor x = Tensor.of(GradAssert.rand(4, 1, 3, 4, 4)), eps = Tensor.of(GradAssert.rand(5, 1, 2, 2, 2));
        Map<String, Parameter> p = vae.namedEntries();
        for (String key : List.of("encoder.mid_block.attentions.0.query.weight", "encoder.down_blocks.0.downsamplers.0.conv.weight",
                "encoder.conv_norm_out.weight", "quant_conv.weight")) {
            GradAssert.assertParameterGradients("VAE " + key, () -> vae.encode(x).sample(eps), p.get(key));
        }
        Tensor z = Tensor.of(GradAssert.rand(6, 1, 2, 2, 3));
        // key.bias is not checked: softmax over keys is invariant to it (q·b is the same for every key), its gradient is 0
        for (String key : List.of("post_quant_conv.bias", "decoder.mid_block.attentions.0.proj_attn.weight",
                "decoder.mid_block.attentions.0.value.bias", "decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up_blocks.1.resnets.0.conv_shortcut.weight")) {
            GradAssert.assertParameterGradients("VAE " + key, () -> vae.decode(z), p.get(key));
        }
    }

    // ------------------------------------------------------------------ posterior

    @Test void posteriorClampsLogvarAndSamplesWithTheGivenNoise() {
        INDArray moments = Nd4j.createFromArray(new float[]{0.5f, -1f, 40f, -50f}).reshape(1, 4, 1, 1);
        DiagonalGaussian g = DiagonalGaussian.fromMoments(Tensor.of(moments));
        assertArrayEquals(new float[]{0.5f, -1f}, g.mean().data().reshape(-1).toFloatVector());
        assertArrayEquals(new float[]{20f, -30f}, g.logvar().data().reshape(-1).toFloatVector());
        assertArrayEquals(new float[]{(float) Math.exp(10), (float) Math.exp(-15)}, g.std().data().reshape(-1).toFloatVector(), 1e-3f);
        Tensor eps = Tensor.of(Nd4j.createFromArray(new float[]{1f, 2f}).reshape(1, 2, 1, 1));
        assertArrayEquals(new float[]{0.5f + (float) Math.exp(10), -1f + 2 * (float) Math.exp(-15)}, g.sample(eps).data().reshape(-1).toFloatVector(), 1e-2f);
        assertSame(g.mean(), g.mode());
        var e = assertThrows(IllegalArgumentException.class, () -> g.sample(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 3, 1, 1))));
        assertTrue(e.getMessage().contains("[1, 3, 1, 1]") && e.getMessage().contains("[1, 2, 1, 1]"), e.getMessage());
    }

    // ------------------------------------------------------------------ video

    private static AutoencoderKL goldenVae() throws Exception {
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("vae"))) {
            vae.load(c.weightsStateDict());
        }
        return vae;
    }

    private static INDArray frame(INDArray video, long b, long f) {
        return video.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.point(f), NDArrayIndex.all(), NDArrayIndex.all()).dup('c');
    }

    private static double maxAbs(INDArray a, INDArray b) { return Transforms.abs(a.sub(b), false).maxNumber().doubleValue(); }

    @Test void videoDecodeFoldsFramesAndEqualsPerFrameDecode() throws Exception {
        AutoencoderKL vae = goldenVae();
        INDArray z = Nd4j.randn(DataType.FLOAT, 2, 4, 5, 4, 6);              // (b, latent, f, h, w)
        try (Tape off = Grad.disabled()) {
            for (int slice : new int[]{1, 3, 10}) {
                INDArray video = vae.decodeVideo(Tensor.of(z), slice).data();
                assertArrayEquals(new long[]{2, 3, 5, 8, 12}, video.shape());
                for (long b = 0; b < 2; b++)
                    for (long f = 0; f < 5; f++) {
                        INDArray one = vae.decode(Tensor.of(frame(z, b, f))).data();
                        assertTrue(maxAbs(one, frame(video, b, f)) < 1e-5, "slice " + slice + " b " + b + " f " + f);
                    }
            }
            INDArray tiled = vae.decodeVideo(Tensor.of(z), 4, new Tiling(2, 0.5)).data();
            INDArray oneTiled = vae.decodeTiled(Tensor.of(frame(z, 1, 3)), new Tiling(2, 0.5)).data();
            assertTrue(maxAbs(oneTiled, frame(tiled, 1, 3)) < 1e-5);
        }
    }

    @Test void videoEncodeFoldsFramesAndEqualsPerFrameEncode() throws Exception {
        AutoencoderKL vae = goldenVae();
        INDArray x = Nd4j.rand(DataType.FLOAT, 1, 3, 3, 8, 10).muli(2).subi(1);
        try (Tape off = Grad.disabled()) {
            DiagonalGaussian g = vae.encodeVideo(Tensor.of(x), 2);
            assertArrayEquals(new long[]{1, 4, 3, 4, 5}, g.mean().shape());
            for (long f = 0; f < 3; f++) {
                DiagonalGaussian one = vae.encode(Tensor.of(frame(x, 0, f)));
                assertTrue(maxAbs(one.mean().data(), frame(g.mean().data(), 0, f)) < 1e-5);
                assertTrue(maxAbs(one.logvar().data(), frame(g.logvar().data(), 0, f)) < 1e-5);
            }
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test void badInputsGiveClearErrors() {
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
        var e = assertThrows(IllegalArgumentException.class, () -> vae.encode(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 4, 16, 16))));
        assertTrue(e.getMessage().contains("(B, 3, H, W)") && e.getMessage().contains("[1, 4, 16, 16]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> vae.encode(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 3, 15, 16))));
        assertTrue(e.getMessage().contains("15x16") && e.getMessage().contains("spatial factor 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> vae.decode(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 3, 8, 8))));
        assertTrue(e.getMessage().contains("(B, 4, h, w)") && e.getMessage().contains("[1, 3, 8, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> vae.decode(Tensor.of(Nd4j.zeros(DataType.FLOAT, 4, 8, 8))));
        assertTrue(e.getMessage().contains("[4, 8, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> vae.decodeVideo(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 4, 8, 8)), 2));
        assertTrue(e.getMessage().contains("(B, 4, F, H, W)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> vae.decodeVideo(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 4, 2, 8, 8)), 0));
        assertTrue(e.getMessage().contains("framesPerSlice"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> vae.encodeVideo(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 3, 2, 9, 8)), 1));
        assertTrue(e.getMessage().contains("9x8"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new VaeConfig(3, 3, List.of(32, 60), 1, 4, 8, 16, 0.18215));
    }

    @Test void videoPathsRefuseToRunUnderRecording() {
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
        try (Tape tape = Grad.record()) {
            assertThrows(IllegalStateException.class, () -> vae.decodeVideo(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 4, 2, 4, 4)), 1));
        }
    }
}
