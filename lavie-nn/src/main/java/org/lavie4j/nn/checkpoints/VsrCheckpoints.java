package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.VsrConfig;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Loading LaVie's {@code lavie_vsr.pt} into {@link UNet3DVSRModel}. {@code sample.py} does
 * {@code load_state_dict(torch.load(path)["ema"], strict=True)}: the file is a {@code torch.save} of
 * {@code {"ema": state_dict}}; as for the other stages ({@link LaVieCheckpoints}) a bare state dict or any other
 * container {@link TensorFile#open} reads is accepted, keys are the module tree's (no mapping), a leading
 * {@code module.} is stripped, and loading is strict. The shared RoPE buffer ({@code temporal_rotary_emb.freqs} and its
 * 16 {@code attn_temporal.rotary_emb.freqs} aliases) is taken from the file when present (all copies must agree) or
 * computed when every copy is absent ({@link LaVieCheckpoints#withComputedFreqs}).
 */
public final class VsrCheckpoints {
    private VsrCheckpoints() {}

    /** The LaVie VSR UNet ({@link VsrConfig#lavieVsr()}) with the weights of {@code file}, in eval mode. */
    public static UNet3DVSRModel loadVsr(Path file) throws IOException {
        return loadVsr(file, VsrConfig.lavieVsr());
    }

    /**
     * A new VSR UNet of {@code config} loaded strictly from {@code file}, in eval mode.
     *
     * @throws java.nio.file.NoSuchFileException the file does not exist
     * @throws IOException not a checkpoint (unrecognised format, legacy pickle, no state dict inside)
     * @throws org.lavie4j.core.LoadReport.CheckpointMismatchException a checkpoint of another model or config: the
     *         report lists every missing, unexpected and mis-shaped key and every disagreeing {@code freqs} copy
     * @throws IllegalArgumentException only some of the {@code rotary_emb.freqs} copies are present
     */
    public static UNet3DVSRModel loadVsr(Path file, VsrConfig config) throws IOException {
        try (TensorFile f = TensorFile.open(file)) {   // before building: a bad path must not cost a model allocation
            UNet3DVSRModel model = new UNet3DVSRModel(config);
            StateDict state = StateDict.of("LaVie VSR UNet checkpoint " + file, f.asMap());
            model.load(LaVieCheckpoints.withComputedFreqs(LaVieCheckpoints.stripModulePrefix(state), model.namedEntries()));
            model.eval();
            return model;
        }
    }
}
