package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.Init;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.nn.checkpoints.StableDiffusionParts;
import org.lavie4j.nn.checkpoints.VaeKeyMapping;
import org.lavie4j.nn.checkpoints.VsrCheckpoints;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.schedulers.BetaSchedule;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.schedulers.TimestepSpacing;
import org.lavie4j.nn.schedulers.VarianceType;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.unet.VsrConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * LaVie's video super-resolution stage as released (schedulers-and-pipelines.md §6, vsr-unet.md §6): in the original's
 * {@code pretrained_models/} folder, {@code lavie_vsr.pt} (a {@code torch.save} of {@code {"ema": state_dict}}; or a
 * {@code .safetensors} export of it) with {@code stable-diffusion-x4-upscaler/} beside it, of which {@code vae/},
 * {@code text_encoder/}, {@code tokenizer/}, {@code scheduler/} and {@code low_res_scheduler/} are used, as
 * {@code vsr/sample.py} does:
 * <ul>
 *   <li>UNet: {@link VsrConfig#lavieVsr()} (LaVie's {@code vsr/configs/unet_3d_config.json} with {@code video_condition}
 *       false), or {@value #UNET_CONFIG} beside the checkpoint when present (that file, copied from LaVie's
 *       {@code vsr/configs/}; {@code video_condition} is forced false as {@code sample.py} does); weights strictly from
 *       the checkpoint;</li>
 *   <li>VAE: the architecture of {@code vae/config.json} (or, without one, LaVie's {@code vsr/configs/vae_config.json} =
 *       {@link VaeConfig#x4Upscaler()}), with {@code scaling_factor} 0.08333 (LaVie's file) when the folder's config has
 *       none; weights {@code vae/diffusion_pytorch_model.bin} (or .safetensors);</li>
 *   <li>sampler: DDIM from {@code scheduler/scheduler_config.json} with {@code beta_schedule} replaced by
 *       {@code "linear"} (sample.py); noise augmentation: {@code low_res_scheduler/scheduler_config.json} as is.</li>
 * </ul>
 * Every load is strict; a missing or wrong file is an error naming the file expected and where.
 */
public record SuperResolutionModel(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DVSRModel unet, AutoencoderKL vae,
                                   SchedulerConfig schedulerConfig, SchedulerConfig lowResSchedulerConfig) {
    private static final Logger LOG = LoggerFactory.getLogger(SuperResolutionModel.class);

    /** File names of LaVie's release folder. */
    public static final String CHECKPOINT_PT = "lavie_vsr.pt", CHECKPOINT_SAFETENSORS = "lavie_vsr.safetensors",
            X4 = "stable-diffusion-x4-upscaler", UNET_CONFIG = "unet_3d_config.json";
    /** Parts of the x4 upscaler folder beyond tokenizer/text_encoder/vae. */
    public static final String SCHEDULER = "scheduler", LOW_RES_SCHEDULER = "low_res_scheduler", SCHEDULER_CONFIG = "scheduler_config.json";
    /** LaVie's {@code vsr/configs/vae_config.json} scaling factor. */
    public static final double X4_SCALING_FACTOR = 0.08333;
    private static final String CONFIG = "config.json";

    public SuperResolutionModel {
        if (tokenizer == null || textEncoder == null || unet == null || vae == null || schedulerConfig == null || lowResSchedulerConfig == null)
            throw new IllegalArgumentException("SuperResolutionModel: every part is required");
        if (tokenizer.vocabSize() > textEncoder.config().vocabSize())
            throw new IllegalArgumentException("SuperResolutionModel: the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the text encoder's vocab_size is " + textEncoder.config().vocabSize());
        pipeline(tokenizer, textEncoder, unet, vae, schedulerConfig, lowResSchedulerConfig);    // checks that the parts fit together
    }

    /** A pipeline over this model's parts. */
    public SuperResolutionPipeline pipeline() {
        return pipeline(tokenizer, textEncoder, unet, vae, schedulerConfig, lowResSchedulerConfig);
    }

    private static SuperResolutionPipeline pipeline(CLIPTokenizer t, CLIPTextModel te, UNet3DVSRModel u, AutoencoderKL v,
                                                    SchedulerConfig s, SchedulerConfig low) {
        return new SuperResolutionPipeline(t, te, u, v, s, low);
    }

    /**
     * The sampler {@code sample.py} builds from the official upscaler's {@code scheduler_config.json} with linear betas:
     * DDIM, 1e-4..0.02 linear, v-prediction, set_alpha_to_one false, steps_offset 1, clip_sample false.
     */
    public static SchedulerConfig lavieScheduler() {
        return new SchedulerConfig(SchedulerKind.DDIM, 1000, 0.0001, 0.02, BetaSchedule.LINEAR, PredictionType.V_PREDICTION,
                VarianceType.FIXED_SMALL, false, 1.0, false, 1, false, TimestepSpacing.LEADING);
    }

    /** The official upscaler's {@code low_res_scheduler}: DDPM, scaled_linear 1e-4..0.02 (ᾱ[50] ≈ 0.99084). */
    public static SchedulerConfig lowResScheduler() {
        return new SchedulerConfig(SchedulerKind.DDPM, 1000, 0.0001, 0.02, BetaSchedule.SCALED_LINEAR, PredictionType.EPSILON,
                VarianceType.FIXED_SMALL, false, 1.0, false, 0, false, TimestepSpacing.LEADING);
    }

    // ------------------------------------------------------------------------------------------------ loading

    /** True when {@code dir} holds a VSR checkpoint under one of the release names. */
    public static boolean isModelFolder(Path dir) {
        return Files.isRegularFile(dir.resolve(CHECKPOINT_PT)) || Files.isRegularFile(dir.resolve(CHECKPOINT_SAFETENSORS));
    }

    /**
     * Loads the release folder {@code dir} (or {@code dir} = the checkpoint file itself, its folder then being the
     * release folder). Every part is in eval mode.
     *
     * @throws NoSuchFileException naming the checkpoint, folder or file expected, and where
     * @throws IOException         an unreadable or corrupt file (named)
     * @throws IllegalArgumentException a config that cannot be read (named)
     * @throws org.lavie4j.core.LoadReport.CheckpointMismatchException weights that do not fit (every key listed)
     */
    public static SuperResolutionModel load(Path dir) throws IOException {
        Path checkpoint = ModelFolders.releaseCheckpoint(dir, CHECKPOINT_PT, CHECKPOINT_SAFETENSORS, "VSR", X4);
        dir = checkpoint.toAbsolutePath().getParent();
        Path x4 = dir.resolve(X4);
        if (!Files.isDirectory(x4))
            throw new NoSuchFileException(x4.toString(), null, "LaVie's VSR stage needs the Stable Diffusion x4 upscaler folder beside "
                    + checkpoint + " (tokenizer/, text_encoder/, vae/, scheduler/, low_res_scheduler/): expected " + x4);
        VsrConfig unetConfig = unetConfig(dir);
        SchedulerConfig scheduler = scheduler(x4);
        SchedulerConfig lowRes = lowResScheduler(x4);
        CLIPTokenizer tokenizer = StableDiffusionParts.tokenizer(x4);
        CLIPTextModel textEncoder = StableDiffusionParts.textEncoder(x4);
        AutoencoderKL vae = vae(x4);
        UNet3DVSRModel unet = VsrCheckpoints.loadVsr(checkpoint, unetConfig);
        return new SuperResolutionModel(tokenizer, textEncoder, unet, vae, scheduler, lowRes);
    }

    /** {@value #UNET_CONFIG} beside the checkpoint ({@code video_condition} forced false), or {@link VsrConfig#lavieVsr()}. */
    static VsrConfig unetConfig(Path dir) throws IOException {
        Path file = dir.resolve(UNET_CONFIG);
        if (!Files.isRegularFile(file)) {
            LOG.info("{} not found: using LaVie's VSR UNet config (vsr/configs/unet_3d_config.json)", file);
            return VsrConfig.lavieVsr();
        }
        return ModelFolders.parse(file, json -> {
            ObjectNode n = json.deepCopy();
            n.put("video_condition", false);                             // sample.py: config['video_condition'] = False
            return VsrConfig.fromJson(n).config();
        });
    }

    /** {@code <x4>/scheduler/scheduler_config.json} loaded into DDIM with {@code beta_schedule} "linear" (sample.py). */
    static SchedulerConfig scheduler(Path x4) throws IOException {
        Path file = schedulerFile(x4, SCHEDULER, "the sampler (DDIM, v-prediction)");
        return ModelFolders.parse(file, json -> {
            ObjectNode n = json.deepCopy();
            n.put("beta_schedule", "linear");
            return SchedulerConfig.fromJson(n, SchedulerKind.DDIM);
        });
    }

    /** {@code <x4>/low_res_scheduler/scheduler_config.json} as a DDPM config (the noise augmentation's betas). */
    static SchedulerConfig lowResScheduler(Path x4) throws IOException {
        Path file = schedulerFile(x4, LOW_RES_SCHEDULER, "the noise augmentation of the low-resolution frames (DDPM)");
        return ModelFolders.parse(file, json -> SchedulerConfig.fromJson(json, SchedulerKind.DDPM));
    }

    private static Path schedulerFile(Path x4, String part, String what) throws NoSuchFileException {
        Path file = x4.resolve(part).resolve(SCHEDULER_CONFIG);
        if (!Files.isRegularFile(file))
            throw new NoSuchFileException(file.toString(), null, "missing the scheduler config of " + what + ": expected " + file);
        return file;
    }

    /** The x4 VAE: {@code vae/config.json}'s architecture (LaVie's vae_config.json without one), scaling 0.08333 unless given. */
    static AutoencoderKL vae(Path x4) throws IOException {
        Path dir = x4.resolve(StableDiffusionParts.VAE);
        if (!Files.isDirectory(dir))
            throw new NoSuchFileException(dir.toString(), null, "missing part 'vae' of " + x4 + ": expected the folder " + dir);
        Path configFile = dir.resolve(CONFIG);
        VaeConfig config;
        if (Files.isRegularFile(configFile)) {
            config = ModelFolders.parse(configFile, json -> {
                VaeConfig c = VaeConfig.fromJson(json).config();
                if (json.hasNonNull("scaling_factor")) return c;
                return new VaeConfig(c.inChannels(), c.outChannels(), c.blockOutChannels(), c.layersPerBlock(), c.latentChannels(),
                        c.normNumGroups(), c.sampleSize(), X4_SCALING_FACTOR);    // the file LaVie builds the VAE from says 0.08333
            });
        } else {
            LOG.info("{} not found: using LaVie's x4 VAE config (vsr/configs/vae_config.json)", configFile);
            config = VaeConfig.x4Upscaler();
        }
        Path weights = DiffusersFolder.findWeights(dir);
        if (weights == null)
            throw new NoSuchFileException(dir.resolve("diffusion_pytorch_model.bin").toString(), null,
                    "missing the x4 VAE weights: expected " + dir.resolve("diffusion_pytorch_model.bin") + " (or diffusion_pytorch_model.safetensors)");
        AutoencoderKL vae = new AutoencoderKL(config);
        try (TensorFile f = TensorFile.open(weights)) {
            vae.load(VaeKeyMapping.toDiffusers016(StateDict.of(weights + " into the x4 AutoencoderKL of "
                    + (Files.isRegularFile(configFile) ? configFile : "LaVie's vae_config.json"), f.asMap())));
        }
        vae.eval();
        return vae;
    }


    // ------------------------------------------------------------------------------------------------ saving

    /**
     * Writes this model as a release folder at {@code dir} (which must not exist yet) that {@link #load} reads:
     * {@value #CHECKPOINT_SAFETENSORS}, {@value #UNET_CONFIG} and {@code stable-diffusion-x4-upscaler/} with safetensors
     * weights. Assembled under a temporary name beside {@code dir} and renamed into place in one step.
     */
    public void save(Path dir, DType weightType) throws IOException {
        ModelFolders.createAtomically(dir, tmp -> {
            SafeTensors.write(tmp.resolve(CHECKPOINT_SAFETENSORS), unet.stateDict().asMap(), Map.of("format", "pt"), weightType);
            ModelFolders.writeJson(tmp.resolve(UNET_CONFIG), vsrConfigJson(unet.config()));
            Path x4 = tmp.resolve(X4);
            ModelFolders.writePart(x4.resolve(StableDiffusionParts.VAE), vae, vae.config().toJson(), "diffusion_pytorch_model.safetensors", weightType);
            ModelFolders.writePart(x4.resolve(StableDiffusionParts.TEXT_ENCODER), textEncoder, textEncoder.config().toJson(), "model.safetensors", weightType);
            ModelFolders.writeJson(x4.resolve(SCHEDULER).resolve(SCHEDULER_CONFIG), schedulerConfig.toJson());
            ModelFolders.writeJson(x4.resolve(LOW_RES_SCHEDULER).resolve(SCHEDULER_CONFIG), lowResSchedulerConfig.toJson());
            ModelFolders.writeTokenizer(x4.resolve(StableDiffusionParts.TOKENIZER), tokenizer);
        });
    }

    /** A VSR UNet config as the JSON {@link VsrConfig#fromJson} reads back to an equal config. */
    static ObjectNode vsrConfigJson(VsrConfig c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("_class_name", "UNet3DVSRModel");
        n.put("in_channels", c.inChannels());
        n.put("out_channels", c.outChannels());
        c.blockOutChannels().forEach(n.putArray("block_out_channels")::add);
        var down = n.putArray("down_block_types");
        c.downBlockTypes().forEach(t -> down.add(t == UNetConfig.DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D ? "CrossAttnDownBlock3D" : "DownBlock3D"));
        var up = n.putArray("up_block_types");
        c.upBlockTypes().forEach(t -> up.add(t == UNetConfig.UpBlockType.CROSS_ATTN_UP_BLOCK_3D ? "CrossAttnUpBlock3D" : "UpBlock3D"));
        c.onlyCrossAttention().forEach(n.putArray("only_cross_attention")::add);
        n.put("layers_per_block", c.layersPerBlock());
        n.put("cross_attention_dim", c.crossAttentionDim());
        c.attentionHeadDim().forEach(n.putArray("attention_head_dim")::add);
        n.put("norm_num_groups", c.normNumGroups());
        n.put("norm_eps", c.normEps());
        n.put("flip_sin_to_cos", c.flipSinToCos());
        n.put("freq_shift", c.freqShift());
        n.put("downsample_padding", c.downsamplePadding());
        n.put("mid_block_scale_factor", c.midBlockScaleFactor());
        n.put("center_input_sample", c.centerInputSample());
        if (c.numClassEmbeds() > 0) n.put("num_class_embeds", c.numClassEmbeds());
        else n.putNull("num_class_embeds");
        n.put("max_noise_level", c.maxNoiseLevel());
        c.downTemporalIdx().forEach(n.putArray("down_temporal_idx")::add);
        n.put("mid_temporal", c.midTemporal());
        c.upTemporalIdx().forEach(n.putArray("up_temporal_idx")::add);
        n.put("use_linear_projection", true);
        n.put("video_condition", false);
        ObjectNode t = n.putObject("temporal_module_config");
        t.putArray("attention_block_types").add("").add("");
        return n;
    }





    // ------------------------------------------------------------------------------------------------ random models

    /**
     * A tiny VSR model with freshly initialised (random) weights drawn from {@code seed}: {@link VsrConfig#tiny()}, a
     * 48-wide 2-layer text tower over the real CLIP tokenizer, a three-level ×4 VAE of 16/32/32 channels, LaVie's
     * schedulers. Its videos are noise: it exists to exercise every code path offline.
     */
    public static SuperResolutionModel randomTiny(long seed) {
        Init.seed(seed);
        VsrConfig u = VsrConfig.tiny();
        CLIPTextModel text = new CLIPTextModel(new CLIPTextConfig(49408, u.crossAttentionDim(), 64, 2, 4, 77, CLIPTextConfig.Activation.GELU, 1e-5));
        UNet3DVSRModel unet = new UNet3DVSRModel(u);
        AutoencoderKL vae = new AutoencoderKL(new VaeConfig(3, 3, List.of(16, 32, 32), 1, 4, 8, 32, X4_SCALING_FACTOR));
        text.eval();
        unet.eval();
        vae.eval();
        return new SuperResolutionModel(CLIPTokenizer.sd14(), text, unet, vae, lavieScheduler(), lowResScheduler());
    }
}
