package org.lavie4j.nn.pipeline;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.Views;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.schedulers.DDIMScheduler;
import org.lavie4j.nn.schedulers.DDPMScheduler;
import org.lavie4j.nn.vae.Tiling;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The VSR stage's own rules (the numbers against the reference are the {@code pipeline_vsr} golden case): options and
 * their defaults, chunking (boundaries, a shorter last chunk, one generator for all chunks, no context across chunks),
 * guidance on [uncond, cond] with the reference's {@code s > 1} rule, truncating uint8 conversion, cancelling, and the
 * errors for inputs that cannot work.
 */
class SuperResolutionPipelineTest {
    private static SuperResolutionModel model;
    private static SuperResolutionPipeline pipeline;
    private static final int H = 8, W = 8;          // tiny UNet: 3 levels, sizes divisible by 4; x4 VAE -> 32x32

    @BeforeAll
    static void build() {
        model = SuperResolutionModel.randomTiny(11);
        pipeline = model.pipeline();
    }

    private static UpscaleOptions.Builder small() {
        return UpscaleOptions.builder().prompt("a_panda_playing_guitar").steps(2).seed(5).chunkFrames(2);
    }

    private static Video randomVideo(int frames, int h, int w, long seed) {
        java.util.Random r = new java.util.Random(seed);
        byte[][] rgb = new byte[frames][h * w * 3];
        for (byte[] f : rgb) r.nextBytes(f);
        return Video.fromRgb(rgb, h, w, 8);
    }

    private static double maxAbsDiff(INDArray a, INDArray b) {
        assertArrayEquals(a.shape(), b.shape());
        return a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    // ------------------------------------------------------------------------------------------------ options

    @Test
    void optionDefaultsAreTheOriginals() {
        UpscaleOptions o = UpscaleOptions.builder().prompt("a_cat").build();
        assertEquals("blur, worst quality", o.negativePrompt());
        assertEquals(50, o.steps());
        assertEquals(5.0, o.guidanceScale());
        assertEquals(50, o.noiseLevel());
        assertEquals(0.0, o.eta());
        assertEquals(8, o.chunkFrames(), "sample.py short_seq");
        assertEquals(4, o.decodeFrames(), "the upscale pipeline's decode short_seq");
        assertNull(o.tiling(), "the exact, untiled decode");
        assertEquals(0, o.memoryBudgetBytes(), "no budget check");
        assertEquals(OutputType.FRAMES, o.outputType());
        assertSame(UpscaleProgress.NONE, o.progress());
        assertTrue(o.doClassifierFreeGuidance());
        assertEquals(o, o.toBuilder().build());
        UpscaleOptions changed = o.toBuilder().steps(7).guidanceScale(2).noiseLevel(20).chunkFrames(3).decodeFrames(1)
                .negativePrompt("ugly").seed(9).tiling(new Tiling(16, 0.25)).memoryBudgetBytes(1 << 30).build();
        assertEquals(List.of(7, 20, 3, 1), List.of(changed.steps(), changed.noiseLevel(), changed.chunkFrames(), changed.decodeFrames()));
        assertEquals("ugly", changed.negativePrompt());
        assertEquals(9, changed.seed());
        assertEquals(new Tiling(16, 0.25), changed.tiling());
        assertEquals("blur, worst quality", o.toBuilder().negativePrompt(null).build().negativePrompt(), "null means the default");
    }

    @Test
    void guidanceRunsOnlyAboveOne() {
        assertFalse(small().guidanceScale(1).build().doClassifierFreeGuidance());
        assertFalse(small().guidanceScale(0).build().doClassifierFreeGuidance(), "reference: do_classifier_free_guidance = s > 1");
        assertTrue(small().guidanceScale(1.01).build().doClassifierFreeGuidance());
    }

    @Test
    void optionErrors() {
        INDArray e = Nd4j.zeros(DataType.FLOAT, 1, 77, 48);
        List<Runnable> bad = List.of(
                () -> UpscaleOptions.builder().build(),
                () -> UpscaleOptions.builder().prompt("a").embeddings(e, null).build(),
                () -> small().steps(0).build(),
                () -> small().guidanceScale(-1).build(),
                () -> small().guidanceScale(Double.NaN).build(),
                () -> small().guidanceScale(Double.POSITIVE_INFINITY).build(),
                () -> small().noiseLevel(-1).build(),
                () -> small().eta(-0.1).build(),
                () -> small().chunkFrames(0).build(),
                () -> small().decodeFrames(0).build(),
                () -> small().maxScoreBytes(0).build(),
                () -> small().maxFeedForwardBytes(-1).build(),
                () -> small().memoryBudgetBytes(-1).build(),
                () -> small().outputType(null).build(),
                () -> UpscaleOptions.builder().embeddings(Nd4j.zeros(DataType.FLOAT, 77, 48), null).build(),
                () -> UpscaleOptions.builder().embeddings(e, Nd4j.zeros(DataType.FLOAT, 1, 76, 48)).build(),
                () -> UpscaleOptions.builder().prompt("a").embeddings(null, e).build());
        for (Runnable r : bad) assertThrows(IllegalArgumentException.class, r::run);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> small().chunkFrames(0).build());
        assertTrue(ex.getMessage().contains("chunkFrames"), ex.getMessage());
    }

