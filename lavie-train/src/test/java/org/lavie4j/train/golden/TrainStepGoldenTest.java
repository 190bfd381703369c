package org.lavie4j.train.golden;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.Comparison;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every shipped {@code train_step} golden case, compared with the case's own tolerances (never loosened).
 *
 * <p>One known deviation, pinned element by element in {@link #KNOWN}: in the shipped case the AdamW-updated
 * {@code up_blocks.1.resnets.0.conv2.weight[7, 6, 2, 2]} differs from the reference by about 2.3e-6 (atol 2e-6).
 * Its reference gradient, -1.497e-8, is of the order of AdamW's ε = 1e-8, where the first step
 * {@code lr·g/(|g| + ε)} turns gradient rounding into parameter change ×~1e3; and that reference value is itself
 * float32 rounding: the float64 re-run ({@link #float64RerunShowsTheReferenceGradientIsRounding}) gives -1.671e-8
 * (ours in float32: -1.647e-8), and a float64 step from it misses the reference parameter by 2.6e-6 as well. The
 * case's {@code param.*} tolerance was not derived from a float64 re-run, unlike its other outputs. Everything else
 * (loss, noisy latents, all 238 gradients, the other 378,787 parameter elements) passes the case's tolerances.
 */
class TrainStepGoldenTest {
    private static final GoldenRunner RUNNER = GoldenRunner.discover();

    /** An output of a case allowed to miss its tolerance at exactly one element, by at most {@code maxAbsErr}. */
    private record KnownDeviation(String caseName, String output, long[] index, double maxAbsErr) {}

    private static final List<KnownDeviation> KNOWN = List.of(
            new KnownDeviation("train_step", "param.up_blocks.1.resnets.0.conv2.weight", new long[]{7, 6, 2, 2}, 3e-6));

    static List<Path> trainStepCases() throws IOException {
        try (Stream<Path> dirs = Files.list(TestData.golden())) {
            return dirs.filter(GoldenCase::isCaseDir).filter(d -> {
                try (GoldenCase c = GoldenCase.open(d)) {
                    return c.kind().equals("train_step");
                } catch (Exception e) {
                    throw new IllegalStateException(d + ": " + e.getMessage(), e);
                }
            }).sorted().toList();
        }
    }

    @Test void runnerIsRegisteredAndCasesExist() throws IOException {
        assertTrue(RUNNER.implementedKinds().contains("train_step"), RUNNER.implementedKinds().toString());
        assertFalse(trainStepCases().isEmpty(), "no train_step case under " + TestData.golden());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("trainStepCases")
    void passes(Path dir) throws Exception {
        CaseResult r = RUNNER.run(dir);
        assertNull(r.message(), r.message());
        r.outputs().stream().filter(c -> !c.output().startsWith("grad.") && !c.output().startsWith("param."))
                .forEach(c -> System.out.println("golden " + r.caseName() + " " + c));
        for (String group : List.of("grad.", "param.")) {
            List<Comparison> g = r.outputs().stream().filter(c -> c.output().startsWith(group)).toList();
            g.stream().max(Comparator.comparingDouble(Comparison::maxAbsErr))
                    .ifPresent(c -> System.out.println("golden " + r.caseName() + " " + g.size() + " " + group + "* worst: " + c));
        }
        System.out.println("golden " + r.caseName() + " " + r.status() + " in " + r.elapsed().toMillis() + " ms");
        for (Comparison c : r.outputs()) {
            if (c.passed()) continue;
            KnownDeviation known = KNOWN.stream().filter(k -> k.caseName().equals(r.caseName()) && k.output().equals(c.output())).findFirst().orElse(null);
            assertNotNull(known, "golden " + r.caseName() + ": " + c);
            System.out.println("golden " + r.caseName() + " KNOWN DEVIATION (reference float32 rounding, see TrainStepGoldenTest): " + c);
            assertEquals(1, c.mismatches(), c.toString());
            assertArrayEquals(known.index(), c.worstIndex(), c.toString());
            assertTrue(c.maxAbsErr() <= known.maxAbsErr(), c.toString());
        }
    }

    /**
     * The same step in float64: every gradient still agrees with the float32 reference within the case's gradient
     * tolerance (so the float32 differences are rounding), and at the known element the reference gradient is off
     * the float64 value by far more than ours is.
     */
    @Test void float64RerunShowsTheReferenceGradientIsRounding() throws Exception {
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase("train_step"))) {
            Map<String, INDArray> f64 = new TrainStepRunner(DataType.DOUBLE).run(c);
            Map<String, INDArray> f32 = new TrainStepRunner().run(c);
            double worst = 0;
            for (String name : c.outputs().keySet()) {
                if (!name.startsWith("grad.")) continue;
                Comparison cmp = Comparison.compare(name, f64.get("out." + name), c.expected(name), c.ruleFor(name));
                assertTrue(cmp.passed(), "float64 " + cmp);
                worst = Math.max(worst, cmp.maxAbsErr());
            }
            String key = "grad.up_blocks.1.resnets.0.conv2.weight";
            long[] at = {7, 6, 2, 2};
            double ref = c.expected(key).getDouble(at), ours64 = f64.get("out." + key).getDouble(at), ours32 = f32.get("out." + key).getDouble(at);
            System.out.printf("train_step float64 re-run: max |grad64 - reference| = %.3e; %s%s: reference %.4e, float64 %.4e, ours float32 %.4e%n",
                    worst, key, Arrays.toString(at), ref, ours64, ours32);
            assertTrue(Math.abs(ref - ours64) > 1e-9, "reference " + ref + " vs float64 " + ours64);
            assertTrue(Math.abs(ours32 - ours64) < 0.5 * Math.abs(ref - ours64), "ours " + ours32 + " vs float64 " + ours64);
        }
    }
}
