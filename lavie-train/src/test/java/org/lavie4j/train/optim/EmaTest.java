package org.lavie4j.train.optim;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.StateDict;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

class EmaTest {
    @Test void fixedDecayAveragesTrainableParameters() {
        Toy toy = new Toy(DataType.DOUBLE);
        Ema ema = new Ema(toy, 0.9, false);
        double avg = toy.bias.data().getDouble(0);
        double[] values = {1.0, 2.0, -4.0};
        for (double x : values) {
            toy.bias.data().putScalar(0, x);
            ema.update();
            avg = 0.9 * avg + 0.1 * x;
            assertEquals(avg, ema.stateDict().get("bias").load().getDouble(0), 1e-15);
        }
        assertEquals(3, ema.updates());
    }

    @Test void warmupDecayIsOnePlusNOverTenPlusNCappedByDecay() {
        Toy toy = new Toy(DataType.DOUBLE);
        Ema ema = new Ema(toy, 0.5, true);
        assertEquals(0.1, ema.currentDecay(), 1e-15);        // n = 0: (1+0)/(10+0)
        ema.update();
        assertEquals(2.0 / 11, ema.currentDecay(), 1e-15);
        ema.update();
        assertEquals(3.0 / 12, ema.currentDecay(), 1e-15);
        for (int i = 0; i < 10; i++) ema.update();
        assertEquals(0.5, ema.currentDecay(), 0.0);          // (1+12)/(10+12) = 0.59 > 0.5
        Ema big = new Ema(toy, 0.9999, true);
        for (int i = 0; i < 100; i++) big.update();
        assertEquals(101.0 / 110, big.currentDecay(), 1e-15);
    }

    @Test void buffersAndFrozenParametersAreCopiedAndTheStateLoadsIntoAModel() {
        Toy toy = new Toy(DataType.FLOAT);
        Ema ema = new Ema(toy, 0.99, false);
        toy.inner.scale.setTrainable(false);
        toy.table.data().assign(7f);
        toy.inner.scale.data().assign(3f);
        toy.weight.data().addi(1f);
        ema.update();
        StateDict sd = ema.stateDict();
        assertEquals(toy.namedEntries().keySet(), sd.keys());
        assertEquals(Nd4j.createFromArray(7f, 7f), sd.get("table").load());
        assertEquals(Nd4j.createFromArray(3f, 3f, 3f), sd.get("inner.scale").load());
        Toy fresh = new Toy(DataType.FLOAT);
        INDArray w0 = fresh.weight.data().dup();
        ema.copyTo(fresh);
        // ema = 0.99·w0 + 0.01·(w0 + 1)
        assertTrue(w0.add(0.01f).equalsWithEps(fresh.weight.data(), 1e-6));

        Ema again = new Ema(new Toy(DataType.FLOAT), 0.99, false);
        again.load(sd, ema.updates());
        assertEquals(1, again.updates());
        assertEquals(sd.get("weight").load(), again.stateDict().get("weight").load());
        var e = assertThrows(IllegalArgumentException.class, () -> again.load(new StateDict("x").put("weight", Nd4j.zeros(DataType.FLOAT, 4, 3)), 0));
        assertTrue(e.getMessage().contains("missing key bias") && e.getMessage().contains("weight: model has shape [3, 4], EMA state has [4, 3]"), e.getMessage());
    }
}