    // ------------------------------------------------------------------------------------------------ chunks

    @Test
    void chunksAreTheOriginals() {
        assertEquals("[[0, 8], [8, 10]]", str(SuperResolutionPipeline.chunks(10, 8)), "the golden case's chunks");
        assertEquals("[[0, 8], [8, 16]]", str(SuperResolutionPipeline.chunks(16, 8)));
        assertEquals("[[0, 8], [8, 16], [16, 17]]", str(SuperResolutionPipeline.chunks(17, 8)));
        assertEquals("[[0, 3]]", str(SuperResolutionPipeline.chunks(3, 8)), "T <= 8: one call");
        assertEquals("[[0, 8]]", str(SuperResolutionPipeline.chunks(8, 8)));
        assertEquals(8, SuperResolutionPipeline.chunks(61, 8).size());
        assertEquals("[56, 61]", Arrays.toString(SuperResolutionPipeline.chunks(61, 8).get(7)), "the interpolated video's last chunk");
        assertEquals("[[0, 1], [1, 2]]", str(SuperResolutionPipeline.chunks(2, 1)));
        assertThrows(IllegalArgumentException.class, () -> SuperResolutionPipeline.chunks(0, 8));
        assertThrows(IllegalArgumentException.class, () -> SuperResolutionPipeline.chunks(5, 0));
    }

    private static String str(List<int[]> chunks) {
        return chunks.stream().map(Arrays::toString).toList().toString();
    }

    /**
     * 5 frames in chunks of 2 ([0,2), [2,4), [4,5)): the draws come from ONE generator of the seed in the order chunk 0
     * low-res noise, chunk 0 latents, chunk 1 low-res noise, ...; the low-res frames are add_noise'd at level 50.
     */
    @Test
    void oneGeneratorAcrossChunksInTheOriginalsDrawOrder() {
        Video video = randomVideo(5, H, W, 1);
        Map<String, INDArray> seen = new HashMap<>();
        List<int[]> ranges = new ArrayList<>();
        UpscaleOptions o = small().steps(1).outputType(OutputType.LATENTS).observer(new SuperResolutionPipeline.ChunkObserver() {
            @Override
            public void onChunkStart(int chunk, int from, int to, INDArray noisyLowRes, INDArray initialLatents) {
                seen.put("noisy" + chunk, noisyLowRes.dup());
                seen.put("latents" + chunk, initialLatents.dup());
                ranges.add(new int[]{from, to});
            }
        }).build();
        pipeline.upscale(video, o);
        assertEquals("[[0, 2], [2, 4], [4, 5]]", str(ranges));

        SplittableRandom g = new SplittableRandom(5);
        DDPMScheduler lowRes = new DDPMScheduler(model.lowResSchedulerConfig());
        INDArray px = SuperResolutionPipeline.pixels(video);
        for (int c = 0; c < 3; c++) {
            int from = ranges.get(c)[0], tc = ranges.get(c)[1] - from;
            INDArray noise = SuperResolutionPipeline.randn(g, new long[]{1, 3, tc, H, W});
            INDArray latents = SuperResolutionPipeline.randn(g, new long[]{1, 4, tc, H, W});
            INDArray expected = lowRes.addNoise(Views.interval(px, 2, from, from + tc).dup(), noise, Nd4j.createFromArray(new long[]{50}));
            assertEquals(0.0, maxAbsDiff(seen.get("noisy" + c), expected), "chunk " + c + " low-res noise");
            assertEquals(0.0, maxAbsDiff(seen.get("latents" + c), latents), "chunk " + c + " initial latents (init_noise_sigma 1)");
        }
    }

