package org.lavie4j.nn.pipeline;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.nn.pipeline.CascadeStage.BASE;
import static org.lavie4j.nn.pipeline.CascadeStage.INTERPOLATION;
import static org.lavie4j.nn.pipeline.CascadeStage.SUPER_RESOLUTION;

/**
 * The cascade on tiny random models of all three stages (each stage's numbers are its own tests' and golden cases'):
 * shapes and frame rates through the chain (16 → 61 frames, ×4 in space), optional stages, the uint8 hand-off being
 * exactly the 8-bit round trip, the float hand-off, cancelling in the middle stage, and the errors for missing models
 * and shapes that do not chain.
 */
class CascadePipelineTest {
    private static final int H = 8, W = 8;          // tiny base/interpolation: multiples of 4; tiny VSR: multiples of 4, x4 VAE
    private static TextToVideoPipeline base;
    private static InterpolationPipeline interpolation;
    private static SuperResolutionPipeline vsr;
    private static CascadePipeline all;

    @BeforeAll
    static void build() {
        TextToVideoModel m = TextToVideoModel.randomTiny(7);
        base = m.pipeline();
        TestSeeds.seed(3);
        UNet3DConditionModel interpUnet = new UNet3DConditionModel(UNetConfig.tinyInterpolation());
        interpUnet.eval();
        interpolation = new InterpolationPipeline(m.tokenizer(), m.textEncoder(), interpUnet, m.vae());   // SD 1.4 parts shared, as the original
        vsr = SuperResolutionModel.randomTiny(11).pipeline();
        all = new CascadePipeline(base, interpolation, vsr);
    }

    /** Few steps, tiny sizes. */
    private static CascadeOptions.Builder small(CascadeStage first, CascadeStage... more) {
        return CascadeOptions.builder().prompt("a red ball").seed(5).stages(first, more)
                .base(b -> b.size(H, W).steps(2).framesPerSlice(16))
                .interpolation(i -> i.steps(2).framesPerSlice(61))
                .superResolution(u -> u.steps(1).decodeFrames(8));
    }

    private static void assertShape(Video v, int frames, int h, int w, double fps) {
        assertEquals(frames, v.frames());
        assertEquals(h, v.height());
        assertEquals(w, v.width());
        assertEquals(fps, v.fps());
    }

    private static void assertSameFrames(Video a, Video b) {
        assertEquals(a.frames(), b.frames());
        for (int f = 0; f < a.frames(); f++) assertArrayEquals(a.rgb(f), b.rgb(f), "frame " + f);
    }

    // ------------------------------------------------------------------------------------------------ chaining

    @Test
    void threeStagesChain16To61FramesAndX4InSpace() {
        List<String> seen = new ArrayList<>();
        CascadeProgress listener = new CascadeProgress() {
            @Override
            public boolean onStep(CascadeStage stage, int step, int total, java.time.Duration elapsed) {
                seen.add(stage.id() + " " + step + "/" + total);
                return true;
            }

            @Override
            public void onStageStart(CascadePipeline.StagePlan stage, int index, int stages) {
                seen.add("start " + stage.stage().id() + " " + index + "/" + stages);
            }

            @Override
            public void onStageDone(CascadeResult.StageOutput output) { seen.add("done " + output.stage().id()); }
        };
        CascadeOptions o = small(BASE, INTERPOLATION, SUPER_RESOLUTION).progress(listener).build();
        List<CascadePipeline.StagePlan> plan = all.plan(o);
        assertEquals(List.of(new CascadePipeline.StagePlan(BASE, 16, H, W, 8),
                new CascadePipeline.StagePlan(INTERPOLATION, 61, H, W, 24),
                new CascadePipeline.StagePlan(SUPER_RESOLUTION, 61, 4 * H, 4 * W, 24)), plan);

        CascadeResult r = all.run(o);
        assertArrayEquals(new long[]{1, 3, 61, 4 * H, 4 * W}, r.video().shape());
        assertEquals(SUPER_RESOLUTION, r.lastStage());
        assertEquals(24.0, r.fps(), "VSR keeps the interpolated video's 24 fps");
        assertShape(r.output(BASE).video(), 16, H, W, 8);
        assertShape(r.output(INTERPOLATION).video(), 61, H, W, 24);
        assertShape(r.frames(), 61, 4 * H, 4 * W, 24);
        assertSameFrames(Video.fromTensor(r.video(), 24, Video.Rounding.TRUNCATE), r.frames());   // vsr/sample.py truncates

        int chunks = SuperResolutionPipeline.chunks(61, 8).size();
        List<String> expected = new ArrayList<>(List.of("start base 0/3", "base 1/2", "base 2/2", "done base",
                "start interp 1/3", "interp 1/2", "interp 2/2", "done interp", "start vsr 2/3"));
        for (int c = 1; c <= chunks; c++) expected.add("vsr " + c + "/" + chunks);       // 1 step per chunk, counted across chunks
        expected.add("done vsr");
        assertEquals(expected, seen);
    }

