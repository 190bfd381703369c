package org.lavie4j.nn.golden;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.Comparison;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.testing.TestData;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every shipped golden case of every kind lavie-nn implements must pass within its tolerance. */
class GoldenCasesTest {
    private static final GoldenRunner RUNNER = GoldenRunner.discover();

    /** The shipped case directories whose kind has a runner. */
    static List<Path> implementedCases() throws IOException {
        try (Stream<Path> dirs = Files.list(TestData.golden())) {
            return dirs.filter(GoldenCase::isCaseDir).filter(d -> {
                try (GoldenCase c = GoldenCase.open(d)) {
                    return RUNNER.implementedKinds().contains(c.kind());
                } catch (Exception e) {
                    throw new IllegalStateException(d + ": " + e.getMessage(), e);
                }
            }).sorted().toList();
        }
    }

    @Test void runnersAreRegistered() {
        assertTrue(RUNNER.implementedKinds().contains("layer_inflated_conv"), RUNNER.implementedKinds().toString());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementedCases")
    void passes(Path dir) throws Exception {
        CaseResult r = RUNNER.run(dir);
        r.outputs().forEach(c -> System.out.println("golden " + r.caseName() + " " + c));
        assertEquals(Comparison.Status.PASS, r.status(), r.toString());
    }

    /**
     * The same cases with every Winograd convolution on F(4×4, 3×3) ({@code lavie.conv.winogradTile=4}): the golden
     * images are too narrow for the default choice to take it (lavie-core's WinogradConv.Tile.choose), full-size
     * inference takes it on its large levels, so the reference checks its accuracy here.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementedCases")
    void passesWithTheF4WinogradTileEverywhere(Path dir) throws Exception {
        String key = "lavie.conv.winogradTile", was = System.getProperty(key);
        System.setProperty(key, "4");
        try {
            CaseResult r = RUNNER.run(dir);
            r.outputs().forEach(c -> System.out.println("golden F4 " + r.caseName() + " " + c));
            assertEquals(Comparison.Status.PASS, r.status(), r.toString());
        } finally {
            if (was == null) System.clearProperty(key);
            else System.setProperty(key, was);
        }
    }
}
