package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Loading LaVie's released checkpoints into the port's models. {@code lavie_base.pt} is a {@code torch.save} of
 * {@code {"ema": state_dict}}; {@code {"state_dict": ...}}, {@code {"model": ...}}, a bare state dict, a safetensors
 * file or a diffusers part folder are read the same way ({@link TensorFile#open}). The keys are the module tree's keys
 * (no mapping); a leading {@code module.} (DataParallel) is stripped.
 *
 * <p>The shared RoPE buffer {@code ...attn_temp.rotary_emb.freqs} (16 aliases of one tensor, README behaviour 8) is taken
 * from the file when present, all copies then having to agree; when every copy is absent the constructor's computed
 * values are kept; a file holding only some copies is an error.
 */
public final class LaVieCheckpoints {
    private LaVieCheckpoints() {}

    /** The key suffix of the shared rotary buffer. */
    static final String FREQS = "rotary_emb.freqs";

    /** The LaVie base UNet ({@link UNetConfig#lavieBase()}) with the weights of {@code file}, in eval mode. */
    public static UNet3DConditionModel loadBase(Path file) throws IOException {
        return loadBase(file, UNetConfig.lavieBase());
    }

    /**
     * A new base UNet of {@code config} loaded strictly from {@code file}, in eval mode.
     *
     * @throws java.nio.file.NoSuchFileException the file does not exist
     * @throws IOException not a checkpoint (unrecognised format, legacy pickle, no state dict inside)
     * @throws LoadReport.CheckpointMismatchException a checkpoint of another model or config: the report lists every
     *         missing, unexpected and mis-shaped key and every disagreeing {@code freqs} copy
     * @throws IllegalArgumentException only some of the {@code rotary_emb.freqs} copies are present
     */
    public static UNet3DConditionModel loadBase(Path file, UNetConfig config) throws IOException {
        try (TensorFile f = TensorFile.open(file)) {   // before building: a bad path must not cost a model allocation
            UNet3DConditionModel model = new UNet3DConditionModel(config);
            StateDict state = StateDict.of("LaVie base UNet checkpoint " + file, f.asMap());
            model.load(withComputedFreqs(stripModulePrefix(state), model.namedEntries()));
            model.eval();
            return model;
        }
    }

    /** {@code state} without a leading {@code module.} when every key has it; otherwise {@code state} itself. */
    public static StateDict stripModulePrefix(StateDict state) {
        if (state.size() == 0) return state;
        for (String k : state.keys()) if (!k.startsWith("module.")) return state;
        return state.withoutPrefix("module.");
    }

    /**
     * Completes {@code state} with the model's own {@code rotary_emb.freqs} values when the file holds none of them;
     * returns {@code state} unchanged when it holds all. Pure (nothing is loaded).
     *
     * @param expected the model's entries ({@code Module.namedEntries()})
     * @throws IllegalArgumentException when some but not all {@code freqs} keys are present (lists the absent ones)
     */
    public static StateDict withComputedFreqs(StateDict state, Map<String, Parameter> expected) {
        List<String> present = new ArrayList<>(), absent = new ArrayList<>();
        for (String key : expected.keySet()) {
            if (!key.endsWith(FREQS)) continue;
            (state.contains(key) ? present : absent).add(key);
        }
        if (absent.isEmpty()) return state;
        if (!present.isEmpty())
            throw new IllegalArgumentException(state.origin() + " holds " + present.size() + " of the " + (present.size() + absent.size())
                    + " copies of the shared rotary buffer '" + FREQS + "' (either all or none must be present); absent: " + absent);
        StateDict out = new StateDict(state.origin() + " (" + FREQS + " computed)");
        state.asMap().forEach(out::put);
        for (String key : absent) out.put(key, TensorSource.of(key, expected.get(key).data()));
        return out;
    }
}