    @Test
    void stagesAreOptional() {
        // base only: needs no other model
        CascadePipeline baseOnly = new CascadePipeline(base, null, null);
        CascadeResult b = baseOnly.run(small(BASE).build());
        assertEquals(List.of(BASE), b.stages().stream().map(CascadeResult.StageOutput::stage).toList());
        assertArrayEquals(new long[]{1, 3, 16, H, W}, b.video().shape());
        assertShape(b.frames(), 16, H, W, 8);
        assertSameFrames(Video.fromTensor(b.video(), 8, Video.Rounding.HALF_UP), b.frames());   // base/sample.py rounds half up
        assertEquals(12.0, baseOnly.run(small(BASE).baseFps(12).build()).fps(), "the base model's own frame rate");

        // base + VSR: 16 frames x4 at 8 fps
        CascadeResult bv = new CascadePipeline(base, null, vsr).run(small(BASE, SUPER_RESOLUTION).build());
        assertArrayEquals(new long[]{1, 3, 16, 4 * H, 4 * W}, bv.video().shape());
        assertShape(bv.frames(), 16, 4 * H, 4 * W, 8);

        // base + interpolation: 61 frames at 24 fps
        CascadeResult bi = new CascadePipeline(base, interpolation, null).run(small(BASE, INTERPOLATION).build());
        assertArrayEquals(new long[]{1, 3, 61, H, W}, bi.video().shape());
        assertShape(bi.frames(), 61, H, W, 24);
        assertSameFrames(Video.fromTensor(bi.video(), 24, Video.Rounding.HALF_UP), bi.frames());

        // VSR alone on an existing clip keeps its frame rate
        Random rnd = new Random(1);
        byte[][] rgb = new byte[3][H * W * 3];
        for (byte[] f : rgb) rnd.nextBytes(f);
        Video clip = Video.fromRgb(rgb, H, W, 12);
        CascadeOptions vsrOnly = small(SUPER_RESOLUTION).build();
        CascadeResult v = new CascadePipeline(null, null, vsr).run(clip, vsrOnly);
        assertShape(v.frames(), 3, 4 * H, 4 * W, 12);
        // ... and is the VSR stage itself
        UpscaleResult direct = vsr.upscale(clip, vsrOnly.superResolution());
        assertEquals(0.0, Transforms.abs(direct.video().sub(v.video())).maxNumber().doubleValue());
    }

    // ------------------------------------------------------------------------------------------------ hand-off

    @Test
    void uint8HandOffIsTheEightBitRoundTripAndFloatHandOffIsNot() {
        CascadeOptions u8 = small(BASE, INTERPOLATION).interpolation(i -> i.steps(1).framesPerSlice(61)).build();
        assertEquals(CascadeOptions.Handoff.UINT8, u8.handoff(), "the original's numbers by default");
        CascadePipeline bi = new CascadePipeline(base, interpolation, null);
        CascadeResult viaCascade = bi.run(u8);

        // by hand: the base stage, its mp4 frames (rounded half up), the interpolation stage on those
        INDArray baseVideo = base.generate(u8.base()).video();
        Video baseFrames = Video.fromTensor(baseVideo, 8, Video.Rounding.HALF_UP);
        assertSameFrames(baseFrames, viaCascade.output(BASE).video());
        INDArray byHand = interpolation.interpolate(baseFrames, u8.interpolation()).video();
        assertEquals(0.0, Transforms.abs(byHand.sub(viaCascade.video())).maxNumber().doubleValue(), "the 8-bit round trip, exactly");

        // float hand-off: the clamped float frames, not quantized
        CascadeResult viaFloats = bi.run(small(BASE, INTERPOLATION).interpolation(i -> i.steps(1).framesPerSlice(61))
                .handoff(CascadeOptions.Handoff.FLOAT).build());
        INDArray clamped = Transforms.min(Transforms.max(baseVideo, -1.0, true), 1.0, false);
        INDArray byHandFloat = interpolation.interpolate(clamped, u8.interpolation()).video();
        assertEquals(0.0, Transforms.abs(byHandFloat.sub(viaFloats.video())).maxNumber().doubleValue());
        double diff = Transforms.abs(viaFloats.video().sub(viaCascade.video())).maxNumber().doubleValue();
        assertTrue(diff > 0, "quantizing the base frames changes the interpolation stage's input");
        assertSameFrames(viaCascade.output(BASE).video(), viaFloats.output(BASE).video());
    }

