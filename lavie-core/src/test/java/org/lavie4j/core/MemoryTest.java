package org.lavie4j.core;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Native memory must not grow with the number of training passes: the tape frees what backward consumed. Surefire
 * runs tests with a fixed glibc mmap threshold (see the parent pom), so freed arrays leave the resident set at once.
 */
class MemoryTest {
    static final class Mlp extends Module {
        final Parameter w1 = parameter("w1", Nd4j.rand(DataType.FLOAT, 512, 512).subi(0.5).muli(0.05));
        final Parameter b1 = parameter("b1", Nd4j.zeros(DataType.FLOAT, 512));
        final Parameter w2 = parameter("w2", Nd4j.rand(DataType.FLOAT, 512, 512).subi(0.5).muli(0.05));

        Tensor forward(Tensor x) {
            Tensor h = Ops.silu(Ops.linear(x, w1.tensor(), b1.tensor()));
            Tensor a = Ops.softmax(Ops.matmul(h, h, false, true), -1);
            return Ops.linear(Ops.matmul(a, h), w2.tensor(), null);
        }
    }

    @Test void nativeMemoryFlatOverManyPasses() throws InterruptedException {
        Nd4j.getRandom().setSeed(1);
        Mlp net = new Mlp();
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 128, 512);
        INDArray target = Nd4j.rand(DataType.FLOAT, 4, 128, 512);
        long after10 = 0, peak = 0;
        for (int i = 1; i <= 100; i++) {
            try (Tape tape = Grad.record()) {
                Tensor loss = Ops.mseLoss(net.forward(Tensor.of(x)), Tensor.of(target));
                tape.backward(loss);
            }
            for (Parameter p : net.parameters()) p.data().subi(p.grad().muli(1e-3));
            net.zeroGrad();
            if (i == 10) after10 = settledNativeBytes();
            if (i > 10) peak = Math.max(peak, nativeBytes());   // no GC here: what is freed without waiting for one
        }
        long after100 = settledNativeBytes();
        long allowed = Math.max((long) (after10 * 0.10), 64L << 20);
        System.out.printf("native resident bytes after 10 passes %d MB, after 100 passes %d MB, peak between %d MB%n",
                after10 >> 20, after100 >> 20, peak >> 20);
        assertTrue(after100 - after10 <= allowed, "native memory grew from " + after10 + " to " + after100 + " bytes");
        // each pass allocates ~25 MB of activations and gradients: without prompt freeing this grows by gigabytes
        assertTrue(peak - after10 <= allowed, "native memory reached " + peak + " bytes between GCs (after 10 passes: " + after10 + ")");
    }

    /**
     * Resident memory outside the Java heap: JavaCPP's physical bytes (the process RSS) minus the committed heap,
     * whose pages become resident as the young generation fills and stay so after a collection.
     */
    private static long settledNativeBytes() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return nativeBytes();
    }

    private static long nativeBytes() { return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory(); }

    @Test void stepGuardCollectsOnlyAboveItsHeadroom() {
        Memory.StepGuard guard = new Memory.StepGuard(64L << 20);
        assertFalse(guard.afterStep(), "the first step sets the baseline");
        assertTrue(guard.baselineBytes() > 0);
        assertFalse(guard.afterStep(), "no growth, no collection");
        INDArray held = Nd4j.ones(DataType.FLOAT, 48L << 20);                 // 192 MB resident (ones: every page touched)
        assertTrue(guard.afterStep(), "192 MB above a 64 MB headroom");
        assertEquals(1, guard.collections());
        assertTrue(held.getFloat(held.length() - 1) == 1f);
        Memory.free(held);
        Memory.StepGuard defaults = new Memory.StepGuard();
        defaults.afterStep();
        assertFalse(defaults.afterStep(), "the default headroom is at least " + Memory.StepGuard.MIN_HEADROOM + " bytes");
    }
}
