package org.lavie4j.nn.attention;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Linear;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Self-attention's q, k and v projections of one input as one product ({@link Ops#linearStacked}) in inference:
 * at LaVie's first level the three 40,960 × 320 → 320 products ran at 54-72% of the FMA peak in the forward, a
 * 320 → 960 one nearer the peak of the wide products. Used by {@link CrossAttention}'s self-attention and by
 * {@link TemporalAttention}; both fall back to their three {@link Linear}s whenever this declines.
 */
final class StackedProjections {
    private StackedProjections() {}

    /**
     * The system property that turns the stacked product off ({@code false}; read at every call, so benchmarks can
     * alternate): the three linears then run one by one.
     */
    static final String PROPERTY = "lavie.attention.stackedQkv";

    /**
     * x's projections by {@code layers} as one (..., Σ out) tensor, layer i's columns after those of the layers before
     * it; null when a tape records (training keeps the per-layer linears and their gradients), a layer has a residual
     * (LoRA), the layers mix bias and no bias, x is not float32, or {@link #PROPERTY} is {@code false}.
     */
    static Tensor of(Tensor x, Linear... layers) {
        if (Grad.isRecording() || x.dtype() != DataType.FLOAT || "false".equals(System.getProperty(PROPERTY, "true").trim())) return null;
        boolean biased = layers[0].bias() != null;
        for (Linear l : layers)
            if (l.residual() != null || (l.bias() != null) != biased || l.inFeatures() != layers[0].inFeatures()) return null;
        Tensor[] w = new Tensor[layers.length], b = biased ? new Tensor[layers.length] : null;
        try {
            for (int i = 0; i < layers.length; i++) {
                w[i] = layers[i].weight().tensor();
                if (biased) b[i] = layers[i].bias().tensor();
            }
            return Ops.linearStacked(x, w, b);
        } finally {
            Tensor.release(w);                       // frees FLOAT copies of half-stored weights; no-op otherwise
            if (b != null) Tensor.release(b);
        }
    }
}
