package org.lavie4j.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one vector shape every Vector API kernel of lavie-core runs at ({@link VectorAttention}, {@link WinogradConv},
 * {@link VectorElementwise}): 512 bits (16 floats) where the CPU has AVX-512, else 256 bits (8 floats, AVX2), or the
 * system property {@value #PROPERTY} ({@code 256}, {@code 512} or {@code auto}, read once when the kernels load).
 *
 * <p>One shape for all kernels, not the best one per kernel: on Java 17, once a JVM has run the Vector API at two
 * shapes of the same element type, C2 compiles the kernels of the shape it met second into calls that box every vector
 * (measured: a 512-bit attention slice after 256-bit ones in the same JVM ran 27x slower than in a JVM of its own;
 * benchmarks/README.md, seventeenth session). Java 25's C2 does not have the problem.
 */
final class VectorWidth {
    private VectorWidth() {}

    /** The system property that picks the shape. */
    static final String PROPERTY = "lavie.vector.bits";

    /** Floats. */
    static final VectorSpecies<Float> FLOAT = choose(System.getProperty(PROPERTY, "auto").trim());
    /** Floats per vector: 8 or 16. */
    static final int LANES = FLOAT.length();
    /** Doubles of the same shape (half the lanes). */
    static final VectorSpecies<Double> DOUBLE = DoubleVector.SPECIES_512.vectorShape() == FLOAT.vectorShape()
            ? DoubleVector.SPECIES_512 : DoubleVector.SPECIES_256;

    static VectorSpecies<Float> choose(String setting) {
        return switch (setting) {
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            case "auto" -> VectorShape.preferredShape().vectorBitSize() >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
            default -> throw new IllegalArgumentException(PROPERTY + " must be 256, 512 or auto, not '" + setting + "'");
        };
    }
}
