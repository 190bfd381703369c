package org.lavie4j.train.lora;

import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Linear;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;

/**
 * The LoRA update of one Linear (peft {@code lora.Linear}): {@code lora_A} = Linear(in, r, bias=False) with weight
 * A [r, in], {@code lora_B} = Linear(r, out, bias=False) with weight B [out, r], so that
 * <pre>
 *   y = W x + b + s · B (A x),   s = alpha / r
 * </pre>
 * A starts Kaiming-uniform (a = √5, bound 1/√in, peft's default), B at zero: the adapted layer starts equal to the base.
 *
 * <p>The update is the adapted Linear's residual ({@link Linear#setResidual}): the two small products run on the tape
 * like any op, so backward gives A and B their gradients directly, while the frozen W gets none. Extra memory per
 * layer: A, B, their gradients and the activations A x (r per token), nothing weight-sized.
 */
final class LoraLinear extends Module {
    private final Linear base;
    private final Linear loraA, loraB;
    private final double scale;
    private INDArray unmergedWeight;   // W while merged (the layer then holds W + s·B·A); null otherwise

    LoraLinear(Linear base, int rank, double scale, SplittableRandom random) {
        if (base.residual() != null) throw new IllegalArgumentException("the Linear already has a residual (adapted twice?)");
        this.base = base;
        this.scale = scale;
        int in = base.inFeatures(), out = base.outFeatures();
        loraA = child("lora_A", new Linear(in, rank, false));
        loraB = child("lora_B", new Linear(rank, out, false));
        var dtype = base.weight().dtype();
        loraA.to(dtype);
        loraB.to(dtype);
        double bound = 1.0 / Math.sqrt(in);                       // kaiming_uniform_(a=√5): √(6 / ((1 + 5)·fan_in))
        double[] a = new double[rank * in];
        for (int i = 0; i < a.length; i++) a[i] = (2 * random.nextDouble() - 1) * bound;
        loraA.weight().set(Nd4j.createFromArray(a).reshape('c', rank, in).castTo(dtype));
        loraB.weight().set(Nd4j.zeros(dtype, out, rank));
        base.setResidual(this::residual);
    }

    /** s·B(A x), peft's {@code lora_B(lora_A(dropout(x))) * scaling} (dropout 0). */
    private Tensor residual(Tensor x) {
        Tensor ax = loraA.forward(x);
        Tensor bax = loraB.forward(ax);
        ax.release();
        Tensor out = Ops.scale(bax, scale);
        bax.release();
        return out;
    }

    Parameter a() { return loraA.weight(); }

    Parameter b() { return loraB.weight(); }

    Linear base() { return base; }

    /** W, the base weight (also while merged). */
    INDArray baseWeight() { return merged() ? unmergedWeight : base.weight().data(); }

    boolean merged() { return unmergedWeight != null; }

    /** s·B·A [out, in], a fresh array. */
    INDArray delta() { return b().data().mmul(a().data()).muli(scale); }

    /** Makes W + s·B·A the layer's plain weight (no residual); W is kept aside for {@link #unmerge}. */
    void merge() {
        if (merged()) return;
        INDArray w = base.weight().data(), delta = delta();
        base.weight().set(delta.addi(w));
        base.setResidual(null);
        unmergedWeight = w;
    }

    /** Restores W exactly and reattaches the adapter. */
    void unmerge() {
        if (!merged()) return;
        INDArray mergedWeight = base.weight().data();
        base.weight().set(unmergedWeight);
        Memory.free(mergedWeight);
        unmergedWeight = null;
        base.setResidual(this::residual);
    }
}
