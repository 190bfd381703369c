package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * diffusers 0.16 {@code TimestepEmbedding} with {@code act_fn="silu"} (the UNets' {@code time_embedding}):
 * {@code linear_2(silu(linear_1(sample)))}, in_channels -> time_embed_dim -> time_embed_dim. Keys
 * {@code linear_1}, {@code linear_2}. The optional {@code cond_proj}, {@code post_act} and other activations of
 * diffusers are not used by LaVie and not built.
 */
public final class TimestepEmbedding extends Module {
    private final Linear linear1;
    private final Linear linear2;

    public TimestepEmbedding(int inChannels, int timeEmbedDim) {
        linear1 = child("linear_1", new Linear(inChannels, timeEmbedDim));
        linear2 = child("linear_2", new Linear(timeEmbedDim, timeEmbedDim));
    }

    /** sample: (N, in_channels) -> (N, time_embed_dim). */
    public Tensor forward(Tensor sample) {
        if (sample.rank() != 2 || sample.size(1) != linear1.inFeatures())
            throw new IllegalArgumentException("TimestepEmbedding(in=" + linear1.inFeatures() + "): sample must be (N, "
                    + linear1.inFeatures() + "), got " + Arrays.toString(sample.shape()));
        Tensor h = linear1.forward(sample);                       // (n, time_embed_dim)
        Tensor a = Ops.silu(h);
        h.release();
        Tensor y = linear2.forward(a);                            // (n, time_embed_dim)
        a.release();
        return y;
    }

    public int inChannels() { return linear1.inFeatures(); }

    public int timeEmbedDim() { return linear2.outFeatures(); }
}
