package org.lavie4j.nn.pipeline;

import org.lavie4j.core.TestSeeds;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.golden.PipelineBaseRunner;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** TextToVideoPipeline on the tiny models of the {@code pipeline_base} golden case (numerics: GoldenCasesTest). */
class TextToVideoPipelineTest {
    private static GoldenCase golden;
    private static PipelineBaseRunner.Parts parts;
    private static INDArray cond, uncond;

    @BeforeAll
    static void load() throws Exception {
        golden = GoldenCase.open(TestData.golden().resolve("pipeline_base"));
        parts = PipelineBaseRunner.parts(golden);
        cond = golden.expected("prompt_embeds").castTo(DataType.FLOAT);
        uncond = golden.expected("negative_prompt_embeds").castTo(DataType.FLOAT);
    }

    @AfterAll
    static void close() { if (golden != null) golden.close(); }

    @BeforeEach
    void seed() { TestSeeds.seed(20261125); }

    private static GenerateOptions.Builder small() {
        return GenerateOptions.builder().embeddings(cond, uncond).frames(2).size(32, 32).steps(3).guidanceScale(7.5)
                .outputType(OutputType.LATENTS);
    }

    @Test
    void optionsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> small().frames(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().size(30, 32).build());
        assertThrows(IllegalArgumentException.class, () -> small().size(32, 0).build());
        assertThrows(IllegalArgumentException.class, () -> small().steps(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().guidanceScale(-1).build());
        assertThrows(IllegalArgumentException.class, () -> small().guidanceScale(Double.NaN).build());
        assertThrows(IllegalArgumentException.class, () -> small().framesPerSlice(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().prompt("a cat").build());            // prompt and embeddings
        assertThrows(IllegalArgumentException.class, () -> GenerateOptions.builder().build());          // neither
        assertThrows(IllegalArgumentException.class, () -> small().latents(Nd4j.zeros(DataType.FLOAT, 1, 4, 3, 4, 4)).build());
        // the tiny VAE has spatial factor 2: (32, 32) pixels are (16, 16) latents
        assertThrows(IllegalArgumentException.class,
                () -> parts.pipeline().generate(small().latents(Nd4j.zeros(DataType.FLOAT, 1, 4, 2, 4, 4)).build()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> small().steps(-2).build());
        assertTrue(e.getMessage().contains("steps"), e.getMessage());
        GenerateOptions d = GenerateOptions.builder().prompt("a cat").build();
        assertEquals(16, d.frames());
        assertEquals(320, d.height());
        assertEquals(512, d.width());
        assertEquals(50, d.steps());
        assertEquals(7.5, d.guidanceScale());
        assertEquals("", d.negativePrompt());
        assertEquals(OutputType.FRAMES, d.outputType());
    }

    @Test
    void textWithoutTokenizerIsAClearError() {
        GenerateOptions o = GenerateOptions.builder().prompt("a cat").frames(2).size(32, 32).steps(1).build();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> parts.pipeline().generate(o));
        assertTrue(e.getMessage().contains("tokenizer"), e.getMessage());
    }

    @Test
    void callbackCancelsEarly() {
        AtomicInteger calls = new AtomicInteger();
        GenerateOptions o = small().steps(4).progress((step, total, t, elapsed) -> {
            calls.incrementAndGet();
            assertEquals(4, total);
            return step < 2;
        }).build();
        assertThrows(CancellationException.class, () -> parts.pipeline().generate(o));
        assertEquals(2, calls.get());

        AtomicInteger calls2 = new AtomicInteger();
        GenerateOptions thrower = small().steps(4).progress((step, total, t, elapsed) -> {
            calls2.incrementAndGet();
            throw new CancellationException("stop");
        }).build();
        assertThrows(CancellationException.class, () -> parts.pipeline().generate(thrower));
        assertEquals(1, calls2.get());
    }

    @Test
    void progressReportsEveryStepWithTimesteps() {
        StringBuilder seen = new StringBuilder();
        parts.pipeline().generate(small().progress((step, total, t, elapsed) -> {
            seen.append(step).append('/').append(total).append('@').append((long) t).append(' ');
            assertFalse(elapsed.isNegative());
            return true;
        }).build());
        assertEquals("1/3@667 2/3@334 3/3@1 ", seen.toString());   // DDIM leading spacing, steps_offset 1
    }

    @Test
    void sameSeedSameLatents() {
        INDArray a = parts.pipeline().generate(small().seed(42).build()).latents();
        INDArray b = parts.pipeline().generate(small().seed(42).build()).latents();
        INDArray c = parts.pipeline().generate(small().seed(43).build()).latents();
        assertArrayEquals(new long[]{1, 4, 2, 16, 16}, a.shape());
        assertEquals(a, b);
        assertNotEquals(a, c);
        assertFalse(a.isNaN().any() || a.isInfinite().any());
    }

    @Test
    void latentsOnlySkipsTheVae() throws Exception {
        // a VAE that cannot decode these latents (8 latent channels): LATENTS must never touch it, FRAMES fails in it
        ObjectNode cfg = golden.config("config.vae").deepCopy();
        cfg.put("latent_channels", 8);
        AutoencoderKL broken = new AutoencoderKL(VaeConfig.fromJson(cfg).config());
        broken.eval();
        TextToVideoPipeline p = new TextToVideoPipeline(null, null, parts.unet(), broken, parts.scheduler());
        GenerateResult r = p.generate(small().build());
        assertFalse(r.hasVideo());
        assertNull(r.video());
        assertThrows(IllegalStateException.class, r::videoUint8);
        assertThrows(IllegalArgumentException.class, () -> p.generate(small().outputType(OutputType.FRAMES).build()));
    }

    @Test
    void framesAreDecodedAndConverted() {
        GenerateResult r = parts.pipeline().generate(small().outputType(OutputType.FRAMES).framesPerSlice(1).build());
        assertArrayEquals(new long[]{1, 3, 2, 32, 32}, r.video().shape());
        INDArray v01 = r.video01();
        assertTrue(v01.minNumber().doubleValue() >= 0 && v01.maxNumber().doubleValue() <= 1);
        INDArray u8 = r.videoUint8();
        assertEquals(DataType.UBYTE, u8.dataType());
        assertArrayEquals(new long[]{1, 2, 32, 32, 3}, u8.shape());
        // frame-sliced decode equals decoding all frames at once
        GenerateResult all = parts.pipeline().generate(small().outputType(OutputType.FRAMES).framesPerSlice(2).build());
        assertTrue(all.video().equalsWithEps(r.video(), 1e-5));
    }

    @Test
    void guidanceOneIgnoresTheNegative() {
        INDArray zeros = Nd4j.zerosLike(uncond);
        INDArray a = parts.pipeline().generate(small().guidanceScale(1.0).seed(7).build()).latents();
        INDArray b = parts.pipeline().generate(small().embeddings(cond, zeros).guidanceScale(1.0).seed(7).build()).latents();
        assertEquals(a, b);
    }
}
