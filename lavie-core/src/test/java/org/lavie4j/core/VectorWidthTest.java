package org.lavie4j.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorWidthTest {
    @Test void theKernelsRunAtTheWidthAskedFor() {
        String asked = System.getProperty(VectorWidth.PROPERTY, "auto");
        int expected = switch (asked) {
            case "256" -> 8;
            case "512" -> 16;
            default -> VectorShape.preferredShape().vectorBitSize() >= 512 ? 16 : 8;
        };
        System.out.println("kernels at " + VectorWidth.LANES + " floats a vector (" + VectorWidth.PROPERTY + "=" + asked + ")");
        assertEquals(expected, VectorWidth.LANES);
        assertEquals(expected, Kernels.LANES, "the scalar twins' partial sums follow the kernels' lanes");
        assertEquals(VectorWidth.FLOAT.vectorShape(), VectorWidth.DOUBLE.vectorShape(), "doubles at the floats' shape");
        assertEquals(expected == 16 ? 8 : 4, VectorWidth.DOUBLE.length());
    }

    @Test void settingsAreCheckedByName() {
        assertEquals(FloatVector.SPECIES_256, VectorWidth.choose("256"));
        assertEquals(FloatVector.SPECIES_512, VectorWidth.choose("512"));
        assertTrue(VectorWidth.choose("auto").length() >= 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VectorWidth.choose("128"));
        assertTrue(e.getMessage().contains("lavie.vector.bits") && e.getMessage().contains("'128'"), e.getMessage());
    }
}
