package org.lavie4j.core;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

    @Test void uninitializedFloatsWorkWithNd4jOpsAndFreeOnce() {
        INDArray a = Memory.uninitialized(DataType.FLOAT, 3, 4, 5);
        assertArrayEquals(new long[]{3, 4, 5}, a.shape());
        assertEquals('c', a.ordering());
        assertEquals(DataType.FLOAT, a.dataType());
        long address = a.data().address();
        assertTrue(Memory.holds(address));
        assertTrue(Memory.uninitializedBytes() >= 3 * 4 * 5 * Float.BYTES);
        INDArray x = Nd4j.rand(DataType.FLOAT, 3, 4, 5);
        a.assign(x);
        assertEquals(x, a);
        // an ND4J op writing into it, and one reading it
        INDArray m = Memory.uninitialized(DataType.FLOAT, 12, 12);
        INDArray x2 = x.reshape('c', 12, 5);
        Nd4j.matmul(x2, x2, m, false, true, false);
        assertTrue(Nd4j.matmul(x2, x2, false, true, false).equalsWithEps(m, 1e-6));
        assertEquals(x.sumNumber().doubleValue(), a.sumNumber().doubleValue(), 1e-4);
        Memory.free(a.reshape('c', 12, 5));                    // a view of the whole array frees it
        assertTrue(a.wasClosed());
        assertFalse(Memory.holds(address));
        Memory.free(a);                                          // a second free is ignored
        long mAddress = m.data().address();
        Memory.free(m);
        assertFalse(Memory.holds(mAddress));
    }

    @Test void uninitializedFortranOrderAndOtherTypes() {
        INDArray f = Memory.uninitialized(DataType.FLOAT, new long[]{2, 3}, 'f');
        assertEquals('f', f.ordering());
        assertArrayEquals(new long[]{1, 2}, f.stride());
        f.assign(Nd4j.create(new float[]{1, 2, 3, 4, 5, 6}, 2, 3));
        assertEquals(6f, f.getFloat(1, 2));
        assertEquals(4f, f.data().getFloat(1));                 // column-major: (1, 0) second
        Memory.free(f);
        INDArray d = Memory.uninitialized(DataType.DOUBLE, 2, 2);   // not float: ND4J's own buffer
        assertEquals(DataType.DOUBLE, d.dataType());
        assertFalse(Memory.holds(d.data().address()));
        Memory.free(d);
        INDArray empty = Memory.uninitialized(DataType.FLOAT, 0, 4);
        assertEquals(0, empty.length());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Memory.uninitialized(DataType.FLOAT, 2, -1));
        assertTrue(e.getMessage().contains("[2, -1]"), e.getMessage());
    }

    @Test void unfreedUninitializedArraysAreGivenBackByTheCollector() throws InterruptedException {
        java.util.List<Long> addresses = new java.util.ArrayList<>();
        for (int i = 0; i < 8; i++) {                           // 4 MiB each, dropped without Memory.free
            INDArray a = Memory.uninitialized(DataType.FLOAT, 1024, 1024).assign(i);
            addresses.add(a.data().address());
            assertTrue(Memory.holds(addresses.get(i)));
        }
        for (int i = 0; i < 100 && addresses.stream().anyMatch(Memory::holds); i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertFalse(addresses.stream().anyMatch(Memory::holds), "buffers still held after collections");
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
