package org.lavie4j.core;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Native memory must not grow with the number of training passes: the tape frees what backward consumed. */
class MemoryTest {
    static final class Mlp extends Module {
        final Parameter w1 = parameter("w1", Nd4j.rand(DataType.FLOAT, 256, 128).subi(0.5).muli(0.1));
        final Parameter b1 = parameter("b1", Nd4j.zeros(DataType.FLOAT, 256));
        final Parameter w2 = parameter("w2", Nd4j.rand(DataType.FLOAT, 128, 256).subi(0.5).muli(0.1));

        Tensor forward(Tensor x) {
            Tensor h = Ops.silu(Ops.linear(x, w1.tensor(), b1.tensor()));
            Tensor a = Ops.softmax(Ops.matmul(h, h, false, true), -1);
            return Ops.linear(Ops.matmul(a, h), w2.tensor(), null);
        }
    }

    @Disabled("fails today: native memory outside the heap still grows ~2.5 MB per pass until a GC runs (cold JVM: "
            + "50 MB after 10 passes, 119 MB after 100). Large activations and gradients are freed by the tape, but some per-op "
            + "native allocation of ND4J is only reclaimed by the GC. Tracked in the foundation issue's note; to be fixed with "
            + "workspaces (performance issue).")
    @Test void nativeMemoryFlatOverManyPasses() throws InterruptedException {
        Nd4j.getRandom().setSeed(1);
        Mlp net = new Mlp();
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 64, 128);
        INDArray target = Nd4j.rand(DataType.FLOAT, 4, 64, 128);
        long after10 = 0;
        for (int i = 1; i <= 100; i++) {
            try (Tape tape = Grad.record()) {
                Tensor loss = Ops.mseLoss(net.forward(Tensor.of(x)), Tensor.of(target));
                tape.backward(loss);
            }
            for (Parameter p : net.parameters()) p.data().subi(p.grad().muli(1e-3));
            net.zeroGrad();
            if (i == 10) after10 = settledPhysicalBytes();
        }
        long after100 = settledPhysicalBytes();
        long allowed = Math.max((long) (after10 * 0.10), 64L << 20);
        System.out.printf("native resident bytes after 10 passes %d MB, after 100 passes %d MB%n", after10 >> 20, after100 >> 20);
        assertTrue(after100 - after10 <= allowed, "native memory grew from " + after10 + " to " + after100 + " bytes");
    }

    /**
     * Resident memory outside the Java heap: JavaCPP's physical bytes (the process RSS) minus the committed heap,
     * whose pages become resident as the young generation fills and stay so after a collection.
     */
    private static long settledPhysicalBytes() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
    }
}
