package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.checkpoints.Inflation;
import org.lavie4j.nn.checkpoints.InterpolationCheckpoints;
import org.lavie4j.nn.checkpoints.StableDiffusionParts;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * LaVie's interpolation stage as released (schedulers-and-pipelines.md §6): {@code lavie_interpolation.pt} (or a
 * {@code .safetensors} export of it) with {@code stable-diffusion-v1-4/} beside it, as in the original's
 * {@code pretrained_models/}. The tokenizer, text encoder and VAE come from the SD folder; the UNet's architecture from
 * {@code stable-diffusion-v1-4/unet/config.json} when present, rewritten as {@code from_pretrained_2d(...,
 * use_concat=True, copy_no_mask=True)} does (3-D blocks, {@code in_channels} 8, {@code use_first_frame} true), else
 * {@link UNetConfig#lavieInterpolation()}. The original hard-codes SD's four block types instead of mapping the 2-D
 * ones; both give the same model for SD v1.4's config (mapping also lets a smaller test config load).
 */
public record InterpolationModel(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DConditionModel unet, AutoencoderKL vae) {
    private static final Logger LOG = LoggerFactory.getLogger(InterpolationModel.class);

    /** File names of LaVie's release folder. */
    public static final String CHECKPOINT_PT = "lavie_interpolation.pt", CHECKPOINT_SAFETENSORS = "lavie_interpolation.safetensors",
            SD14 = TextToVideoModel.SD14;

    public InterpolationModel {
        if (tokenizer == null || textEncoder == null || unet == null || vae == null)
            throw new IllegalArgumentException("InterpolationModel: every part is required");
        new InterpolationPipeline(tokenizer, textEncoder, unet, vae);    // checks that the parts fit together
    }

    /** A pipeline over this model's parts. */
    public InterpolationPipeline pipeline() { return new InterpolationPipeline(tokenizer, textEncoder, unet, vae); }

    /** True when {@code dir} holds an interpolation checkpoint under one of the release names. */
    public static boolean isModelFolder(Path dir) {
        return Files.isRegularFile(dir.resolve(CHECKPOINT_PT)) || Files.isRegularFile(dir.resolve(CHECKPOINT_SAFETENSORS));
    }

    /**
     * Loads the release folder {@code dir} (or {@code dir} = the checkpoint file itself, its folder then being the
     * release folder). Every part is in eval mode.
     *
     * @throws NoSuchFileException naming the checkpoint or SD folder expected, and where
     * @throws IOException         an unreadable or corrupt file (named)
     * @throws org.lavie4j.core.LoadReport.CheckpointMismatchException weights that do not fit (every key listed)
     */
    public static InterpolationModel load(Path dir) throws IOException {
        Path checkpoint = ModelFolders.releaseCheckpoint(dir, CHECKPOINT_PT, CHECKPOINT_SAFETENSORS, "interpolation", SD14);
        dir = checkpoint.toAbsolutePath().getParent();
        Path sd = dir.resolve(SD14);
        if (!Files.isDirectory(sd))
            throw new NoSuchFileException(sd.toString(), null, "LaVie's interpolation stage needs the Stable Diffusion v1.4 folder beside "
                    + checkpoint + " (tokenizer/, text_encoder/, vae/): expected " + sd);
        UNetConfig config = unetConfig(sd);
        StableDiffusionParts.Parts parts = StableDiffusionParts.load(sd);
        UNet3DConditionModel unet = InterpolationCheckpoints.loadInterpolation(checkpoint, config);
        return new InterpolationModel(parts.tokenizer(), parts.textEncoder(), unet, parts.vae());
    }

    /** The interpolation UNet's config from {@code <sd>/unet/config.json} ({@code from_pretrained_2d}'s rewrite), or LaVie's. */
    static UNetConfig unetConfig(Path sd) throws IOException {
        Path file = sd.resolve(TextToVideoModel.UNET).resolve("config.json");
        if (!Files.isRegularFile(file)) {
            LOG.info("{} not found: using LaVie's interpolation UNet config", file);
            return UNetConfig.lavieInterpolation();
        }
        JsonNode json = DiffusersFolder.readJson(file);
        try {
            return interpolationConfig(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** SD's 2-D UNet config rewritten as {@code from_pretrained_2d(use_concat=True, copy_no_mask=True)} does. */
    public static UNetConfig interpolationConfig(JsonNode sdUnetConfig) {
        ObjectNode json = Inflation.inflateConfigJson(sdUnetConfig);
        json.put("use_first_frame", true);
        json.put("in_channels", 8);
        return UNetConfig.fromJson(json, BlockVariant.INTERPOLATION).config();
    }
}
