package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Loading LaVie's {@code lavie_interpolation.pt} into the interpolation UNet. As for the base model
 * ({@link LaVieCheckpoints}): the file is a {@code torch.save} of {@code {"ema": state_dict}} or a bare state dict
 * (the reference's {@code find_model} takes {@code "ema"} when present), or any other container
 * {@link TensorFile#open} reads; keys are the module tree's (no mapping), a leading {@code module.} is stripped, and
 * loading is strict. This variant has no rotary buffer, so nothing is computed: a base checkpoint (with
 * {@code rotary_emb.freqs} and {@code time_rel_pos_bias}) is reported as unexpected keys.
 */
public final class InterpolationCheckpoints {
    private InterpolationCheckpoints() {}

    /** The LaVie interpolation UNet ({@link UNetConfig#lavieInterpolation()}) with the weights of {@code file}, in eval mode. */
    public static UNet3DConditionModel loadInterpolation(Path file) throws IOException {
        return loadInterpolation(file, UNetConfig.lavieInterpolation());
    }

    /**
     * A new interpolation UNet of {@code config} loaded strictly from {@code file}, in eval mode.
     *
     * @throws IllegalArgumentException {@code config} is not an interpolation-variant config
     * @throws java.nio.file.NoSuchFileException the file does not exist
     * @throws IOException not a checkpoint (unrecognised format, legacy pickle, no state dict inside)
     * @throws org.lavie4j.core.LoadReport.CheckpointMismatchException a checkpoint of another model or config: the
     *         report lists every missing, unexpected and mis-shaped key
     */
    public static UNet3DConditionModel loadInterpolation(Path file, UNetConfig config) throws IOException {
        if (config.variant() != BlockVariant.INTERPOLATION)
            throw new IllegalArgumentException("loadInterpolation needs an interpolation-variant config, got " + config.variant());
        try (TensorFile f = TensorFile.open(file)) {   // before building: a bad path must not cost a model allocation
            UNet3DConditionModel model = new UNet3DConditionModel(config);
            model.load(LaVieCheckpoints.stripModulePrefix(StateDict.of("LaVie interpolation UNet checkpoint " + file, f.asMap())));
            model.eval();
            return model;
        }
    }
}