    // ------------------------------------------------------------------------------------------------ cancel

    @Test
    void cancellingInTheMiddleStageStopsTheCascade() {
        List<String> seen = new ArrayList<>();
        CascadeOptions o = small(BASE, INTERPOLATION, SUPER_RESOLUTION).progress(new CascadeProgress() {
            @Override
            public boolean onStep(CascadeStage stage, int step, int total, java.time.Duration elapsed) {
                seen.add(stage.id() + " " + step);
                return stage != INTERPOLATION;                    // cancel at the interpolation stage's first step
            }

            @Override
            public void onStageDone(CascadeResult.StageOutput output) { seen.add("done " + output.stage().id()); }
        }).build();
        CancellationException e = assertThrows(CancellationException.class, () -> all.run(o));
        assertTrue(e.getMessage().contains("InterpolationPipeline: cancelled after step 1"), e.getMessage());
        assertEquals(List.of("base 1", "base 2", "done base", "interp 1"), seen, "the VSR stage never starts");

        // a stage's own listener is told too, and may cancel as well
        List<Integer> own = new ArrayList<>();
        CascadeOptions o2 = small(BASE, INTERPOLATION).interpolation(InterpolateOptions.builder().prompt("x").steps(2)
                .progress((step, total, t, el) -> !own.add(step)).build()).build();
        assertThrows(CancellationException.class, () -> all.run(o2));
        assertEquals(List.of(1), own);
    }

    // ------------------------------------------------------------------------------------------------ errors

