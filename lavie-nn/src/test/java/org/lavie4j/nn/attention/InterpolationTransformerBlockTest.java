package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The interpolation variant of {@link BasicTransformerBlock} / {@link Transformer3DModel} (interpolation-unet.md §1.1). */
class InterpolationTransformerBlockTest {
    private static final Path CASE = TestData.goldenCase("unet_interp");

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void keysInTheReferenceOrder() {
        BasicTransformerBlock block = BasicTransformerBlock.interpolation(320, 8, 40, 768, true);
        String prefix = "down_blocks.0.attentions.0.transformer_blocks.0.";
        List<String> expected = Manifest.read("lavie_interpolation_unet").keySet().stream()
                .filter(k -> k.startsWith(prefix)).map(k -> k.substring(prefix.length())).toList();
        assertEquals(27, expected.size());
        assertEquals(expected, List.copyOf(block.stateDict().keys()));
        assertEquals(BlockVariant.INTERPOLATION, block.variant());
        assertTrue(block.sparseCausal());
        assertEquals(0.0, block.attnTempPlain().namedEntries().get("to_out.0.weight").data().amaxNumber().doubleValue(), 0.0,
                "a fresh temporal branch starts with a zero output weight, as the reference");
        assertThrows(IllegalStateException.class, block::attnTemp);
        assertThrows(IllegalStateException.class, () -> new BasicTransformerBlock(32, 1, 32, 8, null).attnTempPlain());
    }

    /** One Transformer3DModel of the unet_interp golden model against its trace: resnet output in, attention output out. */
    @Test void matchesTheUNetInterpTrace() throws Exception {
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"));
             TensorFile io = SafeTensors.read(CASE.resolve("io.safetensors"));
             TensorFile trace = SafeTensors.read(CASE.resolve("trace.safetensors"))) {
            StateDict sd = StateDict.of("unet_interp", w.asMap());
            INDArray ctx = io.get("in.encoder_hidden_states").load();
            // level 0: 32 channels, 1 head of 32; the mid block: 64 channels, 2 heads of 32
            String[][] slots = {{"down_blocks.0.attentions.0", "down_blocks.0.resnets.0", "32", "1"},
                                {"mid_block.attentions.0", "mid_block.resnets.0", "64", "2"}};
            for (String[] s : slots) {
                int c = Integer.parseInt(s[2]), heads = Integer.parseInt(s[3]);
                Transformer3DModel m = new Transformer3DModel(c, 8, BasicTransformerBlock.interpolation(c, heads, c / heads, 32, true));
                m.load(sd.withoutPrefix(s[0] + "."));
                m.eval();
                INDArray expected = trace.get("forward/" + s[0] + ".sample").load();
                INDArray got;
                try (Tape off = Grad.disabled()) {
                    INDArray x = trace.get("forward/" + s[1]).load();
                    got = m.forward(Tensor.of(x), Tensor.of(ctx), FrameLayout.video((int) x.size(2))).data();
                }
                double err = got.sub(expected).amaxNumber().doubleValue(), scale = expected.amaxNumber().doubleValue();
                System.out.printf("interpolation Transformer3DModel %s vs unet_interp trace: %.3e (max |ref| %.3f)%n", s[0], err, scale);
                assertTrue(err <= 1e-5 + 1e-4 * scale, s[0] + ": max error " + err);
            }
        }
    }

    @Test void gradientCheckInDouble() {
        Transformer3DModel m = new Transformer3DModel(16, 4, BasicTransformerBlock.interpolation(16, 2, 8, 6, true));
        m.to(DataType.DOUBLE);
        // the zero-initialised temporal output weight would hide the temporal branch's input gradients
        m.namedEntries().get("transformer_blocks.0.attn_temp.to_out.0.weight").data().assign(GradAssert.rand(50, 16, 16).muli(0.5));
        GradAssert.assertGradients("interp Transformer3DModel (x, context)", t -> m.forward(t[0], t[1], FrameLayout.video(3)),
                GradAssert.rand(51, 1, 16, 3, 2, 2), GradAssert.rand(52, 1, 5, 6));
        INDArray x = GradAssert.rand(53, 2, 16, 3, 2, 1), ctx = GradAssert.rand(54, 2, 5, 6);   // B = 2
        var p = m.namedEntries();
        for (String key : new String[]{"attn1.to_k.weight", "attn_temp.to_q.weight"})
            GradAssert.assertParameterGradients("interp block (" + key + ")", () -> m.forward(Tensor.of(x), Tensor.of(ctx), FrameLayout.video(3)),
                    p.get("transformer_blocks.0." + key));
    }

    @Test void shapesAndRejectedJointLayout() {
        Transformer3DModel m = new Transformer3DModel(16, 4, BasicTransformerBlock.interpolation(16, 2, 8, 6, false));
        try (Tape off = Grad.disabled()) {
            Tensor y = m.forward(Tensor.of(Nd4j.randn(DataType.FLOAT, 2, 16, 4, 3, 5)), Tensor.of(Nd4j.randn(DataType.FLOAT, 2, 7, 6)), FrameLayout.video(4));
            assertArrayEquals(new long[]{2, 16, 4, 3, 5}, y.shape());
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(Tensor.of(Nd4j.randn(DataType.FLOAT, 1, 16, 4, 2, 2)),
                    Tensor.of(Nd4j.randn(DataType.FLOAT, 1, 3, 7, 6)), new FrameLayout(2, 2)));
            assertTrue(e.getMessage().contains("interpolation"), e.getMessage());
        }
    }
}
