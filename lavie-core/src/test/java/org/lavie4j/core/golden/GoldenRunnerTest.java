package org.lavie4j.core.golden;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GoldenRunnerTest {

    /** y = 2x with a configurable perturbation and output key. */
    private record Doubler(String kind, float delta, String key) implements CaseRunner {
        @Override
        public Map<String, INDArray> run(GoldenCase c) {
            return Map.of(key, c.input("x").mul(2).add(delta));
        }
    }

    @Test
    void passesFailsAndNamesMissingOutputs(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "layer_inflated_conv");
        CaseResult ok = new GoldenRunner(Map.of("layer_inflated_conv", new Doubler("layer_inflated_conv", 0, "out.y"))).run(dir);
        assertEquals(Comparison.Status.PASS, ok.status());
        assertEquals(1, ok.outputs().size());
        assertEquals("y", ok.outputs().get(0).output());

        CaseResult bad = new GoldenRunner(Map.of("layer_inflated_conv", new Doubler("layer_inflated_conv", 0.1f, "out.y"))).run(dir);
        assertEquals(Comparison.Status.FAIL, bad.status());
        assertEquals(0.1, bad.outputs().get(0).maxAbsErr(), 1e-6);

        CaseResult missing = new GoldenRunner(Map.of("layer_inflated_conv", new Doubler("layer_inflated_conv", 0, "y"))).run(dir);
        assertEquals(Comparison.Status.FAIL, missing.status());
        assertTrue(missing.outputs().get(0).message().contains("out.y"), missing.outputs().get(0).message());
    }

    @Test
    void runnerExceptionsFailEveryOutput(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "vae");
        CaseRunner boom = new CaseRunner() {
            @Override public String kind() { return "vae"; }
            @Override public Map<String, INDArray> run(GoldenCase c) { throw new IllegalStateException("boom"); }
        };
        CaseResult r = new GoldenRunner(Map.of("vae", boom)).run(dir);
        assertEquals(Comparison.Status.FAIL, r.status());
        assertTrue(r.outputs().get(0).message().contains("boom"));
    }

    @Test
    void knownKindWithoutRunnerIsNotImplementedNeverPassed() throws Exception {
        CaseResult r = new GoldenRunner(Map.of()).run(TestData.goldenCase("unet_vsr"));
        assertEquals(Comparison.Status.NOT_IMPLEMENTED, r.status());
        assertEquals(1, r.outputs().size());
        assertEquals(Comparison.Status.NOT_IMPLEMENTED, r.outputs().get(0).status());
    }

    @Test
    void unknownKindIsADistinctError(@TempDir Path tmp) throws Exception {
        Path dir = CaseFixture.writeCase(tmp, "c", "layer_flux_capacitor");
        UnknownKindException e = assertThrows(UnknownKindException.class, () -> new GoldenRunner(Map.of()).run(dir));
        assertEquals("layer_flux_capacitor", e.kind());
        assertTrue(e.getMessage().contains("layer_inflated_conv"), "lists the known kinds: " + e.getMessage());
        // a registered runner makes a new kind known
        CaseResult r = new GoldenRunner(Map.of("layer_flux_capacitor", new Doubler("layer_flux_capacitor", 0, "out.y"))).run(dir);
        assertEquals(Comparison.Status.PASS, r.status());
    }

    @Test
    void registryMustAgreeWithRunnerKind() {
        assertThrows(IllegalArgumentException.class,
                () -> new GoldenRunner(Map.of("vae", new Doubler("unet_base", 0, "out.y"))));
    }

    @Test
    void discoveryWorksWithoutRegisteredRunners() {
        GoldenRunner r = GoldenRunner.discover(); // lavie-core registers none; lavie-nn registers its own
        assertTrue(r.knownKinds().containsAll(GoldenRunner.KNOWN_KINDS));
        assertTrue(Files.isDirectory(TestData.golden()));
    }
}
