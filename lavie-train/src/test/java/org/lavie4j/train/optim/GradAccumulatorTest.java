package org.lavie4j.train.optim;

import org.lavie4j.core.Init;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class GradAccumulatorTest {
    private static Map<String, INDArray> grads(Toy toy) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        toy.namedParameters().forEach((k, p) -> out.put(k, p.grad().dup()));
        return out;
    }

    private static void backward(Toy toy, INDArray x, INDArray y) {
        try (Tape tape = Grad.record()) {
            Tensor pred = toy.forward(Tensor.of(x));
            tape.backward(Ops.mseLoss(pred, Tensor.of(y)));
        }
    }

    @Test void meanOverMicroBatchesEqualsTheFullBatchGradient() {
        Nd4j.getRandom().setSeed(3);
        Init.seed(3);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 8, 4), y = Nd4j.randn(DataType.DOUBLE, 8, 3);
        Toy full = new Toy(DataType.DOUBLE);
        backward(full, x, y);
        Map<String, INDArray> expected = grads(full);

        Toy toy = new Toy(DataType.DOUBLE);
        GradAccumulator acc = new GradAccumulator(4, GradAccumulator.Reduction.MEAN);
        List<Parameter> params = toy.parameters();
        for (int i = 0; i < 4; i++) {
            backward(toy, x.get(NDArrayIndex.interval(2 * i, 2 * i + 2)).dup(), y.get(NDArrayIndex.interval(2 * i, 2 * i + 2)).dup());
            assertEquals(i == 3, acc.microBatchDone(params), "micro-batch " + i);
            assertEquals((i + 1) % 4, acc.pending());
        }
        Map<String, INDArray> got = grads(toy);
        for (String k : expected.keySet()) assertTrue(expected.get(k).equalsWithEps(got.get(k), 1e-12), k);
    }

    @Test void sumKeepsTheSum() {
        Nd4j.getRandom().setSeed(4);
        Init.seed(4);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 2, 4), y = Nd4j.randn(DataType.DOUBLE, 2, 3);
        Toy once = new Toy(DataType.DOUBLE);
        backward(once, x, y);
        Toy twice = new Toy(DataType.DOUBLE);
        GradAccumulator acc = new GradAccumulator(2, GradAccumulator.Reduction.SUM);
        backward(twice, x, y);
        assertFalse(acc.microBatchDone(twice.parameters()));
        backward(twice, x, y);
        assertTrue(acc.microBatchDone(twice.parameters()));
        assertTrue(once.bias.grad().mul(2).equalsWithEps(twice.bias.grad(), 1e-14));
        assertThrows(IllegalArgumentException.class, () -> new GradAccumulator(0, GradAccumulator.Reduction.SUM));
    }
}
