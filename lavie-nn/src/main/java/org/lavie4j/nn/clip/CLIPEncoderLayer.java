package org.lavie4j.nn.clip;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.LayerNorm;

/** transformers 4.28.1 {@code CLIPEncoderLayer}: pre-LN residual blocks {@code x + attn(ln1(x))}, then {@code + mlp(ln2(·))}. */
public final class CLIPEncoderLayer extends Module {
    private final CLIPAttention selfAttn;
    private final LayerNorm layerNorm1, layerNorm2;
    private final CLIPMLP mlp;

    public CLIPEncoderLayer(CLIPTextConfig config) {
        selfAttn = child("self_attn", new CLIPAttention(config));
        layerNorm1 = child("layer_norm1", new LayerNorm(config.hiddenSize(), config.layerNormEps()));
        mlp = child("mlp", new CLIPMLP(config));
        layerNorm2 = child("layer_norm2", new LayerNorm(config.hiddenSize(), config.layerNormEps()));
    }

    /** x (B, L, D) -> (B, L, D); {@code mask} additive (see {@link CLIPAttention#forward}). The input is not released. */
    public Tensor forward(Tensor x, Tensor mask) {
        Tensor h = layerNorm1.forward(x);
        Tensor a = selfAttn.forward(h, mask);
        h.release();
        Tensor x1 = Ops.add(x, a);                    // (b, l, d)
        a.release();
        h = layerNorm2.forward(x1);
        Tensor m = mlp.forward(h);
        h.release();
        Tensor out = Ops.add(x1, m);
        Tensor.release(x1, m);
        return out;
    }
}
