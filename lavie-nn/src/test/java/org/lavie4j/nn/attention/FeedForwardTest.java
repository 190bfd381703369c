package org.lavie4j.nn.attention;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.lavie4j.core.GradAssert;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.apache.commons.math3.special.Erf;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class FeedForwardTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void keysAreDiffusers() {
        FeedForward ff = new FeedForward(80);
        assertEquals(List.of("net.0.proj.weight", "net.0.proj.bias", "net.2.weight", "net.2.bias"), List.copyOf(ff.stateDict().keys()));
        assertArrayEquals(new long[]{640, 80}, ff.namedEntries().get("net.0.proj.weight").shape());
        assertArrayEquals(new long[]{80, 320}, ff.namedEntries().get("net.2.weight").shape());
    }

    /**
     * Against the reference's own intermediate outputs: layer_transformer3d's trace holds the FF input
     * ({@code norm3}), the GEGLU output ({@code ff.net.0}) and the FF output ({@code ff.net.2}).
     */
    @Test void matchesTheTransformer3dTrace() throws Exception {
        Path dir = TestData.goldenCase("layer_transformer3d");
        try (TensorFile w = SafeTensors.read(dir.resolve("weights.safetensors"));
             TensorFile trace = SafeTensors.read(dir.resolve("trace.safetensors"))) {
            FeedForward ff = new FeedForward(80);
            ff.load(StateDict.of("layer_transformer3d", w.asMap()).withoutPrefix("transformer_blocks.0.ff."));
            assertEquals(4, ff.namedEntries().size());
            INDArray in = trace.get("forward/transformer_blocks.0.norm3").load();
            INDArray geglu = trace.get("forward/transformer_blocks.0.ff.net.0").load();
            INDArray out = trace.get("forward/transformer_blocks.0.ff.net.2").load();
            GEGLU g = (GEGLU) ff.children().get("net").children().get("0");
            double errG = g.forward(Tensor.of(in)).data().sub(geglu).amaxNumber().doubleValue();
            double errF = ff.forward(Tensor.of(in)).data().sub(out).amaxNumber().doubleValue();
            System.out.printf("FeedForward vs layer_transformer3d trace: ff.net.0 %.3e (max |ref| %.3f), ff.net.2 %.3e (max |ref| %.3f)%n",
                    errG, geglu.amaxNumber().doubleValue(), errF, out.amaxNumber().doubleValue());
            assertTrue(errG <= 1e-5 + 1e-4 * geglu.amaxNumber().doubleValue(), "GEGLU max error " + errG);
            assertTrue(errF <= 1e-5 + 1e-4 * out.amaxNumber().doubleValue(), "FeedForward max error " + errF);
        }
    }

    /** GEGLU against a loop: value = first half, gate = second half, exact erf GELU. */
    @Test void gegluMatchesNaiveLoop() {
        TestSeeds.seed(31);
        GEGLU g = new GEGLU(5, 3);
        g.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(32, 2, 4, 5).muli(3);
        INDArray got = g.forward(Tensor.of(x)).data();
        Map<String, Parameter> p = g.namedEntries();
        INDArray h = CrossAttentionTest.linear(x, p.get("proj.weight").data(), p.get("proj.bias").data()); // (2, 4, 6)
        double err = 0;
        for (int b = 0; b < 2; b++)
            for (int l = 0; l < 4; l++)
                for (int c = 0; c < 3; c++) {
                    double a = h.getDouble(b, l, c), gate = h.getDouble(b, l, c + 3);
                    double expected = a * 0.5 * gate * (1 + Erf.erf(gate / Math.sqrt(2)));
                    err = Math.max(err, Math.abs(expected - got.getDouble(b, l, c)));
                }
        System.out.printf("GEGLU vs naive loop (double): %.3e%n", err);
        assertTrue(err < 1e-12, "max error " + err);
    }

    @Test void gradientCheckInDouble() {
        FeedForward ff = new FeedForward(6, 5, 4);
        ff.to(DataType.DOUBLE);
        INDArray x = GradAssert.rand(33, 2, 3, 6);
        GradAssert.assertGradients("FeedForward (x)", t -> ff.forward(t[0]), x);
        Map<String, Parameter> p = ff.namedEntries();
        GradAssert.assertParameterGradients("FeedForward (net.0.proj.weight)", () -> ff.forward(Tensor.of(x)), p.get("net.0.proj.weight"));
        GradAssert.assertParameterGradients("FeedForward (net.2.bias)", () -> ff.forward(Tensor.of(x)), p.get("net.2.bias"));
    }

    @Test void badInputsAreNamed() {
        FeedForward ff = new FeedForward(8);
        var e = assertThrows(IllegalArgumentException.class, () -> ff.forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 2, 3, 7))));
        assertTrue(e.getMessage().contains("[2, 3, 7]") && e.getMessage().contains("8"), e.getMessage());
    }
}