    @Test
    void aSelectedStageWithoutModelIsNamed() {
        CascadePipeline baseOnly = new CascadePipeline(base, null, null);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> baseOnly.run(small(BASE, INTERPOLATION).build()));
        assertTrue(e.getMessage().contains("interp stage is selected but this cascade has no interp model")
                && e.getMessage().contains("lavie_interpolation.pt"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> baseOnly.plan(small(BASE, SUPER_RESOLUTION).build()));
        assertTrue(e.getMessage().contains("lavie_vsr.pt") && e.getMessage().contains("stable-diffusion-x4-upscaler"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> new CascadePipeline(null, interpolation, vsr).plan(small(BASE).build()));
        assertTrue(e.getMessage().contains("lavie_base.pt"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new CascadePipeline(null, null, null));
    }

    @Test
    void shapesThatDoNotChainAreRefusedBeforeAnyWork() {
        List<CascadeStage> steps = new ArrayList<>();
        CascadeProgress record = (stage, step, total, elapsed) -> steps.add(stage);
        // 8 base frames cannot be interpolated (the model turns 16 into 61)
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> all.run(small(BASE, INTERPOLATION).base(b -> b.size(H, W).steps(2).frames(8)).progress(record).build()));
        assertTrue(e.getMessage().contains("the interp stage cannot take the base stage's output (8 frames of 8x8)")
                && e.getMessage().contains("needs 16 input frames"), e.getMessage());
        // a VSR memory budget the base stage's output does not fit in; a size the VSR UNet cannot take (tiny: multiples of 4)
        e = assertThrows(IllegalArgumentException.class,
                () -> all.run(small(BASE, SUPER_RESOLUTION).superResolution(u -> u.steps(1).memoryBudgetBytes(1)).progress(record).build()));
        assertTrue(e.getMessage().contains("the vsr stage cannot take the base stage's output (16 frames of 8x8)")
                && e.getMessage().contains("budget"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new CascadePipeline(null, null, vsr)
                .run(Video.fromRgb(new byte[][]{new byte[6 * 6 * 3]}, 6, 6, 8), small(SUPER_RESOLUTION).build()));
        assertTrue(e.getMessage().contains("the vsr stage cannot take the input video (1 frames of 6x6)")
                && e.getMessage().contains("divisible by 4"), e.getMessage());
        // base options the base model cannot take
        e = assertThrows(IllegalArgumentException.class, () -> all.run(small(BASE).base(b -> b.size(H, W).steps(5000)).build()));
        assertTrue(e.getMessage().contains("steps 5000 cannot be more than the 1000"), e.getMessage());
        assertEquals(List.of(), steps, "nothing ran");

        // where the run starts
        e = assertThrows(IllegalArgumentException.class, () -> all.run(small(INTERPOLATION, SUPER_RESOLUTION).build()));
        assertTrue(e.getMessage().contains("needs an input video"), e.getMessage());
        Video clip = Video.fromRgb(new byte[16][H * W * 3], H, W, 8);
        e = assertThrows(IllegalArgumentException.class, () -> all.run(clip, small(BASE, INTERPOLATION).build()));
        assertTrue(e.getMessage().contains("select only interp and/or vsr"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------ options

    @Test
    void optionsDefaultToEachStagesOwnAndTheOriginalsPrompts() {
        CascadeOptions o = CascadeOptions.builder().prompt("a panda playing guitar").seed(400).build();
        assertEquals(EnumSet.allOf(CascadeStage.class), o.stages());
        assertEquals(CascadeOptions.Handoff.UINT8, o.handoff());
        assertEquals(8.0, o.baseFps());
        assertSame(CascadeProgress.NONE, o.progress());
        GenerateOptions b = o.base();
        assertEquals("a panda playing guitar", b.prompt());
        assertEquals(400, b.seed());
        assertEquals(GenerateOptions.builder().prompt(b.prompt()).seed(400).build(), b, "the base stage's own defaults");
        // the later stages read the base mp4's file name: spaces became '_'
        assertEquals("a_panda_playing_guitar", o.interpolation().prompt());
        assertEquals("a_panda_playing_guitar, 4k.", o.interpolation().conditionalText());
        assertEquals(CascadeOptions.INTERPOLATION_SEED, o.interpolation().seed());
        assertEquals(InterpolateOptions.builder().prompt("a_panda_playing_guitar").seed(3418).build(), o.interpolation());
        assertEquals("a_panda_playing_guitar", o.superResolution().prompt());
        assertEquals(UpscaleOptions.builder().prompt("a_panda_playing_guitar").seed(10).build(), o.superResolution());
        assertEquals("a panda", CascadeOptions.builder().prompt("x").laterStagePrompt("a panda").build().superResolution().prompt());

        CascadeOptions base = CascadeOptions.builder().prompt("a cat").stages(BASE).build();
        assertNull(base.interpolation());
        assertNull(base.superResolution());
        assertEquals(25, CascadeOptions.builder().prompt("a cat").interpolation(i -> i.steps(25)).build().interpolation().steps());
    }

    @Test
    void badOptionsAreRefused() {
        assertMessage(() -> CascadeOptions.builder().stages(EnumSet.noneOf(CascadeStage.class)).prompt("x").build(), "at least one stage");
        assertMessage(() -> CascadeOptions.builder().build(), "give a prompt");
        assertMessage(() -> CascadeOptions.builder().prompt("x").base(b -> b.outputType(OutputType.LATENTS)).build(), "outputType must be FRAMES");
        assertMessage(() -> CascadeOptions.builder().prompt("x").superResolution(u -> u.steps(0)).build(), "vsr stage: UpscaleOptions: steps");
        assertMessage(() -> CascadeOptions.builder().prompt("x").baseFps(0).build(), "baseFps");
        assertMessage(() -> new CascadeOptions(EnumSet.of(INTERPOLATION), null, null, null, null, 8, null), "interp stage is selected but has no options");
        assertMessage(() -> CascadeOptions.builder().stages(BASE).base(GenerateOptions.builder()
                .embeddings(Nd4j.zeros(2, 77, 32), null).build()).build(), "batch 1");
        assertEquals(EnumSet.of(BASE, SUPER_RESOLUTION), CascadeStage.parseList("vsr, base"));
        assertEquals(EnumSet.allOf(CascadeStage.class), CascadeStage.parseList("base,interp,vsr"));
        assertMessage(() -> CascadeStage.parseList("base,base"), "listed twice");
        assertMessage(() -> CascadeStage.parseList("base,4k"), "unknown stage '4k'; the stages are base, interp, vsr");
        assertMessage(() -> CascadeStage.parseList(""), "no stages");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable f, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, f);
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
