package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;

/**
 * torch.nn.Dropout with p = 0, as everywhere in LaVie (its diffusers blocks construct Dropout(0.0)): the identity,
 * present so that module indices (e.g. {@code to_out.0}, {@code ff.net.2}) match the checkpoint keys.
 */
public final class Dropout extends Module {
    public Tensor forward(Tensor x) { return x; }
}
