package org.lavie4j.nn.layers;

import org.lavie4j.core.Fused;
import org.lavie4j.core.Module;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/** torch.nn.LayerNorm(dim, eps) over the last dim, affine. */
public final class LayerNorm extends Module {
    private final Parameter weight, bias;
    private final int dim;
    private final double eps;

    public LayerNorm(int dim, double eps) {
        this.dim = dim;
        this.eps = eps;
        this.weight = parameter("weight", Nd4j.ones(DataType.FLOAT, dim));
        this.bias = parameter("bias", Nd4j.zeros(DataType.FLOAT, dim));
    }

    /** LayerNorm with PyTorch's default eps 1e-5. */
    public LayerNorm(int dim) { this(dim, 1e-5); }

    public Tensor forward(Tensor x) {
        if (x.size(-1) != dim)
            throw new IllegalArgumentException("LayerNorm(" + dim + "): input " + Arrays.toString(x.shape()) + " has last dim " + x.size(-1));
        Tensor w = weight.tensor(), b = bias.tensor();
        Tensor y = isTraining() ? NnOps.layerNorm(x, w, b, eps) : Fused.layerNorm(x, w, b, eps);   // see GroupNorm
        Tensor.release(w, b);                               // frees FLOAT copies of half-stored weights; no-op otherwise
        return y;
    }
}
