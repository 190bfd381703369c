package org.lavie4j.nn.clip;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Linear;

/**
 * transformers 4.28.1 {@code CLIPAttention} (eager): {@code q = q_proj(x)·d^-0.5} (scale after the bias, as the
 * reference), k, v with bias, {@code softmax(q·kᵀ + mask)·v}, {@code out_proj}. Softmax in the input dtype.
 */
public final class CLIPAttention extends Module {
    private final Linear kProj, vProj, qProj, outProj;
    private final int heads;
    private final double scale;

    public CLIPAttention(CLIPTextConfig config) {
        int dim = config.hiddenSize();
        heads = config.numAttentionHeads();
        scale = Math.pow(config.headDim(), -0.5);
        kProj = child("k_proj", new Linear(dim, dim, true));
        vProj = child("v_proj", new Linear(dim, dim, true));
        qProj = child("q_proj", new Linear(dim, dim, true));
        outProj = child("out_proj", new Linear(dim, dim, true));
    }

    /**
     * x (B, L, D) -> (B, L, D).
     *
     * @param mask additive, broadcastable to (B, H, L, L) (the causal mask); may be null
     */
    public Tensor forward(Tensor x, Tensor mask) {
        Tensor q0 = qProj.forward(x);                                   // (b, l, d)
        Tensor q = Ops.scale(q0, scale);
        q0.release();
        Tensor k = kProj.forward(x), v = vProj.forward(x);              // (b, l, d)
        Tensor o = Attention.scaledDotProduct(Attention.splitHeads(q, heads), Attention.splitHeads(k, heads),
                Attention.splitHeads(v, heads), mask, 1.0);             // (b, h, l, d/h)
        Tensor.release(q, k, v);
        Tensor merged = Attention.mergeHeads(o);                        // (b, l, d)
        if (!merged.sharesMemoryWith(o)) o.release();
        Tensor out = outProj.forward(merged);
        merged.release();
        return out;
    }
}
