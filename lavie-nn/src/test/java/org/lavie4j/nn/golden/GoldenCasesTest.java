package org.lavie4j.nn.golden;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.Comparison;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.testing.TestData;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every shipped golden case of every kind lavie-nn implements must pass within its tolerance. */
class GoldenCasesTest {
    private final GoldenRunner runner = GoldenRunner.discover();

    @Test void runnersAreRegistered() {
        assertTrue(runner.implementedKinds().contains("layer_inflated_conv"), runner.implementedKinds().toString());
    }

    @Test void layerInflatedConv() throws Exception {
        CaseResult r = runner.run(TestData.goldenCase("layer_inflated_conv"));
        r.outputs().forEach(c -> System.out.println("golden " + c));
        assertEquals(Comparison.Status.PASS, r.status(), r.toString());
    }
}
