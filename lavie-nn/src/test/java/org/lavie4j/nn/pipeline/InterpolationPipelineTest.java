package org.lavie4j.nn.pipeline;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The interpolation stage's own rules (the numbers against the reference are the {@code pipeline_interp} golden case):
 * options and their defaults, frame selection, the copy_no_mask conditioning layout, guidance on [cond, uncond],
 * cancelling, and the errors for inputs that cannot work.
 */
class InterpolationPipelineTest {
    private static InterpolationPipeline pipeline;
    private static UNet3DConditionModel unet;
    private static CLIPTextModel text;
    private static final int H = 8, W = 8;          // tiny VAE factor 2: latents 4x4

    @BeforeAll
    static void build() {
        TestSeeds.seed(3);
        text = new CLIPTextModel(TextToVideoModel.TinyConfigs.standard().text());
        unet = new UNet3DConditionModel(UNetConfig.tinyInterpolation());
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
        text.eval();
        unet.eval();
        vae.eval();
        pipeline = new InterpolationPipeline(CLIPTokenizer.sd14(), text, unet, vae);
    }

    private static InterpolateOptions.Builder small() {
        return InterpolateOptions.builder().prompt("a_panda_playing_guitar").steps(2).seed(5).outputType(OutputType.LATENTS);
    }

    /** 16 frames of random colours, H x W. */
    private static Video randomVideo(int frames, int h, int w, long seed) {
        java.util.Random r = new java.util.Random(seed);
        byte[][] rgb = new byte[frames][h * w * 3];
        for (byte[] f : rgb) r.nextBytes(f);
        return Video.fromRgb(rgb, h, w, 8);
    }

    // ------------------------------------------------------------------------------------------------ options

    @Test
    void optionDefaultsAreTheOriginals() {
        InterpolateOptions o = InterpolateOptions.builder().prompt("a_cat").build();
        assertEquals(", 4k.", o.promptSuffix());
        assertEquals("a_cat, 4k.", o.conditionalText());
        assertEquals("None", o.negativePrompt(), "the literal string None, as sample.yaml");
        assertEquals(50, o.steps());
        assertEquals(4.0, o.guidanceScale());
        assertEquals(0.0, o.eta());
        assertEquals(OutputType.FRAMES, o.outputType());
        assertEquals(0, o.height(), "the input's size");
        assertSame(ProgressListener.NONE, o.progress());
        assertTrue(o.doClassifierFreeGuidance());
        assertFalse(o.toBuilder().guidanceScale(1).build().doClassifierFreeGuidance());
        assertEquals(o, o.toBuilder().build());
        assertEquals("None", new InterpolateOptions("x", null, null, null, null, 0, 0, 1, 4, 0, 0, null, null, OutputType.FRAMES, 1, null, null)
                .negativePrompt(), "null negative prompt means the default");
    }

    @Test
    void badOptionsAreRefusedWithTheirName() {
        INDArray e = Nd4j.zeros(DataType.FLOAT, 1, 77, 32);
        assertMessage(() -> InterpolateOptions.builder().build(), "exactly one of prompt and promptEmbeds");
        assertMessage(() -> small().embeddings(e, null).build(), "exactly one of prompt and promptEmbeds");
        assertMessage(() -> small().steps(0).build(), "steps must be in [1, 1000]");
        assertMessage(() -> small().steps(1001).build(), "steps must be in [1, 1000]");
        assertMessage(() -> small().guidanceScale(-1).build(), "guidanceScale");
        assertMessage(() -> small().guidanceScale(Double.NaN).build(), "guidanceScale");
        assertMessage(() -> small().eta(-0.5).build(), "eta");
        assertMessage(() -> small().framesPerSlice(0).build(), "framesPerSlice");
        assertMessage(() -> small().outputType(null).build(), "outputType");
        assertMessage(() -> small().size(320, 0).build(), "both be 0");
        assertMessage(() -> small().size(36, 64).build(), "multiples of 8");
        assertMessage(() -> InterpolateOptions.builder().embeddings(Nd4j.zeros(DataType.FLOAT, 77, 32), null).build(), "(1, L, D)");
        assertMessage(() -> InterpolateOptions.builder().embeddings(e, Nd4j.zeros(DataType.FLOAT, 1, 77, 16)).build(), "shape of promptEmbeds");
        assertMessage(() -> small().vaeNoise(Nd4j.zeros(DataType.FLOAT, 16, 4, 4, 4)).build(), "vaeNoise must be (61, C, h, w)");
        assertMessage(() -> small().noise(Nd4j.zeros(DataType.FLOAT, 1, 4, 16, 4, 4)).build(), "noise must be (1, C, 61, h, w)");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable f, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, f);
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------ layout

