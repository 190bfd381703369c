package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;

import java.util.function.UnaryOperator;

/** torch.nn.Linear: weight {@code [out, in]}, optional bias {@code [out]}; x (..., in) -> (..., out). */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final int in, out;
    private UnaryOperator<Tensor> residual;

    public Linear(int in, int out, boolean bias) {
        if (in <= 0 || out <= 0) throw new IllegalArgumentException("invalid Linear(" + in + ", " + out + ")");
        this.in = in;
        this.out = out;
        double bound = 1.0 / Math.sqrt(in);   // PyTorch's default (Kaiming-uniform with a = √5) bound for both
        this.weight = parameter("weight", Conv2d.uniform(bound, out, in));
        this.bias = bias ? parameter("bias", Conv2d.uniform(bound, out)) : null;
    }

    public Linear(int in, int out) { this(in, out, true); }

    public Tensor forward(Tensor x) {
        Tensor w = weight.tensor(), b = bias == null ? null : bias.tensor();
        Tensor y = Ops.linear(x, w, b);
        Tensor.release(w, b);                               // frees FLOAT copies of half-stored weights; no-op otherwise
        if (residual == null) return y;
        Tensor r = residual.apply(x);                       // e.g. LoRA's s·B(A x), recorded like any op
        Tensor out = Ops.add(y, r);
        Tensor.release(y, r);
        return out;
    }

    /**
     * {@code forward(x) + addend}, a residual connection after this layer (attention's {@code to_out}, the feed-forward's
     * last layer): the bias and the addend join the product in one pass where {@link Ops#linearAdd} can (inference,
     * float32, an addend whose rows are contiguous), the composed ops' floats; with a {@link #setResidual residual} (LoRA) the composed
     * ops.
     */
    public Tensor forwardAdd(Tensor x, Tensor addend) {
        if (residual != null) {
            Tensor y = forward(x);
            Tensor sum = Ops.addInto(y, addend);
            if (sum != y) y.release();
            return sum;
        }
        Tensor w = weight.tensor(), b = bias == null ? null : bias.tensor();
        Tensor y = Ops.linearAdd(x, w, b, addend);
        Tensor.release(w, b);                               // frees FLOAT copies of half-stored weights; no-op otherwise
        return y;
    }

    /**
     * Adds {@code residual(x)} to this layer's output from now on: {@code y = W x + b + residual(x)} (LoRA's adapter
     * {@code s·B(A x)}, as peft's {@code lora.Linear}); null removes it. The residual's parameters belong to whoever
     * made it, not to this module's state dict; gradients reach them through the tape.
     */
    public void setResidual(UnaryOperator<Tensor> residual) { this.residual = residual; }

    /** The residual added to the output, or null. */
    public UnaryOperator<Tensor> residual() { return residual; }

    public Parameter weight() { return weight; }

    public Parameter bias() { return bias; }

    public int inFeatures() { return in; }

    public int outFeatures() { return out; }
}
