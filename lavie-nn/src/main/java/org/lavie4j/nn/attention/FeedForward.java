package org.lavie4j.nn.attention;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Dropout;
import org.lavie4j.nn.layers.Linear;

/**
 * diffusers {@code FeedForward(dim, dim_out, mult=4, activation_fn="geglu")} as in every LaVie transformer block
 * (base-unet.md §9): {@code net = [GEGLU(dim -> inner), Dropout, Linear(inner -> dimOut)]}, inner = mult·dim. Keys
 * {@code net.0.proj.weight} [2·inner, dim], {@code net.0.proj.bias}, {@code net.2.weight} [dimOut, inner],
 * {@code net.2.bias}.
 */
public final class FeedForward extends Module {
    private final GEGLU geglu;
    private final Linear out;
    private final int dim, dimOut, inner;

    public FeedForward(int dim, int dimOut, int mult) {
        if (dim <= 0 || dimOut <= 0 || mult <= 0)
            throw new IllegalArgumentException("invalid FeedForward(dim=" + dim + ", dimOut=" + dimOut + ", mult=" + mult + ")");
        this.dim = dim;
        this.dimOut = dimOut;
        this.inner = dim * mult;
        ModuleList<Module> net = child("net", new ModuleList<>(new GEGLU(dim, inner), new Dropout(), new Linear(inner, dimOut, true)));
        geglu = net.get(0, GEGLU.class);
        out = net.get(2, Linear.class);
    }

    /** LaVie's setting: dimOut = dim, mult 4. */
    public FeedForward(int dim) { this(dim, dim, 4); }

    /** x: (..., dim) -> (..., dimOut). */
    public Tensor forward(Tensor x) {
        Tensor h = geglu.forward(x);        // (..., inner); net.1 is Dropout(0)
        Tensor y = out.forward(h);          // (..., dimOut)
        h.release();                        // no-op while recording
        return y;
    }

    /** {@code forward(x) + addend} (the block's residual connection), the addend joining the last layer's product in one pass. */
    public Tensor forwardAdd(Tensor x, Tensor addend) {
        Tensor h = geglu.forward(x);
        Tensor y = out.forwardAdd(h, addend);
        h.release();
        return y;
    }

    public int dim() { return dim; }

    public int dimOut() { return dimOut; }

    public int innerDim() { return inner; }
}
