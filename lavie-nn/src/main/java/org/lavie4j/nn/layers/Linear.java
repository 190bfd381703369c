package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;

/** torch.nn.Linear: weight {@code [out, in]}, optional bias {@code [out]}; x (..., in) -> (..., out). */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final int in, out;

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
        return Ops.linear(x, weight.tensor(), bias == null ? null : bias.tensor());
    }

    public Parameter weight() { return weight; }

    public Parameter bias() { return bias; }

    public int inFeatures() { return in; }

    public int outFeatures() { return out; }
}
