package org.lavie4j.nn.clip;

import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Linear;

/** transformers 4.28.1 {@code CLIPMLP}: {@code fc2(act(fc1(x)))}, act = quick_gelu or exact gelu per config. */
public final class CLIPMLP extends Module {
    private final Linear fc1, fc2;
    private final CLIPTextConfig.Activation activation;

    public CLIPMLP(CLIPTextConfig config) {
        activation = config.hiddenAct();
        fc1 = child("fc1", new Linear(config.hiddenSize(), config.intermediateSize(), true));
        fc2 = child("fc2", new Linear(config.intermediateSize(), config.hiddenSize(), true));
    }

    /** x (B, L, D) -> (B, L, D). */
    public Tensor forward(Tensor x) {
        Tensor h = fc1.forward(x);                    // (b, l, i)
        Tensor a = activation.apply(h);
        h.release();
        Tensor out = fc2.forward(a);                  // (b, l, d)
        a.release();
        return out;
    }
}
