package org.lavie4j.train.optim;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A small module for optimizer tests: a weight, a bias, a buffer, and a child sharing nothing. */
final class Toy extends Module {
    final Parameter weight, bias, table;
    final Inner inner;

    static final class Inner extends Module {
        final Parameter scale;

        Inner(DataType type) { scale = parameter("scale", Nd4j.createFromArray(0.5, -1.5, 2.0).castTo(type)); }
    }

    Toy(DataType type) {
        Nd4j.getRandom().setSeed(7);
        Init.seed(7);
        weight = parameter("weight", Nd4j.randn(DataType.DOUBLE, 3, 4).castTo(type));
        bias = parameter("bias", Nd4j.createFromArray(0.1, -0.2, 0.3).castTo(type));
        table = buffer("table", Nd4j.createFromArray(1.0, 2.0).castTo(type));
        inner = child("inner", new Inner(type));
    }

    /** y = scale ⊙ (x·Wᵀ + b), x (n, 4) -> (n, 3). */
    Tensor forward(Tensor x) {
        return Ops.mul(Ops.linear(x, weight.tensor(), bias.tensor()), inner.scale.tensor());
    }

    /** Makes {@code p.grad()} equal {@code g} exactly (backward of Σ p ⊙ g). */
    static void setGrad(Parameter p, INDArray g) {
        p.zeroGrad();
        try (Tape tape = Grad.record()) {
            tape.backward(Ops.reshape(Ops.sum(Ops.mul(p.tensor(), Tensor.of(g.castTo(p.dtype()))), false), 1));
        }
    }
}
