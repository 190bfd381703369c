package org.lavie4j.train.lora;

import org.lavie4j.core.Module;

/** A folder of the adapter tree: mirrors the model's path so that the adapters' keys are {@code <module path>.lora_A.weight}. */
final class LoraTree extends Module {
    /** The child {@code name}, created as an empty folder when absent. */
    LoraTree folder(String name) {
        Module m = children().get(name);
        if (m == null) return child(name, new LoraTree());
        if (!(m instanceof LoraTree t)) throw new IllegalStateException("'" + name + "' is an adapter, not a folder");
        return t;
    }

    void add(String name, LoraLinear adapter) { child(name, adapter); }
}
