package org.lavie4j.nn.golden;

import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.testing.TestData;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Accuracy of half-precision weight storage ({@code Module.storeWeightsAs}): the golden cases run with every weight
 * rounded to FLOAT16 or BFLOAT16 and every op in FLOAT. Errors are printed against the reference outputs and against
 * our own FLOAT-weight run, each as max |Δ| and max |Δ| / max |reference| ("rel"), and bounded.
 *
 * <p>The bounds follow from the rounding alone. Round-to-nearest leaves each weight a relative error of at most
 * 2^-11 = 4.9e-4 (fp16, 11 significant bits) or 2^-8 = 3.9e-3 (bf16, 8 bits), uniformly spread, so a dot product of
 * n weights picks up a random-walk error of about u/√3 of its magnitude, and a deep network adds up such errors over
 * its layers (residual streams carry them forward; normalisation keeps them relative). Measured on these tiny
 * models (rel = max|Δ| / max|ref|):
 * <pre>
 *   case / output               fp16 (u = 4.9e-4)    bf16 (u = 3.9e-3)
 *   clip_text last_hidden        5.5e-4 (1.1 u)       3.5e-3 (0.9 u)
 *   unet_base sample             8.8e-4 (1.8 u)       9.4e-3 (2.4 u)
 *   unet_interp sample           1.8e-3 (3.7 u)       9.5e-3 (2.4 u)
 *   unet_vsr sample              1.3e-3 (2.7 u)       6.6e-3 (1.7 u)
 *   vae posterior mean/logvar    6.6e-4 / 5.8e-4      5.0e-3 / 7.0e-3 (1.8 u)
 *   vae decoded                  7.5e-4 (1.5 u)       6.6e-3 (1.7 u)
 * </pre>
 * i.e. a few units of the storage precision u, independent of the FLOAT path's own error (1e-6 level, which is
 * the first column's floor against the reference). The asserted bound is {@code 8·u} relative to the output's
 * magnitude (4e-3 for fp16, 3.1e-2 for bf16): headroom of ~2-4x over the measured numbers, yet tight enough that
 * computing in half (error ~u per op, compounded) or skipping the rounding would show. FLOAT storage must reproduce
 * the FLOAT run exactly.
 */
class HalfWeightStorageGoldenTest {
    /** Unit roundoff of each storage dtype (half the spacing of numbers in [1, 2)). */
    private static double unitRoundoff(DataType t) {
        return switch (t) {
            case HALF -> 0x1p-11;
            case BFLOAT16 -> 0x1p-8;
            default -> 0;
        };
    }

    static Stream<Arguments> cases() {
        Map<String, Function<DataType, CaseRunner>> runners = Map.of(
                "unet_base", UNetBaseRunner::new,
                "unet_interp", UNetInterpRunner::new,
                "unet_vsr", UNetVsrRunner::new,
                "vae", VaeRunner::new,
                "clip_text", ClipTextRunner::new);
        return runners.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(e -> Arguments.of(e.getKey(), e.getValue()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void halfStorageErrorIsTheWeightRounding(String name, Function<DataType, CaseRunner> runner) throws Exception {
        try (GoldenCase c = GoldenCase.open(TestData.goldenCase(name))) {
            Map<String, INDArray> fp32 = runner.apply(DataType.FLOAT).run(c);
            for (DataType t : new DataType[]{DataType.HALF, DataType.BFLOAT16}) {
                Map<String, INDArray> half = runner.apply(t).run(c);
                assertEquals(fp32.keySet(), half.keySet());
                for (String key : fp32.keySet()) {
                    INDArray ref = c.expected(key.substring("out.".length())).castTo(DataType.FLOAT);
                    INDArray ours = fp32.get(key), got = half.get(key);
                    assertEquals(DataType.FLOAT, got.dataType(), key);
                    double scale = ref.amaxNumber().doubleValue();
                    double vsRef = maxAbs(got, ref), vsFp32 = maxAbs(got, ours), fp32VsRef = maxAbs(ours, ref);
                    System.out.printf(Locale.ROOT, "half-storage %-11s %-8s %-34s max|ref|=%.3g  fp32 vs ref %.2e | %s vs ref %.2e (rel %.2e) | vs fp32 %.2e (rel %.2e)%n",
                            name, t, key, scale, fp32VsRef, t, vsRef, vsRef / scale, vsFp32, vsFp32 / scale);
                    double bound = 8 * unitRoundoff(t) * scale;
                    assertTrue(vsFp32 <= bound, name + " " + key + " " + t + ": max |half - fp32| " + vsFp32 + " > " + bound);
                    assertTrue(vsRef <= bound + fp32VsRef, name + " " + key + " " + t + ": max |half - ref| " + vsRef + " > " + (bound + fp32VsRef));
                    assertTrue(vsFp32 > 0, name + " " + key + " " + t + ": identical to fp32: were the weights rounded at all?");
                }
            }
            Map<String, INDArray> again = runner.apply(DataType.FLOAT).run(c);
            for (String key : fp32.keySet()) assertEquals(0.0, maxAbs(again.get(key), fp32.get(key)), key);
        }
    }

    private static double maxAbs(INDArray a, INDArray b) {
        return Transforms.abs(a.sub(b)).maxNumber().doubleValue();
    }
}
