package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.rand;

/** The profiling hook sees every op, fast paths and views included, and changes no result. */
class OpListenerTest {
    @Test void seesEachOpInOrderWithItsInputsAndChangesNothing() {
        INDArray a = rand(1, 2, 3, 4), b = rand(2, 2, 3, 4);
        INDArray expected;
        try (Tape off = Grad.disabled()) {
            expected = Ops.silu(Ops.reshape(Ops.add(Tensor.of(a), Tensor.of(b)), 6, 4)).data();
        }
        List<String> seen = new ArrayList<>();
        List<long[]> outShapes = new ArrayList<>();
        Ops.setListener((op, out, inputs) -> {
            seen.add(op);
            outShapes.add(out.shape());
            if (op.equals("add")) {
                assertSame(a, inputs[0].data());
                assertSame(b, inputs[1].data());
            }
        });
        INDArray got;
        try (Tape off = Grad.disabled()) {
            got = Ops.silu(Ops.reshape(Ops.add(Tensor.of(a), Tensor.of(b)), 6, 4)).data();
        } finally {
            Ops.setListener(null);
        }
        assertEquals(List.of("add", "reshape", "silu"), seen);   // silu's unrecorded fast path included
        assertArrayEquals(new long[]{2, 3, 4}, outShapes.get(0));
        assertArrayEquals(new long[]{6, 4}, outShapes.get(2));
        assertEquals(expected, got);

        int before = seen.size();
        try (Tape off = Grad.disabled()) {
            Ops.add(Tensor.of(a), Tensor.of(b));
        }
        assertEquals(before, seen.size(), "a removed listener sees nothing");
    }
}