    @Test
    void frameSelectionIsNumpyLinspaceAsInt() {
        int[] idx = InterpolationPipeline.frameIndices(16);
        assertEquals(61, idx.length);
        for (int i = 0; i < 61; i++) assertEquals(i / 4, idx[i], "slot " + i);
        assertArrayEquals(java.util.stream.IntStream.range(0, 16).toArray(), InterpolationPipeline.keyFrameIndices(16));
        // np.linspace(0, 19, 61, dtype=int) for a 20-frame clip
        int[] twenty = InterpolationPipeline.frameIndices(20);
        for (int i = 0; i < 61; i++) assertEquals((int) (i * (19.0 / 60)), twenty[i]);
        assertEquals(19, twenty[60]);
        assertArrayEquals(new int[]{0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 19}, InterpolationPipeline.keyFrameIndices(20));
        // 62 frames and more: a window of 61 consecutive frames (the original's starts at random, this port's at 0)
        assertArrayEquals(java.util.stream.IntStream.range(0, 61).toArray(), InterpolationPipeline.frameIndices(100));
        assertMessage(() -> InterpolationPipeline.frameIndices(15), "needs 16 input frames");
    }

    @Test
    void conditioningCopiesKeyFrameFloorOfPPlusOneOverFour() {
        int[] expected = {0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
        for (int p = 0; p < expected.length; p++) assertEquals(expected[p], InterpolationPipeline.conditioningSource(p));
        assertEquals(14, InterpolationPipeline.conditioningSource(58));
        assertEquals(15, InterpolationPipeline.conditioningSource(59));
        assertEquals(15, InterpolationPipeline.conditioningSource(60));

        INDArray key = Nd4j.create(DataType.FLOAT, 1, 2, 16, 2, 3);
        for (int k = 0; k < 16; k++) key.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(k)).assign(k);
        INDArray cond = InterpolationPipeline.conditioning(key);
        assertArrayEquals(new long[]{1, 2, 61, 2, 3}, cond.shape());
        for (int p = 0; p < 61; p++) {
            INDArray slot = cond.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(p));
            assertEquals((p + 1) / 4, slot.minNumber().intValue(), "slot " + p);
            assertEquals((p + 1) / 4, slot.maxNumber().intValue(), "slot " + p);
        }
        // the reference's own steps on 61 latents: index_select 0,4,..,60; repeat_interleave 4; drop the first and the last two
        INDArray lat61 = Nd4j.rand(DataType.FLOAT, 1, 2, 61, 2, 3);
        INDArray viaKeys = InterpolationPipeline.conditioning(InterpolationPipeline.keyFrames(lat61));
        List<INDArray> repeated = new ArrayList<>();
        for (int k = 0; k <= 60; k += 4)
            for (int r = 0; r < 4; r++) repeated.add(lat61.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(k, k + 1)).dup());
        INDArray reference = Nd4j.concat(2, repeated.subList(1, 62).toArray(INDArray[]::new));
        assertEquals(reference, viaKeys);
        assertMessage(() -> InterpolationPipeline.conditioning(lat61), "(B, C, 16, h, w)");
        assertMessage(() -> InterpolationPipeline.conditioningSource(61), "outside");
    }

    @Test
    void bilinearResizeIsTorchsAlignCornersFalse() {
        float[] up = InterpolationPipeline.resizeBilinear(new float[]{0, 1, 2, 3}, 2, 2, 4, 4);
        assertArrayEquals(new float[]{0, .25f, .75f, 1, .5f, .75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3}, up, 1e-6f);
        assertArrayEquals(new float[]{.5f, 2.5f}, InterpolationPipeline.resizeBilinear(new float[]{0, 1, 2, 3}, 1, 4, 1, 2), 1e-6f);
        float[] same = {3, 1, 4, 1, 5, 9};
        assertArrayEquals(same, InterpolationPipeline.resizeBilinear(same, 2, 3, 2, 3));
    }

    @Test
    void pixelsFollowGetInput() {
        Video v = randomVideo(16, H, W, 1);
        INDArray px = InterpolationPipeline.pixels(v, new int[]{0, 5}, H, W);
        assertArrayEquals(new long[]{1, 3, 2, H, W}, px.shape());
        int u = v.rgb(5)[3 * (2 * W + 3) + 1] & 0xff;               // frame 5, y 2, x 3, green
        assertEquals(((u / 255f) - 0.5f) / 0.5f, px.getFloat(0, 1, 1, 2, 3));
        // the tensor form of the same frames agrees to float rounding (u/127.5 − 1 there)
        INDArray fromTensor = InterpolationPipeline.pixels(v.toTensor(), new int[]{0, 5}, H, W);
        assertTrue(px.equalsWithEps(fromTensor, 1e-6));
        assertArrayEquals(new long[]{1, 3, 1, 16, 12}, InterpolationPipeline.pixels(v, new int[]{0}, 16, 12).shape());
    }

    // ------------------------------------------------------------------------------------------------ runs

    @Test
    void sixteenFramesBecomeSixtyOneDeterministically() {
        Video v = randomVideo(16, H, W, 2);
        GenerateResult r = pipeline.interpolate(v, small().outputType(OutputType.FRAMES).framesPerSlice(7).build());
        assertArrayEquals(new long[]{1, 4, 61, H / 2, W / 2}, r.latents().shape());
        assertArrayEquals(new long[]{1, 3, 61, H, W}, r.video().shape());
        assertEquals(61, Video.fromTensor(r.video(), InterpolationPipeline.FPS).frames());
        GenerateResult again = pipeline.interpolate(v, small().framesPerSlice(7).build());
        assertEquals(r.latents(), again.latents(), "same seed and slices, same latents (and the decode does not change them)");
        GenerateResult other = pipeline.interpolate(v, small().seed(6).build());
        assertNotEquals(r.latents(), other.latents());
        double scale = r.latents().amaxNumber().doubleValue();
        // other slices of the VAE encode agree to float rounding (a batch of 7 frames and one of all of them may round
        // differently, e.g. oneDNN's AVX2 convolutions block the batch differently)
        GenerateResult unsliced = pipeline.interpolate(v, small().build());
        double sliceDiff = r.latents().sub(unsliced.latents()).amaxNumber().doubleValue();
        System.out.printf("interpolation latents, 7-frame slices against the default: max |diff| %.3g of max |latent| %.3g%n", sliceDiff, scale);
        assertTrue(sliceDiff <= 1e-4 * scale, sliceDiff + " > 1e-4 x " + scale);
        // a tensor input of the same frames gives the same result to float rounding
        GenerateResult fromTensor = pipeline.interpolate(v.toTensor(), small().build());
        assertTrue(r.latents().sub(fromTensor.latents()).amaxNumber().doubleValue() <= 1e-4 * scale);
        // a resized output
        assertArrayEquals(new long[]{1, 4, 61, 8, 4}, pipeline.interpolate(v, small().size(16, 8).build()).latents().shape());
    }

    @Test
    void aVideoFileIsReadAndInterpolated(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        java.nio.file.Path gif = org.lavie4j.core.media.VideoIO.write(randomVideo(16, H, W, 6), tmp.resolve("clip.gif"));
        Video back = org.lavie4j.core.media.VideoIO.read(gif);
        assertEquals(pipeline.interpolate(back, small().build()).latents(), pipeline.interpolate(gif, small().build()).latents());
        assertThrows(java.nio.file.NoSuchFileException.class, () -> pipeline.interpolate(tmp.resolve("none.gif"), small().build()));
    }

    @Test
    void seedDrawsTheVaeNoiseAndTheInitialNoiseFromTheSameStart() {
        // as the reference re-seeds torch before each draw: z holds the VAE noise's numbers in memory order
        Video v = randomVideo(16, H, W, 3);
        INDArray drawn = InterpolationPipeline.randn(new java.util.SplittableRandom(5), new long[]{61, 4, 4, 4});
        INDArray explicit = pipeline.interpolate(v, small().vaeNoise(drawn).noise(drawn.reshape(1, 4, 61, 4, 4)).build()).latents();
        assertEquals(explicit, pipeline.interpolate(v, small().build()).latents());
    }

    @Test
    void latentsInputSkipsTheEncoder() {
        INDArray key = Nd4j.rand(DataType.FLOAT, 1, 4, 16, 4, 4);
        GenerateResult r = pipeline.interpolateLatents(key, small().build());
        assertArrayEquals(new long[]{1, 4, 61, 4, 4}, r.latents().shape());
        assertNull(r.video());
        assertMessage(() -> pipeline.interpolateLatents(Nd4j.rand(DataType.FLOAT, 1, 4, 61, 4, 4), small().build()), "(1, 4, 16, h, w)");
        assertMessage(() -> pipeline.interpolateLatents(key, small().size(16, 16).build()), "not the requested 16x16");
    }

    @Test
    void guidanceCombinesTheFirstHalfAsConditional() {
        // text batch [cond, uncond]: ε = ε_u + s·(ε_c − ε_u) with ε_c from the first half (the base pipeline's order is the reverse)
        INDArray key = Nd4j.rand(DataType.FLOAT, 1, 4, 16, 4, 4);
        INDArray z = Nd4j.randn(DataType.FLOAT, 1, 4, 61, 4, 4);
        INDArray cond = pipeline.encodePrompt("a_panda, 4k."), uncond = pipeline.encodePrompt("None");
        INDArray xin = Nd4j.concat(1, z, InterpolationPipeline.conditioning(key));
        INDArray ec, eu, both;
        try (Tape off = Grad.disabled()) {
            Tensor t = Tensor.of(Nd4j.createFromArray(999L));
            ec = unet.forward(Tensor.of(xin), t, Tensor.of(cond)).data();
            eu = unet.forward(Tensor.of(xin), t, Tensor.of(uncond)).data();
            both = unet.forward(Tensor.of(Nd4j.concat(0, xin, xin)), t, Tensor.of(Nd4j.concat(0, cond, uncond))).data();
        }
        assertTrue(ec.sub(eu).amaxNumber().doubleValue() > 1e-3, "the two prompts must predict different noise for this test to mean anything");
        for (double s : new double[]{0, 1, 2.5}) {
            INDArray[] seen = new INDArray[1];
            long[] t0 = new long[1];
            pipeline.interpolateLatents(key, small().prompt("a_panda").noise(z).guidanceScale(s).steps(2).observer((j, t, x, e) -> {
                if (j == 0) { seen[0] = e.dup(); t0[0] = t; assertEquals(z, x); }
            }).build());
            assertEquals(999, t0[0], "the model sees the original timestep");
            INDArray want = ec.sub(eu).muli(s).addi(eu);
            assertTrue(want.equalsWithEps(seen[0], 1e-4), "s = " + s + ": max diff " + want.sub(seen[0]).amaxNumber());
            if (s != 1) {
                INDArray batched = half(both, 0).sub(half(both, 1)).muli(s).addi(half(both, 1));
                assertEquals(batched, seen[0], "s = " + s + ": the pipeline's batch is [cond, uncond]");
                INDArray swapped = eu.sub(ec).muli(s).addi(ec);
                assertFalse(swapped.equalsWithEps(seen[0], 1e-3), "s = " + s + ": not [uncond, cond]");
            }
        }
    }

    private static INDArray half(INDArray x, int i) {
        return x.get(NDArrayIndex.interval(i, i + 1)).dup();
    }

    @Test
    void progressCanCancel() {
        Video v = randomVideo(16, H, W, 4);
        AtomicInteger calls = new AtomicInteger();
        CancellationException e = assertThrows(CancellationException.class, () -> pipeline.interpolate(v, small().steps(3)
                .progress((step, total, t, elapsed) -> {
                    calls.incrementAndGet();
                    assertEquals(3, total);
                    return step < 2;
                }).build()));
        assertEquals(2, calls.get());
        assertTrue(e.getMessage().contains("after step 2 of 3"), e.getMessage());
        List<Double> timesteps = new ArrayList<>();
        pipeline.interpolate(v, small().steps(3).progress((step, total, t, elapsed) -> timesteps.add(t)).build());
        assertEquals(List.of(999.0, 500.0, 0.0), timesteps, "respaced DDIM 3: original timesteps 999, 500, 0");
        assertThrows(CancellationException.class, () -> pipeline.interpolate(v, small().progress((step, total, t, elapsed) -> {
            throw new CancellationException("stop");
        }).build()));
    }

    @Test
    void inputsThatCannotWorkAreRefused() {
        assertMessage(() -> pipeline.interpolate(randomVideo(15, H, W, 5), small().build()), "needs 16 input frames");
        assertMessage(() -> pipeline.interpolate(randomVideo(16, 6, 8, 5), small().build()), "multiples of 4");
        assertMessage(() -> pipeline.interpolate(Nd4j.zeros(DataType.FLOAT, 4, 16, H, W), small().build()), "(3, F, H, W)");
        assertMessage(() -> pipeline.interpolate(randomVideo(16, H, W, 5), small().prompt(null)
                .embeddings(Nd4j.zeros(DataType.FLOAT, 1, 77, 48), null).build()), "48 wide");
        assertMessage(() -> pipeline.interpolate(randomVideo(16, H, W, 5), small().vaeNoise(Nd4j.zeros(DataType.FLOAT, 61, 4, 8, 8)).build()),
                "vaeNoise must be [61, 4, 4, 4]");
        assertMessage(() -> pipeline.interpolate(randomVideo(16, H, W, 5), small().noise(Nd4j.zeros(DataType.FLOAT, 1, 4, 61, 8, 8)).build()),
                "noise must be [1, 4, 61, 4, 4]");
        InterpolationPipeline noText = new InterpolationPipeline(null, null, unet, pipeline.vae());
        assertThrows(IllegalStateException.class, () -> noText.interpolate(randomVideo(16, H, W, 5), small().build()));
        assertMessage(() -> new InterpolationPipeline(null, null, new UNet3DConditionModel(UNetConfig.tiny()), pipeline.vae()),
                "interpolation-variant UNet");
    }
}
