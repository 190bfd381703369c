package org.lavie4j.examples.cli;

import org.lavie4j.core.Module;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.Locale;

/**
 * {@code --weights-dtype fp32|fp16|bf16}: the dtype the loaded models keep their weights in. Half precision halves the
 * weights' memory (LaVie base UNet 3.6 -> 1.8 GB); every op still computes in fp32 (ND4J's half-precision matmul and
 * conv are scalar fallbacks), so outputs differ from fp32 weights only by the weights' rounding
 * ({@code Module.storeWeightsAs}; errors measured on the golden cases in {@code HalfWeightStorageGoldenTest}).
 */
final class WeightsDtype {
    static final String OPTION = "--weights-dtype";
    static final String DESCRIPTION = "Weights in memory: fp32, fp16 or bf16 (half the memory; every op still computes in fp32; "
            + "outputs change by the weights' rounding, ~1e-3 relative for fp16, ~1e-2 for bf16; default: fp32).";

    private WeightsDtype() {}

    /** fp32, fp16 or bf16 (case-insensitive) as a DataType. */
    static DataType parse(String name) {
        return switch (name == null ? "" : name.toLowerCase(Locale.ROOT)) {
            case "fp32" -> DataType.FLOAT;
            case "fp16" -> DataType.HALF;
            case "bf16" -> DataType.BFLOAT16;
            default -> throw new IllegalArgumentException(OPTION + " must be fp32, fp16 or bf16, got '" + name + "'");
        };
    }

    static String name(DataType type) {
        return switch (type) {
            case FLOAT -> "fp32";
            case HALF -> "fp16";
            case BFLOAT16 -> "bf16";
            default -> type.toString();
        };
    }

    /**
     * Freezes the models and stores their weights as {@code type} (nothing for fp32), then asks the GC to return the
     * fp32 arrays loading left behind (ND4J frees native memory only when their Java owners are collected).
     */
    static void apply(DataType type, Module... models) {
        if (type == DataType.FLOAT) return;
        for (Module m : models) {
            m.setTrainable(false);
            m.storeWeightsAs(type);
        }
        System.gc();
    }

    /** A line for stdout: the weight dtype and the bytes of weights the models hold. */
    static String describe(DataType type, Module... models) {
        long bytes = 0, count = 0;
        for (Module m : models) {
            bytes += m.parameterBytes();
            count += m.parameterCount();
        }
        return String.format(Locale.ROOT, "weights: %s, %.1f M parameters, %.2f GB held%s", name(type), count / 1e6, bytes / 1e9,
                type == DataType.FLOAT ? "" : String.format(Locale.ROOT, " (%.2f GB in fp32; computing in fp32)", 4.0 * count / 1e9));
    }
}
