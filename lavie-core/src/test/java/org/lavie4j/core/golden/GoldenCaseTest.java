package org.lavie4j.core.golden;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GoldenCaseTest {

    static List<Path> shippedCases() throws IOException {
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> s = Files.list(TestData.golden())) {
            s.filter(GoldenCase::isCaseDir).sorted().forEach(dirs::add);
        }
        return dirs;
    }

    @Test
    void readsEveryShippedCase() throws Exception {
        List<Path> dirs = shippedCases();
        assertEquals(GoldenRunner.KNOWN_KINDS.size(), dirs.size(), "one shipped case per kind: " + dirs);
        for (Path dir : dirs) {
            try (GoldenCase c = GoldenCase.open(dir)) {
                assertEquals(dir.getFileName().toString(), c.kind(), "kind = directory name");
                assertTrue(GoldenRunner.KNOWN_KINDS.contains(c.kind()), c.kind());
                assertFalse(c.outputs().isEmpty());
                assertTrue(c.calls().isArray(), c.name() + " calls");
                for (String out : c.outputs().keySet()) {
                    Tolerance.Applied rule = c.ruleFor(out);
                    if (!c.outputs().get(out).dtype().isFloatingPoint()) {
                        assertFalse(rule.rule() instanceof Tolerance.Close, c.name() + "/" + out + ": ints never on rtol/atol");
                    }
                }
                assertEquals(Files.exists(dir.resolve("weights.safetensors")), c.hasWeights());
            }
        }
    }

    @Test
    void exposesInputsExpectedWeightsAndConfig() throws Exception {
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("layer_inflated_conv"))) {
            assertEquals("layer_inflated_conv", c.name());
            assertEquals(16, c.config().get("in_channels").asInt());
            assertEquals(c.config(), c.config("config"));
            assertEquals("config", c.objects().get("module").get("config").asText());
            INDArray x = c.input("x");
            assertArrayEquals(new long[]{1, 16, 3, 6, 8}, x.shape());
            assertEquals(DataType.FLOAT, x.dataType());
            assertArrayEquals(new long[]{1, 32, 3, 6, 8}, c.expected("y").shape());
            assertEquals(DataType.DOUBLE, c.input("x", DataType.DOUBLE).dataType());
            assertTrue(new ArrayList<>(c.weights().keys()).contains("weight"));
            assertEquals(new Tolerance.Close(1e-4, 1.3e-5), c.ruleFor("y").rule());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.input("nope"));
            assertTrue(e.getMessage().contains("in.nope"), e.getMessage());
        }
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("pipeline_base"))) {
            assertEquals(c.config().get("unet"), c.config("config.unet"));
            assertInstanceOf(Tolerance.MaxAbsDiff.class, c.ruleFor("video_uint8").rule());
        }
    }

    @Test
    void schedulersAndTokenizerHaveNoWeights() throws Exception {
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("tokenizer"))) {
            assertFalse(c.hasWeights());
            assertThrows(IOException.class, c::weights);
            assertInstanceOf(Tolerance.Exact.class, c.ruleFor("input_ids").rule());
        }
    }

    @Test
    void syntheticCaseOpens(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "mine", "layer_inflated_conv");
        try (GoldenCase c = GoldenCase.open(dir)) {
            assertEquals("mine", c.name());
            assertArrayEquals(new float[]{2, 4}, c.expected("y").toFloatVector());
        }
    }

    private static String malformed(Path dir) {
        return assertThrows(MalformedCaseException.class, () -> GoldenCase.open(dir).close()).getMessage();
    }

    @Test
    void missingDirectoryCaseJsonOrIo(@TempDir Path tmp) throws Exception {
        assertTrue(malformed(tmp.resolve("absent")).contains("not a directory"));
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertTrue(malformed(empty).contains("no case.json"), malformed(empty));
        Files.writeString(empty.resolve("case.json"), CaseFixture.caseJson("vae"));
        assertTrue(malformed(empty).contains("no io.safetensors"), malformed(empty));
    }

    @Test
    void badCaseJson(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "vae");
        Files.writeString(dir.resolve("case.json"), "{\"kind\": ");
        assertTrue(malformed(dir).contains("not valid JSON"), malformed(dir));
        Files.writeString(dir.resolve("case.json"), "[1, 2]");
        assertTrue(malformed(dir).contains("JSON object"), malformed(dir));
        Files.writeString(dir.resolve("case.json"), CaseFixture.caseJson("vae").replace("\"kind\": \"vae\",", ""));
        assertTrue(malformed(dir).contains("no 'kind'"), malformed(dir));
        Files.writeString(dir.resolve("case.json"), CaseFixture.caseJson("vae").replace("\"rtol\": 1e-4, ", ""));
        assertTrue(malformed(dir).contains("tolerance.default"), malformed(dir));
        Files.writeString(dir.resolve("case.json"), CaseFixture.caseJson("vae").replace("\"F32\"}}, \"tolerance\"", "\"Q7\"}}, \"tolerance\""));
        assertTrue(malformed(dir).contains("unknown safetensors dtype 'Q7'"), malformed(dir));
    }

    @Test
    void outputsListedButAbsentFromIo(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "vae");
        new CaseFixture().f32("in.x", new float[]{1, 2}, 2).writeIo(dir);
        String m = malformed(dir);
        assertTrue(m.contains("io.safetensors") && m.contains("out.y") && m.contains("absent"), m);
    }

    @Test
    void ioTensorDisagreesWithDeclaration(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "vae");
        new CaseFixture().f32("in.x", new float[]{1, 2}, 2).i64("out.y", new float[]{2, 4}, 2).writeIo(dir);
        String m = malformed(dir);
        assertTrue(m.contains("'out.y' is I64[2] but case.json declares F32[2]"), m);
    }

    @Test
    void unreadableIoFile(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "vae");
        Files.write(dir.resolve("io.safetensors"), new byte[]{1, 2, 3});
        String m = malformed(dir);
        assertTrue(m.contains("io.safetensors") && m.contains("cannot read"), m);
    }
}
