package org.lavie4j.nn.clip;

import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;

/**
 * The CLIP text encoder of Stable Diffusion (transformers 4.28.1 {@code CLIPTextModel}, eager attention): token +
 * position embeddings, pre-LN transformer layers with a causal mask filled with {@code finfo(dtype).min} (float32: −3.4e38),
 * quick_gelu (CLIP-L) or exact gelu (OpenCLIP-H) MLPs, final LayerNorm. {@link #forward} returns
 * {@code last_hidden_state} for every position, the {@code encoder_hidden_states} of the UNet.
 *
 * <p>Keys are the checkpoint's: {@code text_model.embeddings.token_embedding.weight}, ...,
 * {@code text_model.embeddings.position_ids} (an int64 buffer), {@code text_model.final_layer_norm.*}.
 * Deliberate deviations: no attention-mask argument (SD pipelines pass none), no pooled output.
 */
public final class CLIPTextModel extends Module {
    private final CLIPTextTransformer textModel;
    private final CLIPTextConfig config;

    public CLIPTextModel(CLIPTextConfig config) {
        if (config == null) throw new IllegalArgumentException("config is null");
        this.config = config;
        textModel = child("text_model", new CLIPTextTransformer(config));
    }

    /**
     * input_ids (B, L) integer token ids (any dtype holding integers), 1 ≤ L ≤ max_position_embeddings, each in
     * [0, vocab_size) -> last_hidden_state (B, L, hidden_size) in the parameters' dtype.
     *
     * @throws IllegalArgumentException for a wrong rank, a sequence longer than max_position_embeddings or an id
     *                                  outside the vocabulary (the message names the offending position)
     */
    public Tensor forward(Tensor inputIds) {
        if (inputIds == null) throw new IllegalArgumentException("CLIPTextModel: input_ids is null");
        return textModel.forward(inputIds);
    }

    public CLIPTextConfig config() { return config; }
}
