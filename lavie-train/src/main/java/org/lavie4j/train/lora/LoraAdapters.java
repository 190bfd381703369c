package org.lavie4j.train.lora;

import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Module;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The LoRA adapters attached to one model by {@link Lora#apply}: their parameters (A and B of each adapted Linear, keyed
 * {@code <module path>.lora_A.weight} / {@code .lora_B.weight} as peft and diffusers name them), saving and loading them
 * alone as safetensors, and merging them into the model's weights. The adapted layers read A and B at every forward,
 * so an optimizer step or a load needs no further call.
 */
public final class LoraAdapters {
    /** Safetensors metadata keys written by {@link #save}. */
    public static final String RANK_KEY = "lora_rank", ALPHA_KEY = "lora_alpha", TARGETS_KEY = "target_modules";
    /** Key prefixes of other writers that {@link #load} removes: diffusers' pipeline-level and peft's saved adapters. */
    private static final List<String> FOREIGN_PREFIXES = List.of("unet.", "base_model.model.");

    private final LoraConfig config;
    private final LoraTree tree;
    private final LinkedHashMap<String, LoraLinear> adapters;

    LoraAdapters(LoraConfig config, LoraTree tree, LinkedHashMap<String, LoraLinear> adapters) {
        this.config = config;
        this.tree = tree;
        this.adapters = adapters;
    }

    public LoraConfig config() { return config; }

    /** The adapted modules' paths, in model order. */
    public Set<String> modulePaths() { return Collections.unmodifiableSet(adapters.keySet()); }

    /** A and B of every adapter by key ({@code <path>.lora_A.weight}, ...): what an optimizer gets. */
    public LinkedHashMap<String, Parameter> namedParameters() { return tree.namedParameters(); }

    /** Number of adapter parameters. */
    public long parameterCount() { return tree.parameterCount(); }

    /** The adapters as one module (keys {@code <path>.lora_A.weight}, ...), e.g. for an {@code Ema} of the adapters alone. */
    public Module module() { return tree; }

    /** The adapters' state (live arrays, no copy) under their keys. */
    public StateDict stateDict() { return tree.stateDict(); }

    /** Clears the gradients of A and B. */
    public void zeroGrad() {
        for (LoraLinear a : adapters.values()) {
            a.a().zeroGrad();
            a.b().zeroGrad();
        }
    }

    /**
     * Makes each adapted layer's weight W + (alpha/r)·B·A for good and frozen: the model then runs, saves and exports as a
     * plain model. The adapters are kept for {@link #unmerge}.
     */
    public void merge() {
        for (LoraLinear a : adapters.values()) a.merge();
    }

    /** Undoes {@link #merge}: the layers get their W back exactly and the adapters train again. */
    public void unmerge() {
        for (LoraLinear a : adapters.values()) a.unmerge();
    }

    public boolean merged() { return adapters.values().iterator().next().merged(); }

    /** The base weight W of the adapter at {@code path} (also while merged); live, do not mutate. */
    INDArray baseWeight(String path) {
        LoraLinear a = adapters.get(path);
        if (a == null) throw new IllegalArgumentException("no LoRA adapter at '" + path + "'; adapted: " + adapters.keySet());
        return a.baseWeight();
    }

    // ------------------------------------------------------------------------------------------------ files

    /**
     * Writes the adapters alone, float32, to a safetensors file: keys {@code <module path>.lora_A.weight} [r, in] and
     * {@code .lora_B.weight} [out, r], metadata {@code lora_rank}, {@code lora_alpha}, {@code target_modules}.
     */
    public Path save(Path file) throws IOException {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put(RANK_KEY, Integer.toString(config.rank()));
        metadata.put(ALPHA_KEY, Double.toString(config.alpha()));
        metadata.put(TARGETS_KEY, String.join(",", config.targets()));
        SafeTensors.write(file, stateDict().asMap(), metadata, DType.F32);
        return file;
    }

    /**
     * Loads adapter weights saved by {@link #save} (or by peft/diffusers under {@code unet.} / {@code base_model.model.}
     * key prefixes) strictly, then {@link #sync}s the model. Every problem is reported at once and nothing changes when
     * any exists: a rank or alpha other than these adapters', a module with no adapter here, an adapter with no weights
     * in the file, a mis-shaped tensor. The adapted layers use the new values from their next forward.
     *
     * @throws IllegalArgumentException the file does not fit these adapters
     */
    public void load(Path file) throws IOException {
        if (merged()) throw new IllegalStateException("LoRA adapters are merged: unmerge() before loading others");
        try (TensorFile f = TensorFile.open(file)) {
            StringBuilder problems = new StringBuilder();
            Map<String, String> md = f.metadata();
            if (md.containsKey(RANK_KEY) && !md.get(RANK_KEY).equals(Integer.toString(config.rank())))
                problems.append("\n  rank: file ").append(md.get(RANK_KEY)).append(", adapters ").append(config.rank());
            if (md.containsKey(ALPHA_KEY)) {
                double alpha = parse(file, ALPHA_KEY, md.get(ALPHA_KEY));
                if (alpha != config.alpha()) problems.append("\n  alpha: file ").append(md.get(ALPHA_KEY)).append(", adapters ").append(config.alpha());
            }
            StateDict state = StateDict.of(file.toString(), withoutForeignPrefix(f.asMap()));
            LoadReport report = tree.load(state, false);
            if (!report.isClean() || problems.length() > 0) {
                if (!report.isClean()) problems.append("\n  ").append(report.toString().replace("\n", "\n  "));
                throw new IllegalArgumentException(file + ": LoRA weights do not fit these adapters (rank " + config.rank()
                        + ", alpha " + config.alpha() + ", " + adapters.size() + " modules):" + problems);
            }
        }
    }

    private static Map<String, TensorSource> withoutForeignPrefix(Map<String, TensorSource> in) {
        for (String prefix : FOREIGN_PREFIXES) {
            if (!in.isEmpty() && in.keySet().stream().allMatch(k -> k.startsWith(prefix))) {
                Map<String, TensorSource> out = new LinkedHashMap<>();
                in.forEach((k, v) -> out.put(k.substring(prefix.length()), v));
                return out;
            }
        }
        return in;
    }

    /** The config a file written by {@link #save} describes. */
    static LoraConfig configOf(Path file, Map<String, String> md) {
        for (String k : List.of(RANK_KEY, ALPHA_KEY, TARGETS_KEY))
            if (!md.containsKey(k)) throw new IllegalArgumentException(file + ": no '" + k + "' in the safetensors metadata; "
                    + "apply a LoraConfig and load(file) instead");
        int rank = (int) parse(file, RANK_KEY, md.get(RANK_KEY));
        return new LoraConfig(rank, parse(file, ALPHA_KEY, md.get(ALPHA_KEY)), Arrays.asList(md.get(TARGETS_KEY).split(",")));
    }

    private static double parse(Path file, String key, String value) {
        try {
            return Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file + ": metadata " + key + " = '" + value + "' is not a number");
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "LoRA(rank %d, alpha %s, %d modules, %d parameters%s)", config.rank(), config.alpha(),
                adapters.size(), parameterCount(), merged() ? ", merged" : "");
    }
}
