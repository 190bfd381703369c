package org.lavie4j.nn.clip;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Tensor;

/** transformers 4.28.1 {@code CLIPEncoder}: the stack {@code layers.{i}} of {@link CLIPEncoderLayer}s. */
public final class CLIPEncoder extends Module {
    private final ModuleList<CLIPEncoderLayer> layers;

    public CLIPEncoder(CLIPTextConfig config) {
        layers = child("layers", new ModuleList<>());
        for (int i = 0; i < config.numHiddenLayers(); i++) layers.add(new CLIPEncoderLayer(config));
    }

    /** x (B, L, D) -> (B, L, D). The input is not released; intermediate layer outputs are. */
    public Tensor forward(Tensor x, Tensor mask) {
        Tensor h = x;
        for (CLIPEncoderLayer layer : layers) {
            Tensor next = layer.forward(h, mask);
            if (h != x) h.release();
            h = next;
        }
        return h;
    }
}