    /**
     * Each chunk is an independent call: the last, shorter chunk of a 5-frame run equals a run on those frames alone with
     * the same draws (no context across the chunk border), and the chunks are concatenated along frames.
     */
    @Test
    void chunksAreIndependentCallsAndTheLastOneIsShorter() {
        Video video = randomVideo(5, H, W, 2);
        Map<String, INDArray> draws = new HashMap<>();
        UpscaleOptions o = small().steps(2).chunkFrames(3).noise((chunk, draw, shape) -> {
            INDArray n = SuperResolutionPipeline.randn(new SplittableRandom(31L * chunk + draw.ordinal()), shape);
            draws.put(chunk + "" + draw, n.dup());
            return n;
        }).build();
        UpscaleResult all = pipeline.upscale(video, o);
        assertArrayEquals(new long[]{1, 4, 5, H, W}, all.latents().shape());
        assertArrayEquals(new long[]{1, 3, 5, 4 * H, 4 * W}, all.video().shape());

        INDArray last = Views.interval(SuperResolutionPipeline.pixels(video), 2, 3, 5).dup();
        UpscaleResult alone = pipeline.upscale(last, o.toBuilder().noise((chunk, draw, shape) -> draws.get(1 + "" + draw)).build());
        assertArrayEquals(new long[]{1, 4, 2, H, W}, alone.latents().shape());
        assertEquals(0.0, maxAbsDiff(Views.interval(all.latents(), 2, 3, 5), alone.latents()), 1e-6);
        assertEquals(0.0, maxAbsDiff(Views.interval(all.video(), 2, 3, 5), alone.video()), 1e-5);
    }

    @Test
    void sameSeedSameVideoAndDecodeGroupingIsNeutral() {
        Video video = randomVideo(3, H, W, 3);
        UpscaleResult a = pipeline.upscale(video, small().chunkFrames(8).build());
        UpscaleResult b = pipeline.upscale(video, small().chunkFrames(8).decodeFrames(1).build());
        UpscaleResult c = pipeline.upscale(video, small().chunkFrames(8).seed(6).build());
        assertEquals(0.0, maxAbsDiff(a.latents(), b.latents()));
        assertEquals(0.0, maxAbsDiff(a.video(), b.video()), 1e-5, "4 frames per VAE call or 1: the same frames");
        assertTrue(maxAbsDiff(a.latents(), c.latents()) > 1e-3, "another seed, other noise");
        assertTrue(a.video().amaxNumber().doubleValue() <= 1.0, "clamped to [-1, 1]");
    }

    // ------------------------------------------------------------------------------------------------ guidance

    /**
     * The first step against direct UNet calls: v = v_u + s·(v_c − v_u) with v_u from the NEGATIVE text (batch [uncond, cond]),
     * then the v-prediction DDIM step; at s <= 1 the UNet sees the prompt alone (the reference's rule).
     */
    @Test
    void guidanceOnUncondCondAgainstDirectUNetCalls() {
        Video video = randomVideo(2, H, W, 4);
        INDArray cond = pipeline.encodePrompt("a_panda_playing_guitar");
        INDArray uncond = pipeline.encodePrompt(UpscaleOptions.DEFAULT_NEGATIVE_PROMPT);
        for (double s : new double[]{0, 1, 2.5}) {
            Map<String, INDArray> seen = new HashMap<>();
            UpscaleOptions o = small().steps(2).chunkFrames(8).guidanceScale(s).outputType(OutputType.LATENTS)
                    .observer(new SuperResolutionPipeline.ChunkObserver() {
                        @Override
                        public void onChunkStart(int chunk, int from, int to, INDArray noisyLowRes, INDArray initialLatents) {
                            seen.put("noisy", noisyLowRes.dup());
                            seen.put("x", initialLatents.dup());
                        }

                        @Override
                        public void onStep(int chunk, int step, long timestep, INDArray latents) {
                            if (step > 0) return;
                            seen.put("t", Nd4j.createFromArray(timestep));
                            seen.put("out", latents.dup());
                        }
                    }).build();
            pipeline.upscale(video, o);
            long t = seen.get("t").getLong(0);
            assertEquals(501, t, "two steps with steps_offset 1: 501, 1");
            INDArray vc = v(seen.get("x"), t, seen.get("noisy"), cond);
            INDArray expectedV;
            if (s > 1) {
                INDArray vu = v(seen.get("x"), t, seen.get("noisy"), uncond);
                expectedV = vc.sub(vu).muli(s).addi(vu);
                INDArray swapped = vu.sub(vc).muli(s).addi(vc);
                INDArray wrong = step(swapped, t, seen.get("x"));
                assertTrue(maxAbsDiff(wrong, seen.get("out")) > 1e-3, "the [cond, uncond] order would give another result");
            } else {
                expectedV = vc;
            }
            assertEquals(0.0, maxAbsDiff(step(expectedV, t, seen.get("x")), seen.get("out")), 2e-5, "s = " + s);
        }
    }

