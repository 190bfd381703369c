package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Timesteps and TimestepEmbedding, checked against the unet_base trace (t = 937). */
class TimestepEmbeddingTest {

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    // unet_base's case tolerance
    private static final double RTOL = 1e-4, ATOL = 1.6e-5;

    @Test void matchesTheUnetBaseTrace() throws Exception {
        Path dir = TestData.goldenCase("unet_base");
        try (TensorFile io = TensorFile.open(dir.resolve("io.safetensors"));
             TensorFile trace = TensorFile.open(dir.resolve("trace.safetensors"));
             TensorFile weights = TensorFile.open(dir.resolve("weights.safetensors"))) {
            JsonNode aliases = new ObjectMapper().readTree(trace.metadata().get("aliases"));
            Timesteps proj = new Timesteps(32, true, 0);
            Tensor sinusoid = proj.forward(Tensor.of(io.get("in.timestep").load()));
            compare("forward/time_proj", sinusoid.data(), traced(trace, aliases, "forward/time_proj"));

            TimestepEmbedding embedding = new TimestepEmbedding(32, 128);
            embedding.load(StateDict.of(dir.resolve("weights.safetensors").toString(), weights.asMap()).withoutPrefix("time_embedding."));
            INDArray expected = traced(trace, aliases, "forward/time_embedding");
            compare("forward/time_embedding", embedding.forward(sinusoid).data(), expected);
            // the embedding alone, fed the reference's own sinusoid (isolates it from exp/sin rounding in Timesteps)
            Tensor referenceSinusoid = Tensor.of(traced(trace, aliases, "forward/time_proj"));
            compare("forward/time_embedding (from traced time_proj)", embedding.forward(referenceSinusoid).data(), expected);
        }
    }

    private static INDArray traced(TensorFile trace, JsonNode aliases, String key) {
        String stored = trace.contains(key) ? key : aliases.path(key).asText(key);
        return trace.get(stored).load();
    }

    private static void compare(String key, INDArray actual, INDArray expected) {
        assertArrayEquals(expected.shape(), actual.shape(), key);
        INDArray a = actual.castTo(DataType.DOUBLE), e = expected.castTo(DataType.DOUBLE);
        double maxAbs = 0;
        for (long i = 0; i < e.length(); i++) {
            double d = Math.abs(a.getDouble(i) - e.getDouble(i));
            maxAbs = Math.max(maxAbs, d);
            assertTrue(d <= ATOL + RTOL * Math.abs(e.getDouble(i)), key + " element " + i + ": " + a.getDouble(i) + " vs " + e.getDouble(i));
        }
        System.out.printf("trace %s max_abs_err=%.3e%n", key, maxAbs);
    }

    @Test void sinusoidLayout() {
        Tensor t = Tensor.of(Nd4j.createFromArray(0L, 10L));
        INDArray flipped = new Timesteps(8, true, 0).forward(t).data();
        INDArray plain = new Timesteps(8, false, 0).forward(t).data();
        assertArrayEquals(new long[]{2, 8}, flipped.shape());
        for (int i = 0; i < 4; i++) {
            assertEquals(1f, flipped.getFloat(0, i));          // cos(0) first with flip_sin_to_cos
            assertEquals(0f, flipped.getFloat(0, 4 + i));
            assertEquals(flipped.getFloat(1, i), plain.getFloat(1, 4 + i));
            assertEquals(flipped.getFloat(1, 4 + i), plain.getFloat(1, i));
            double freq = Math.exp(-Math.log(10000) * i / 4);
            assertEquals(Math.cos(10 * freq), flipped.getFloat(1, i), 1e-5);
        }
        INDArray odd = new Timesteps(7, true, 1).forward(Tensor.of(Nd4j.createFromArray(5.5f))).data();
        assertArrayEquals(new long[]{1, 7}, odd.shape());
        assertEquals(0f, odd.getFloat(0, 6));
        assertEquals(Math.cos(5.5 * Math.exp(-Math.log(10000) * 2 / 2)), odd.getFloat(0, 2), 1e-5);   // shift 1: i / (half − 1)
    }

    @Test void keys() {
        assertEquals(List.of("linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias"),
                List.copyOf(new TimestepEmbedding(32, 128).stateDict().keys()));
        assertEquals(0, new Timesteps(32, true, 0).stateDict().size());
    }

    @Test void gradientChecks() {
        TestSeeds.seed(4);
        TimestepEmbedding embedding = new TimestepEmbedding(6, 10);
        embedding.to(DataType.DOUBLE);
        GradAssert.assertGradients("TimestepEmbedding (input)", t -> embedding.forward(t[0]), GradAssert.rand(1, 3, 6));
        Tensor x = Tensor.of(GradAssert.rand(2, 3, 6));
        for (String key : List.of("linear_1.weight", "linear_2.bias")) {
            GradAssert.assertParameterGradients("TimestepEmbedding " + key, () -> embedding.forward(x), embedding.namedEntries().get(key));
        }
    }

    @Test void wrongWidthIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> new TimestepEmbedding(32, 128).forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 30))));
        assertTrue(e.getMessage().contains("[1, 30]") && e.getMessage().contains("32"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Timesteps(32, true, 0).forward(Tensor.of(Nd4j.zeros(DataType.FLOAT, 1, 1))));
    }
}
