package org.lavie4j.train.lora;

import org.lavie4j.core.Module;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.nn.layers.Linear;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Low-rank adaptation (Hu et al. 2021, "LoRA", eq. 3: h = W₀x + ΔWx = W₀x + B·A·x, scaled by alpha / r) of the Linear
 * layers of a model, the way to fine-tune the full-size model on one machine: only the adapters A, B train, so the
 * optimizer keeps state for them alone.
 *
 * <pre>{@code
 * LoraAdapters lora = Lora.apply(unet, LoraConfig.attention(8, 8), seed);   // freezes the model
 * AdamW opt = new AdamW(lora.namedParameters(), cfg);
 * try (Tape tape = Grad.record()) { ... tape.backward(loss); }
 * opt.step();  opt.zeroGrad();                                              // A and B have their gradients
 * lora.save(file);  lora.merge();
 * }</pre>
 */
public final class Lora {
    private Lora() {}

    /**
     * Adds a LoRA adapter to every Linear of {@code model} whose path {@code config} targets and freezes everything
     * else. A's initial values come from {@code seed}; B starts at zero, so the model's output is unchanged.
     * Convert the model's dtype ({@link Module#to}) before, not after, this call.
     *
     * @throws IllegalArgumentException a target names a module that is not a Linear, or no module matches
     */
    public static LoraAdapters apply(Module model, LoraConfig config, long seed) {
        LinkedHashMap<String, Module> modules = new LinkedHashMap<>();
        collect("", model, modules, new IdentityHashMap<>());
        model.setTrainable(false);
        SplittableRandom random = new SplittableRandom(seed);
        LoraTree tree = new LoraTree();
        LinkedHashMap<String, LoraLinear> adapters = new LinkedHashMap<>();
        List<String> notLinear = new ArrayList<>();
        for (Map.Entry<String, Module> e : modules.entrySet()) {
            String path = e.getKey();
            if (!config.matches(path)) continue;
            if (!(e.getValue() instanceof Linear linear)) {
                notLinear.add(path + " (" + e.getValue().getClass().getSimpleName() + ")");
                continue;
            }
            String[] parts = path.split("\\.");
            LoraTree folder = tree;
            for (int i = 0; i < parts.length - 1; i++) folder = folder.folder(parts[i]);
            LoraLinear adapter = new LoraLinear(linear, config.rank(), config.scale(), random);
            folder.add(parts[parts.length - 1], adapter);
            adapters.put(path, adapter);
        }
        if (!notLinear.isEmpty())
            throw new IllegalArgumentException("LoRA targets " + config.targets() + " match modules that are not Linear: " + notLinear);
        if (adapters.isEmpty())
            throw new IllegalArgumentException("LoRA targets " + config.targets() + " match no module of " + model.getClass().getSimpleName());
        return new LoraAdapters(config, tree, adapters);
    }

    /**
     * Adapts {@code model} as the LoRA file {@code file} says (rank, alpha and targets from its metadata, written by
     * {@link LoraAdapters#save}) and loads its weights strictly.
     */
    public static LoraAdapters apply(Module model, Path file) throws IOException {
        LoraConfig config;
        try (TensorFile f = TensorFile.open(file)) {
            config = LoraAdapters.configOf(file, f.metadata());
        }
        LoraAdapters lora = apply(model, config, 0);
        lora.load(file);
        return lora;
    }

    /** Every module of the tree by path, each once (the first path of a shared module). */
    private static void collect(String prefix, Module m, Map<String, Module> out, IdentityHashMap<Module, Boolean> seen) {
        for (Map.Entry<String, Module> c : m.children().entrySet()) {
            if (seen.put(c.getValue(), Boolean.TRUE) != null) continue;
            String path = prefix + c.getKey();
            out.put(path, c.getValue());
            collect(path + ".", c.getValue(), out, seen);
        }
    }
}
