package org.lavie4j.nn.clip;

import org.lavie4j.core.TestSeeds;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.GradAssert;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.Comparison;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CLIPTextModelTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Module initialisation draws from ND4J's global generator: seed it so every test sees the same weights. */
    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    /** A very small config for gradient checks and property tests: 2 layers, 2 heads of 4, 7 positions. */
    private static CLIPTextConfig micro(CLIPTextConfig.Activation act) {
        return new CLIPTextConfig(20, 8, 6, 2, 2, 7, act, 1e-5);
    }

    private static CLIPTextModel goldenTiny() throws IOException {
        CLIPTextModel m = new CLIPTextModel(CLIPTextConfig.tiny());
        try (TensorFile w = SafeTensors.read(TestData.goldenCase("clip_text").resolve("weights.safetensors"))) {
            m.load(StateDict.of(w.path().toString(), w.asMap()));
        }
        m.eval();
        return m;
    }

    private static INDArray run(CLIPTextModel m, INDArray ids) {
        try (Tape off = Grad.disabled()) {
            return m.forward(Tensor.of(ids)).data().dup();
        }
    }

    private static INDArray ids(long[][] rows) {
        return Nd4j.createFromArray(rows);
    }

    @Test void goldenCasePassesWithinTolerance() throws Exception {
        CaseResult r = GoldenRunner.discover().run(TestData.goldenCase("clip_text"));
        r.outputs().forEach(c -> System.out.println("golden " + r.caseName() + " " + c));
        assertEquals(Comparison.Status.PASS, r.status(), r.toString());
    }

    @Test void embeddingsMatchTheReferenceTrace() throws Exception {
        Path dir = TestData.goldenCase("clip_text");
        CLIPTextModel m = goldenTiny();
        CLIPTextEmbeddings emb = (CLIPTextEmbeddings) m.children().get("text_model").children().get("embeddings");
        try (TensorFile io = SafeTensors.read(dir.resolve("io.safetensors"));
             TensorFile trace = SafeTensors.read(dir.resolve("trace.safetensors"));
             Tape off = Grad.disabled()) {
            INDArray ids = io.asMap().get("in.input_ids").load();
            INDArray ours = emb.forward(Tensor.of(ids)).data();
            INDArray ref = trace.asMap().get("forward/text_model.embeddings").load(DataType.FLOAT);
            assertArrayEquals(ref.shape(), ours.shape());
            assertTrue(ours.sub(ref).amaxNumber().doubleValue() < 1e-6);
        }
    }

    @Test void sd14HasExactlyTheKeysShapesAndDtypesOfTheRealCheckpoint() {
        CLIPTextModel m = new CLIPTextModel(CLIPTextConfig.sd14());
        Manifest.assertMatches("clip_vit_l14_text", m.stateDict());
        assertEquals(197, m.stateDict().size());
        assertEquals(123060480L, m.parameterCount());   // the manifest header: floating-point elements (position ids excluded)
    }

    @Test void positionIdsStayInt64AfterLoading() throws IOException {
        Parameter ids = goldenTiny().namedEntries().get("text_model.embeddings.position_ids");
        assertEquals(DataType.LONG, ids.dtype());
        assertTrue(ids.isBuffer());
        assertEquals(Nd4j.arange(0, 77).castTo(DataType.LONG).reshape(1, 77), ids.data());
    }

    @Test void gradientsOfParametersInDouble() {
        TestSeeds.seed(7);
        CLIPTextModel m = new CLIPTextModel(micro(CLIPTextConfig.Activation.QUICK_GELU));
        m.to(DataType.DOUBLE);
        INDArray ids = ids(new long[][]{{18, 3, 5, 19}, {18, 7, 19, 19}});
        Map<String, Parameter> p = m.namedEntries();
        String l0 = "text_model.encoder.layers.0.";   // (k_proj.bias has an exactly zero gradient: softmax ignores a per-row shift)
        GradAssert.assertParameterGradients("clip_text quick_gelu", () -> m.forward(Tensor.of(ids)),
                p.get(l0 + "self_attn.q_proj.weight"), p.get(l0 + "self_attn.k_proj.weight"), p.get(l0 + "self_attn.v_proj.bias"),
                p.get(l0 + "mlp.fc1.weight"), p.get("text_model.embeddings.position_embedding.weight"),
                p.get("text_model.final_layer_norm.bias"));

        CLIPTextModel g = new CLIPTextModel(new CLIPTextConfig(20, 8, 6, 1, 2, 7, CLIPTextConfig.Activation.GELU, 1e-5));
        g.to(DataType.DOUBLE);
        GradAssert.assertParameterGradients("clip_text gelu", () -> g.forward(Tensor.of(ids)),
                g.namedEntries().get(l0 + "mlp.fc1.weight"));
    }

    @Test void attentionIsCausalAndPaddingIsNotMasked() throws IOException {
        CLIPTextModel m = goldenTiny();
        long[] row = new long[77];
        Arrays.fill(row, 999);
        row[0] = 998;
        row[1] = 5;
        row[2] = 999;
        INDArray a = run(m, ids(new long[][]{row}));
        long[] changed = row.clone();
        changed[40] = 17;    // a padding position
        INDArray b = run(m, ids(new long[][]{changed}));
        INDArray before = a.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 40), NDArrayIndex.all());
        assertEquals(before, b.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 40), NDArrayIndex.all()), "earlier positions must not see later tokens");
        // later positions do see it: no padding mask
        assertTrue(a.get(NDArrayIndex.all(), NDArrayIndex.point(41), NDArrayIndex.all())
                .sub(b.get(NDArrayIndex.all(), NDArrayIndex.point(41), NDArrayIndex.all())).amaxNumber().doubleValue() > 1e-4);
    }

    @Test void samplesOfABatchAreIndependentAndShorterSequencesArePrefixes() throws IOException {
        CLIPTextModel m = goldenTiny();
        INDArray both = run(m, ids(new long[][]{{998, 1, 2, 3, 999}, {998, 4, 999, 999, 999}}));
        INDArray second = run(m, ids(new long[][]{{998, 4, 999, 999, 999}}));
        assertArrayEquals(new long[]{2, 5, 32}, both.shape());
        assertTrue(both.get(NDArrayIndex.point(1)).sub(second.get(NDArrayIndex.point(0))).amaxNumber().doubleValue() < 1e-6);
        INDArray prefix = run(m, ids(new long[][]{{998, 1, 2}}));
        assertTrue(both.get(NDArrayIndex.point(0), NDArrayIndex.interval(0, 3)).sub(prefix.get(NDArrayIndex.point(0)))
                .amaxNumber().doubleValue() < 1e-6);
    }

    @Test void geluAndQuickGeluDiffer() {
        TestSeeds.seed(3);
        CLIPTextModel quick = new CLIPTextModel(micro(CLIPTextConfig.Activation.QUICK_GELU));
        CLIPTextModel exact = new CLIPTextModel(micro(CLIPTextConfig.Activation.GELU));
        exact.load(quick.stateDict());
        INDArray x = ids(new long[][]{{1, 2, 3}});
        double d = run(quick, x).sub(run(exact, x)).amaxNumber().doubleValue();
        assertTrue(d > 1e-7 && d < 0.5, "difference " + d);
    }

    @Test void badInputIsRejectedWithAClearError() throws IOException {
        CLIPTextModel m = goldenTiny();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(m, ids(new long[][]{{998, 1, 2}, {998, 3, 1000}})));
        assertTrue(e.getMessage().contains("input_ids[1, 2]") && e.getMessage().contains("[0, 1000)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(m, ids(new long[][]{{998, -1}})));
        assertTrue(e.getMessage().contains("input_ids[0, 1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(m, Nd4j.zeros(DataType.LONG, 1, 78)));
        assertTrue(e.getMessage().contains("78") && e.getMessage().contains("max_position_embeddings 77"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(m, Nd4j.zeros(DataType.LONG, 77)));
        assertTrue(e.getMessage().contains("(batch, length)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(m, Nd4j.createFromArray(new float[][]{{998f, 2.5f}})));
        assertTrue(e.getMessage().contains("2.5"), e.getMessage());
        // float ids holding integers are accepted and give the same result
        assertEquals(run(m, ids(new long[][]{{998, 2}})), run(m, Nd4j.createFromArray(new float[][]{{998f, 2f}})));
    }

    @Test void configFromTransformersJson() throws IOException {
        JsonNode json = JSON.readTree(TestData.reference().resolve("configs/clip_vit_l14_text.json").toFile());
        CLIPTextConfig.Parsed parsed = CLIPTextConfig.fromJson(json);
        assertEquals(CLIPTextConfig.sd14(), parsed.config());
        assertTrue(parsed.ignoredKeys().containsAll(java.util.List.of("projection_dim", "bos_token_id", "eos_token_id", "pad_token_id")),
                parsed.ignoredKeys().toString());

        ObjectNode golden = (ObjectNode) JSON.readTree(TestData.goldenCase("clip_text").resolve("case.json").toFile()).get("config");
        assertEquals(CLIPTextConfig.tiny(), CLIPTextConfig.fromJson(golden).config());

        ObjectNode openClipH = golden.deepCopy();
        openClipH.put("hidden_act", "gelu").put("dropout", 0.0).putNull("attention_dropout");
        assertEquals(CLIPTextConfig.Activation.GELU, CLIPTextConfig.fromJson(openClipH).config().hiddenAct());

        // absent keys take transformers' CLIPTextConfig defaults
        CLIPTextConfig defaults = CLIPTextConfig.fromJson(JSON.createObjectNode()).config();
        assertEquals(new CLIPTextConfig(49408, 512, 2048, 12, 8, 77, CLIPTextConfig.Activation.QUICK_GELU, 1e-5), defaults);
    }

    @Test void unsupportedConfigValuesAreErrors() {
        assertConfigError(c -> c.put("hidden_act", "relu"), "hidden_act");
        assertConfigError(c -> c.put("dropout", 0.1), "dropout");
        assertConfigError(c -> c.put("hidden_size", "32"), "hidden_size");
        assertConfigError(c -> c.put("num_attention_heads", 5), "not divisible");
        assertConfigError(c -> c.put("layer_norm_eps", 0), "layer_norm_eps");
        assertConfigError(c -> c.putObject("text_config"), "text_config");
        assertThrows(IllegalArgumentException.class, () -> CLIPTextConfig.fromJson(JSON.createArrayNode()));
    }

    private static void assertConfigError(java.util.function.Consumer<ObjectNode> edit, String mentions) {
        ObjectNode c = JSON.createObjectNode().put("hidden_size", 32).put("num_attention_heads", 4);
        edit.accept(c);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CLIPTextConfig.fromJson(c));
        assertTrue(e.getMessage().contains(mentions), e.getMessage());
    }
}
