package org.lavie4j.nn.attention;

import org.lavie4j.core.Module;
import org.lavie4j.core.Fused;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Linear;

import java.util.Arrays;

/**
 * diffusers {@code GEGLU}: {@code [a | g] = proj(x)}, {@code a · gelu(g)} ({@link Fused#geglu} in eval mode,
 * {@link Fused#gegluTraining} in training mode). The first
 * half of the projection is the value, the second half the gate; GELU is exact (erf), README behaviour 15. Key:
 * {@code proj.weight} [2·dimOut, dimIn], {@code proj.bias}.
 */
public final class GEGLU extends Module {
    private final Linear proj;
    private final int dimIn, dimOut;

    public GEGLU(int dimIn, int dimOut) {
        this.dimIn = dimIn;
        this.dimOut = dimOut;
        proj = child("proj", new Linear(dimIn, 2 * dimOut, true));
    }

    /** x: (..., dimIn) -> (..., dimOut). */
    public Tensor forward(Tensor x) {
        if (x.rank() < 1 || x.size(-1) != dimIn)
            throw new IllegalArgumentException("GEGLU: input must be (..., " + dimIn + "), got " + Arrays.toString(x.shape()));
        Tensor h = proj.forward(x);                     // (..., 2*dimOut): value | gate
        // value · gelu(gate): one fused pass in eval mode; in training mode the composed ops' floats, which round as
        // torch's (the train_step golden case pins AdamW updates of near-zero gradients; see Fused), computed in fewer
        // passes by Fused.gegluTraining. One choice per mode keeps a checkpointed block's recomputation identical to its
        // first forward.
        Tensor y = isTraining() ? Fused.gegluTraining(h) : Fused.geglu(h);
        Tensor.release(h);                              // no-op while recording
        return y;
    }

    public int dimIn() { return dimIn; }

    public int dimOut() { return dimOut; }
}
