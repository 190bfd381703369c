package org.lavie4j.nn.layers;

import org.lavie4j.core.Init;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * torch.nn.Embedding(num, dim): one {@code weight} [num, dim], initialised N(0, 1) as PyTorch does; the lookup is
 * {@link Ops#embedding} (differentiable in the weight). Used for the VSR UNet's noise-level {@code class_embedding}.
 */
public final class Embedding extends Module {
    private final Parameter weight;
    private final int num, dim;

    public Embedding(int num, int dim) {
        if (num <= 0 || dim <= 0) throw new IllegalArgumentException("invalid Embedding(" + num + ", " + dim + ")");
        this.num = num;
        this.dim = dim;
        weight = parameter("weight", Init.normal(1.0, num, dim));
    }

    /** ids: integer indices of any shape, each in [0, num) -> ids.shape + [dim]. */
    public Tensor forward(INDArray ids) {
        Tensor w = weight.tensor();
        Tensor y = Ops.embedding(w, ids);
        w.release();                                        // frees a FLOAT copy of a half-stored table; no-op otherwise
        return y;
    }

    public Parameter weight() { return weight; }

    public int numEmbeddings() { return num; }

    public int embeddingDim() { return dim; }
}
