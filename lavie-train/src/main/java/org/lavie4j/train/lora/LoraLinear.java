package org.lavie4j.train.lora;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
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
 * <p>How the update reaches the layer without a hook in it: the adapted Linear's weight parameter holds the effective
 * weight {@code W_eff = W + s·B·A} ({@link #sync}), computed from the base weight W that this adapter keeps aside.
 * Since {@code y = W_eff x + b}, the layer's own backward yields {@code dL/dW_eff}, and the chain rule through
 * {@code W_eff = W + s·B·A} gives {@code dL/dA = s·Bᵀ·dL/dW_eff} and {@code dL/dB = s·dL/dW_eff·Aᵀ} ({@link #collectGradients}).
 * The effective weight therefore requires a gradient (it is the gradient's sink) but is never handed to an optimizer.
 * Cost per adapted layer: one weight-sized array for W_eff and one for its gradient.
 */
final class LoraLinear extends Module {
    private final Linear base;
    private final Linear loraA, loraB;
    private final double scale;
    private INDArray baseWeight;   // W; null while merged

    LoraLinear(Linear base, int rank, double scale, SplittableRandom random) {
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
        baseWeight = base.weight().data();
        base.weight().setTrainable(true);                         // the gradient sink of W_eff
        sync();
    }

    Parameter a() { return loraA.weight(); }

    Parameter b() { return loraB.weight(); }

    Linear base() { return base; }

    /** W, the base weight (the merged weight while merged). */
    INDArray baseWeight() { return baseWeight == null ? base.weight().data() : baseWeight; }

    boolean merged() { return baseWeight == null; }

    /** s·B·A [out, in], a fresh array. */
    INDArray delta() { return b().data().mmul(a().data()).muli(scale); }

    /** Writes W_eff = W + s·B·A into the layer's weight (call after A or B changed, before the next forward). */
    void sync() {
        if (merged()) return;
        INDArray old = base.weight().data();
        INDArray delta = delta();
        base.weight().set(delta.addi(baseWeight));
        if (old != baseWeight) Memory.free(old);
    }

    /** Adds s·Bᵀ·G to A's and s·G·Aᵀ to B's gradient, G = dL/dW_eff, then clears G. */
    void collectGradients() {
        INDArray g = base.weight().grad();
        if (g == null || merged()) return;
        INDArray seed = g.mul(scale);
        try (Tape tape = Grad.record()) {
            Tensor ba = Ops.matmul(b().tensor(), a().tensor());   // (out, in)
            tape.backward(ba, seed);
            Memory.free(ba.data());
        }
        Memory.free(seed);
        base.weight().zeroGrad();
    }

    /** Makes W + s·B·A the layer's plain weight (frozen); the adapter stays for {@link #unmerge}. */
    void merge() {
        if (merged()) return;
        sync();
        base.weight().zeroGrad();
        base.weight().setTrainable(false);
        baseWeight = null;                                        // W may be shared (a loaded file, a caller's array): not freed
    }

    /** Recovers W = W_merged − s·B·A (float rounding aside) and reattaches the adapter. */
    void unmerge() {
        if (!merged()) return;
        INDArray delta = delta();
        baseWeight = base.weight().data().sub(delta);
        Memory.free(delta);
        base.weight().setTrainable(true);
        sync();
    }
}