    private static INDArray v(INDArray x, long t, INDArray noisy, INDArray text) {
        try (Tape off = Grad.disabled()) {
            Tensor y = model.unet().forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(t)), Tensor.of(noisy), Tensor.of(text),
                    Tensor.of(Nd4j.createFromArray(new long[]{50})));
            return y.data().dup();
        }
    }

    private static INDArray step(INDArray v, long t, INDArray x) {
        DDIMScheduler ddim = new DDIMScheduler(model.schedulerConfig());
        ddim.setTimesteps(2);
        return ddim.step(v, t, x).prevSample();
    }

    // ------------------------------------------------------------------------------------------------ output

    /** vsr/sample.py: uint8(clamp(x/2 + 0.5, 0, 1)·255), truncation toward zero with no +0.5. */
    @Test
    void uint8ConversionTruncates() {
        float[] x = {-1f, 1f, 0f, -2f, 3f, 2f * (254.9f / 255f - 0.5f), 2f * (0.7f / 255f - 0.5f), 2f * (128.99f / 255f - 0.5f)};
        INDArray video = Nd4j.createFromArray(x).reshape(1, 1, 1, 1, x.length).repeat(1, 3);   // (1, 3, 1, 1, n)
        UpscaleResult r = new UpscaleResult(Nd4j.zeros(DataType.FLOAT, 1, 4, 1, 1, 1), video);
        INDArray u8 = r.videoUint8();                                                               // (1, 1, 1, n, 3)
        assertArrayEquals(new long[]{1, 1, 1, x.length, 3}, u8.shape());
        int[] got = new int[x.length];
        for (int i = 0; i < x.length; i++) got[i] = u8.getInt(0, 0, 0, i, 0);
        assertArrayEquals(new int[]{0, 255, 127, 0, 255, 254, 0, 128}, got, "127.5 -> 127, 254.9 -> 254, 0.7 -> 0: truncated");
        Video v = r.toVideo(8);
        byte[] rgb = v.rgb(0);
        for (int i = 0; i < x.length; i++) assertEquals(got[i], rgb[3 * i] & 0xff, "Video.Rounding.TRUNCATE agrees at " + i);
        assertThrows(IllegalStateException.class, () -> new UpscaleResult(Nd4j.zeros(1), null).videoUint8());
    }

    @Test
    void pixelsAreTheOriginalsArithmetic() {
        Video video = randomVideo(2, 2, 3, 5);
        INDArray px = SuperResolutionPipeline.pixels(video);
        assertArrayEquals(new long[]{1, 3, 2, 2, 3}, px.shape());
        byte[] f1 = video.rgb(1);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 6; p++)
                assertEquals(((f1[3 * p + c] & 0xff) / 255f - 0.5f) * 2f, px.getFloat(0, c, 1, p / 3, p % 3), 0f);
    }

    @Test
    void latentsOutputSkipsTheDecode() {
        UpscaleResult r = pipeline.upscale(randomVideo(2, H, W, 6), small().steps(1).outputType(OutputType.LATENTS).build());
        assertFalse(r.hasVideo());
        assertArrayEquals(new long[]{1, 4, 2, H, W}, r.latents().shape());
    }

    @Test
    void tensorInputOfEitherRankEqualsVideoInput() {
        Video video = randomVideo(2, H, W, 7);
        UpscaleOptions o = small().steps(1).outputType(OutputType.LATENTS).build();
        INDArray fromVideo = pipeline.upscale(video, o).latents();
        INDArray px = SuperResolutionPipeline.pixels(video);
        assertEquals(0.0, maxAbsDiff(fromVideo, pipeline.upscale(px, o).latents()));
        INDArray four = px.reshape(3, 2, H, W).dup();
        assertEquals(0.0, maxAbsDiff(fromVideo, pipeline.upscale(four, o).latents()));
        assertEquals(0.0, maxAbsDiff(px, SuperResolutionPipeline.pixels(video)), "the caller's tensor is left alone");
    }

    // ------------------------------------------------------------------------------------------------ cancel

    @Test
    void cancelStopsAtTheRequestedStepOrChunk() {
        Video video = randomVideo(3, H, W, 8);
        AtomicInteger calls = new AtomicInteger();
        List<String> seen = new ArrayList<>();
        UpscaleOptions o = small().progress((chunk, chunks, step, steps, t, elapsed) -> {
            calls.incrementAndGet();
            seen.add(chunk + "/" + chunks + ":" + step + "/" + steps);
            return !(chunk == 1 && step == 1);
        }).build();
        CancellationException e = assertThrows(CancellationException.class, () -> pipeline.upscale(video, o));
        assertTrue(e.getMessage().contains("chunk 2 of 2, step 1 of 2"), e.getMessage());
        assertEquals(List.of("0/2:1/2", "0/2:2/2", "1/2:1/2"), seen);

        List<String> done = new ArrayList<>();
        UpscaleOptions afterChunk = small().steps(1).progress(new UpscaleProgress() {
            @Override
            public boolean onStep(int chunk, int chunks, int step, int steps, long timestep, java.time.Duration elapsed) { return true; }

            @Override
            public boolean onChunkDone(int chunk, int chunks, int from, int to, java.time.Duration elapsed) {
                done.add(from + "-" + to);
                return false;
            }
        }).build();
        assertThrows(CancellationException.class, () -> pipeline.upscale(video, afterChunk));
        assertEquals(List.of("0-2"), done, "cancelled after the first chunk was decoded");

        UpscaleOptions throwing = small().progress((chunk, chunks, step, steps, t, elapsed) -> {
            throw new CancellationException("stop");
        }).build();
        assertThrows(CancellationException.class, () -> pipeline.upscale(video, throwing));
        // still usable afterwards
        assertTrue(pipeline.upscale(video, small().steps(1).outputType(OutputType.LATENTS).build()).latents().length() > 0);
    }

    @Test
    void overallProgressCountsStepsAcrossChunks() {
        List<String> seen = new ArrayList<>();
        ProgressListener l = (step, total, t, elapsed) -> seen.add(step + "/" + total);
        pipeline.upscale(randomVideo(3, H, W, 9), small().outputType(OutputType.LATENTS).progress(UpscaleProgress.overall(l)).build());
        assertEquals(List.of("1/4", "2/4", "3/4", "4/4"), seen);
    }

    // ------------------------------------------------------------------------------------------------ bad input

    @Test
    void resolutionMustBeDivisibleByTheUNetsDownSampling() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pipeline.upscale(randomVideo(2, 6, 8, 1), small().build()));
        assertTrue(e.getMessage().contains("divisible by 4") && e.getMessage().contains("6x8"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(randomVideo(2, 8, 10, 1), small().build()));
    }

    @Test
    void tooFewFramesOrAWrongTensorAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pipeline.upscale(Nd4j.create(DataType.FLOAT, 1, 3, 0, H, W), small().build()));
        assertTrue(e.getMessage().contains("at least one"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(Nd4j.zeros(DataType.FLOAT, 4, 2, H, W), small().build()));
        assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(Nd4j.zeros(DataType.FLOAT, 2, 3, 2, H, W), small().build()));
        assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(Nd4j.zeros(DataType.FLOAT, 3, H, W), small().build()));
    }

    @Test
    void inputTooLargeForTheMemoryBudgetIsRefusedWithAChunkThatFits() {
        Video video = randomVideo(8, H, W, 2);
        UpscaleOptions o = small().chunkFrames(8).memoryMode(UpscaleOptions.MemoryMode.FULL_BATCH).build();
        SuperResolutionPipeline.MemoryEstimate e8 = pipeline.estimateMemory(8, H, W, o);
        SuperResolutionPipeline.MemoryEstimate e2 = pipeline.estimateMemory(8, H, W, o.toBuilder().chunkFrames(2).build());
        SuperResolutionPipeline.MemoryEstimate e1 = pipeline.estimateMemory(8, H, W, o.toBuilder().chunkFrames(1).build());
        assertTrue(e8.peakBytes() > e2.peakBytes() && e2.peakBytes() > e1.peakBytes(), e8 + " " + e2 + " " + e1);
        long budget = (e2.peakBytes() + pipeline.estimateMemory(8, H, W, o.toBuilder().chunkFrames(3).build()).peakBytes()) / 2;
        long lowPeak = pipeline.estimateMemory(8, H, W, o.toBuilder().memoryMode(UpscaleOptions.MemoryMode.LOW_MEMORY).build()).peakBytes();
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> pipeline.upscale(video, o.toBuilder().memoryBudgetBytes(budget).build()));
        String hint = lowPeak <= budget ? "the low-memory mode would need" : "chunks of 2 frames would need";
        assertTrue(ex.getMessage().contains("over the budget") && ex.getMessage().contains(hint), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(video, o.toBuilder().memoryBudgetBytes(1000).build()));
        assertTrue(ex.getMessage().contains("even chunks of 1 frame do not fit"), ex.getMessage());
        assertEquals(2, pipeline.upscale(randomVideo(2, H, W, 2), small().steps(1).outputType(OutputType.LATENTS)
                .memoryBudgetBytes(e8.peakBytes()).build()).latents().size(2), "within the budget it runs");
        // the real model at LaVie's size: chunks of 8 at 320x512 need tens of GB, far more than chunks of 1
        SuperResolutionPipeline.MemoryEstimate real = realEstimate(8), realOne = realEstimate(1);
        assertTrue(real.peakBytes() > 20L << 30 && realOne.peakBytes() < real.peakBytes() / 3, real + " / " + realOne);
        SuperResolutionPipeline.MemoryEstimate tiled = SuperResolutionPipeline.estimateMemory(org.lavie4j.nn.unet.VsrConfig.lavieVsr(),
                org.lavie4j.nn.vae.VaeConfig.x4Upscaler(), 61, 320, 512,
                small().chunkFrames(8).tiling(Tiling.defaults(org.lavie4j.nn.vae.VaeConfig.x4Upscaler())).build());
        assertTrue(tiled.decodeBytes() < real.decodeBytes() / 10, "tiled decode of 1280x2048 frames: " + tiled + " vs " + real);
        assertEquals(real.unetBytes(), tiled.unetBytes());
    }

    /** The estimate for LaVie's real VSR stage (61 frames of 320x512), from the configs alone. */
    private static SuperResolutionPipeline.MemoryEstimate realEstimate(int chunk) {
        return realEstimate(chunk, UpscaleOptions.MemoryMode.FULL_BATCH);
    }

    private static SuperResolutionPipeline.MemoryEstimate realEstimate(int chunk, UpscaleOptions.MemoryMode mode) {
        return SuperResolutionPipeline.estimateMemory(org.lavie4j.nn.unet.VsrConfig.lavieVsr(), org.lavie4j.nn.vae.VaeConfig.x4Upscaler(),
                61, 320, 512, small().chunkFrames(chunk).memoryMode(mode).build());
    }

    @Test
    void lowMemoryModeGivesTheFullBatchResultsAndAutoPicksItUnderABudget() {
        Video video = randomVideo(3, H, W, 4);
        UpscaleOptions full = small().chunkFrames(3).outputType(OutputType.LATENTS).memoryMode(UpscaleOptions.MemoryMode.FULL_BATCH).build();
        UpscaleOptions low = full.toBuilder().memoryMode(UpscaleOptions.MemoryMode.LOW_MEMORY).build();
        INDArray a = pipeline.upscale(video, full).latents(), b = pipeline.upscale(video, low).latents();
        double diff = maxAbsDiff(a, b), scale = a.amaxNumber().doubleValue();
        System.out.printf("low-memory vs full batch latents: max abs diff %.3e (max %.3e)%n", diff, scale);
        assertTrue(diff <= 1e-5 * scale, "the low-memory mode changed the latents by " + diff);
        assertEquals(0, pipeline.unet().sliceFrames(), "the run restores the UNet's frame slices");

        // AUTO: the full batch without a budget or within it; the low-memory mode when only it fits
        long fullPeak = pipeline.estimateMemory(3, H, W, full).peakBytes(), lowPeak = pipeline.estimateMemory(3, H, W, low).peakBytes();
        assertTrue(lowPeak < fullPeak, lowPeak + " vs " + fullPeak);
        UpscaleOptions auto = full.toBuilder().memoryMode(UpscaleOptions.MemoryMode.AUTO).build();
        assertFalse(pipeline.lowMemory(3, H, W, auto));
        assertFalse(pipeline.lowMemory(3, H, W, auto.toBuilder().memoryBudgetBytes(fullPeak).build()));
        UpscaleOptions tight = auto.toBuilder().memoryBudgetBytes((lowPeak + fullPeak) / 2).build();
        assertTrue(pipeline.lowMemory(3, H, W, tight));
        assertEquals(lowPeak, pipeline.estimateMemory(3, H, W, tight).peakBytes());
        assertEquals(0, maxAbsDiff(b, pipeline.upscale(video, tight).latents()), "AUTO under the budget runs the low-memory mode");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pipeline.upscale(video, full.toBuilder().memoryBudgetBytes((lowPeak + fullPeak) / 2).build()));
        assertTrue(e.getMessage().contains("the low-memory mode would need"), e.getMessage());

        // LaVie's real stage, 61 frames of 320x512 in the original's chunks of 8: only the low-memory mode fits 24 GB
        SuperResolutionPipeline.MemoryEstimate real = realEstimate(8), realLow = realEstimate(8, UpscaleOptions.MemoryMode.LOW_MEMORY);
        System.out.println("real stage, chunks of 8: full batch " + real + "; low memory " + realLow);
        assertTrue(real.peakBytes() > 40L << 30, real.toString());
        assertTrue(realLow.peakBytes() < 20L << 30, realLow.toString());
    }

    @Test
    void noiseLevelAndTextErrors() {
        Video video = randomVideo(2, H, W, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(video, small().noiseLevel(351).build()));
        assertTrue(e.getMessage().contains("max_noise_level 350"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(video, small().steps(1001).build()));
        assertThrows(IllegalArgumentException.class, () -> pipeline.upscale(video,
                UpscaleOptions.builder().embeddings(Nd4j.zeros(DataType.FLOAT, 1, 77, 32), null).build()));
        SuperResolutionPipeline noText = new SuperResolutionPipeline(null, null, model.unet(), model.vae(), model.schedulerConfig(),
                model.lowResSchedulerConfig());
        assertThrows(IllegalStateException.class, () -> noText.upscale(video, small().build()));
        INDArray cond = pipeline.encodePrompt("x");
        assertThrows(IllegalStateException.class, () -> noText.upscale(video, UpscaleOptions.builder().embeddings(cond, null).build()),
                "guidance needs the negative prompt encoded");
        assertEquals(2, noText.upscale(video, UpscaleOptions.builder().embeddings(cond, cond).steps(1).outputType(OutputType.LATENTS).build())
                .latents().size(2));
        assertEquals(2, noText.upscale(video, UpscaleOptions.builder().embeddings(cond, null).guidanceScale(1).steps(1)
                .outputType(OutputType.LATENTS).build()).latents().size(2), "no guidance: no negative needed");
    }

    @Test
    void partsMustFit() {
        assertThrows(IllegalArgumentException.class, () -> new SuperResolutionPipeline(null, null, model.unet(), model.vae(),
                model.lowResSchedulerConfig(), model.lowResSchedulerConfig()), "the sampler is DDIM");
        assertThrows(IllegalArgumentException.class, () -> new SuperResolutionPipeline(null, model.textEncoder(), model.unet(),
                new org.lavie4j.nn.vae.AutoencoderKL(new org.lavie4j.nn.vae.VaeConfig(3, 3, List.of(16, 32), 1, 3, 8, 32, 0.08333)),
                model.schedulerConfig(), model.lowResSchedulerConfig()), "latent channels + 3 = UNet input");
    }
}
