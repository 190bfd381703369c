package org.lavie4j.nn.clip;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.LayerNorm;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * transformers 4.28.1 {@code CLIPTextTransformer}: embeddings, causal encoder, {@code final_layer_norm} ->
 * {@code last_hidden_state}. The pooled output (EOS row) is not computed: Stable Diffusion does not use it.
 */
public final class CLIPTextTransformer extends Module {
    private final CLIPTextEmbeddings embeddings;
    private final CLIPEncoder encoder;
    private final LayerNorm finalLayerNorm;

    public CLIPTextTransformer(CLIPTextConfig config) {
        embeddings = child("embeddings", new CLIPTextEmbeddings(config));
        encoder = child("encoder", new CLIPEncoder(config));
        finalLayerNorm = child("final_layer_norm", new LayerNorm(config.hiddenSize(), config.layerNormEps()));
    }

    /** input_ids (B, L) -> last_hidden_state (B, L, D). No padding mask: padded positions are processed causally. */
    public Tensor forward(Tensor inputIds) {
        Tensor h = embeddings.forward(inputIds);                       // (b, l, d)
        Tensor mask = causalMask(h.size(1), h.dtype());                // (1, 1, l, l)
        Tensor e = encoder.forward(h, mask);
        if (e != h) h.release();
        Tensor out = finalLayerNorm.forward(e);
        e.release();
        if (!Grad.isRecording()) Memory.free(mask.data());   // a recorded attention keeps the mask for backward
        return out;
    }

    /**
     * {@code _build_causal_attention_mask}: 0 on and below the diagonal, {@code torch.finfo(dtype).min} above it
     * (float32: −3.4028235e38; a finite fill, not −∞, as the reference); (1, 1, L, L).
     */
    static Tensor causalMask(long l, DataType type) {
        double fill = finfoMin(type);
        INDArray m = Nd4j.zeros(type, 1, 1, l, l);
        for (long i = 0; i < l; i++)
            for (long j = i + 1; j < l; j++) m.putScalar(new long[]{0, 0, i, j}, fill);
        return Tensor.of(m);
    }

    /** {@code torch.finfo(type).min}. */
    static double finfoMin(DataType type) {
        return switch (type) {
            case FLOAT -> -Float.MAX_VALUE;
            case DOUBLE -> -Double.MAX_VALUE;
            case HALF -> -65504.0;
            case BFLOAT16 -> -3.3895313892515355e38;
            default -> throw new IllegalArgumentException("CLIPTextModel: parameters of dtype " + type + " are not floating point");
        };
    }
}
