package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Init;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.nn.checkpoints.Inflation;
import org.lavie4j.nn.checkpoints.LaVieCheckpoints;
import org.lavie4j.nn.checkpoints.StableDiffusionParts;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * A complete text-to-video model: tokenizer, text encoder, 3-D UNet, VAE, the noise schedule it was trained with, and
 * its {@link ModelInfo} (default length, size, frame rate and sampler). {@link #load(Path)} reads the two folder layouts
 * there are:
 * <ul>
 *   <li><b>LaVie's release</b> ({@code pretrained_models/}, schedulers-and-pipelines.md §6): {@code lavie_base.pt} (or a
 *       {@code .safetensors} export of it) with {@code stable-diffusion-v1-4/} beside it, whose {@code tokenizer/},
 *       {@code text_encoder/} and {@code vae/} are used and whose {@code unet/config.json}, when present, gives the
 *       architecture (inflated to 3-D as {@code from_pretrained_2d} does; LaVie base's config otherwise). Sampling uses
 *       LaVie's overrides of the SD scheduler (linear betas 1e-4..0.02, {@link SchedulerConfig#lavieBase}).</li>
 *   <li><b>A lavie4j model folder</b>, as {@link #save} writes it (and the trainer exports): diffusers-style parts
 *       {@code unet/}, {@code text_encoder/}, {@code tokenizer/}, {@code vae/}, {@code scheduler/}, each with its
 *       {@code config.json} (the UNet's is the 3-D config) and safetensors weights, plus {@value ModelInfo#FILE}.</li>
 * </ul>
 * Every load is strict; a missing or wrong file is an error naming the file expected and where.
 */
public record TextToVideoModel(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DConditionModel unet,
                               AutoencoderKL vae, SchedulerConfig schedulerConfig, ModelInfo info) {
    private static final Logger LOG = LoggerFactory.getLogger(TextToVideoModel.class);

    /** File names of LaVie's release folder. */
    public static final String LAVIE_BASE_PT = "lavie_base.pt", LAVIE_BASE_SAFETENSORS = "lavie_base.safetensors",
            SD14 = "stable-diffusion-v1-4";
    /** Part folders of a lavie4j model folder. */
    public static final String UNET = "unet", SCHEDULER = "scheduler";
    static final String WEIGHTS = "diffusion_pytorch_model.safetensors", TEXT_WEIGHTS = "model.safetensors",
            CONFIG = "config.json", SCHEDULER_CONFIG = "scheduler_config.json";

    /** Every file of a lavie4j model folder as {@link #save} writes it, relative to the folder ('/'-separated). */
    public static final List<String> FILES = List.of(ModelInfo.FILE, DiffusersFolder.MODEL_INDEX,
            "unet/" + CONFIG, "unet/" + WEIGHTS, "vae/" + CONFIG, "vae/" + WEIGHTS,
            "text_encoder/" + CONFIG, "text_encoder/" + TEXT_WEIGHTS, "scheduler/" + SCHEDULER_CONFIG,
            "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json");

    public TextToVideoModel {
        if (tokenizer == null || textEncoder == null || unet == null || vae == null || schedulerConfig == null || info == null)
            throw new IllegalArgumentException("TextToVideoModel: every part is required");
        if (textEncoder.config().hiddenSize() != unet.config().crossAttentionDim())
            throw new IllegalArgumentException("TextToVideoModel: the text encoder's hidden_size " + textEncoder.config().hiddenSize()
                    + " differs from the UNet's cross_attention_dim " + unet.config().crossAttentionDim());
        if (vae.config().latentChannels() != unet.config().inChannels() || vae.config().latentChannels() != unet.config().outChannels())
            throw new IllegalArgumentException("TextToVideoModel: the VAE's latent_channels " + vae.config().latentChannels()
                    + " differs from the UNet's in/out channels " + unet.config().inChannels() + "/" + unet.config().outChannels());
        if (tokenizer.vocabSize() > textEncoder.config().vocabSize())
            throw new IllegalArgumentException("TextToVideoModel: the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the text encoder's vocab_size is " + textEncoder.config().vocabSize());
    }

    /** A pipeline over this model's parts, sampling with the model's default scheduler. */
    public TextToVideoPipeline pipeline() {
        return new TextToVideoPipeline(tokenizer, textEncoder, unet, vae, schedulerConfig.withKind(info.scheduler()));
    }

    // ------------------------------------------------------------------------------------------------ loading

    /** True when {@code dir} looks like one of the two layouts {@link #load} reads. */
    public static boolean isModelFolder(Path dir) {
        return Files.isRegularFile(dir.resolve(ModelInfo.FILE)) || Files.isRegularFile(dir.resolve(LAVIE_BASE_PT))
                || Files.isRegularFile(dir.resolve(LAVIE_BASE_SAFETENSORS));
    }

    /**
     * Loads a model folder in either layout (see the class comment); {@code dir} may also be the {@code lavie_base.pt}
     * file itself. Every part is in eval mode.
     *
     * @throws NoSuchFileException naming the file or folder expected where
     * @throws IOException         an unreadable or corrupt file (named)
     * @throws org.lavie4j.core.LoadReport.CheckpointMismatchException weights that do not fit the config (every key listed)
     */
    public static TextToVideoModel load(Path dir) throws IOException {
        if (dir == null) throw new IllegalArgumentException("model folder is null");
        if (Files.isRegularFile(dir) && (dir.getFileName().toString().equals(LAVIE_BASE_PT)
                || dir.getFileName().toString().equals(LAVIE_BASE_SAFETENSORS))) dir = dir.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir.toString(), null, "no such model folder");
        if (Files.isRegularFile(dir.resolve(ModelInfo.FILE))) return loadLavie4j(dir);
        Path pt = Files.isRegularFile(dir.resolve(LAVIE_BASE_PT)) ? dir.resolve(LAVIE_BASE_PT) : dir.resolve(LAVIE_BASE_SAFETENSORS);
        if (Files.isRegularFile(pt)) return loadRelease(dir, pt);
        throw new NoSuchFileException(dir.toString(), null, "not a LaVie model folder: expected either " + dir.resolve(LAVIE_BASE_PT)
                + " with the folder " + dir.resolve(SD14) + " beside it (LaVie's pretrained_models/ layout), or a lavie4j model folder with "
                + dir.resolve(ModelInfo.FILE) + " and the parts unet/, text_encoder/, tokenizer/, vae/, scheduler/");
    }

    private static TextToVideoModel loadRelease(Path dir, Path checkpoint) throws IOException {
        Path sd = dir.resolve(SD14);
        if (!Files.isDirectory(sd))
            throw new NoSuchFileException(sd.toString(), null, "LaVie base needs the Stable Diffusion v1.4 folder beside " + checkpoint
                    + " (tokenizer/, text_encoder/, vae/): expected " + sd);
        Path unetConfig = sd.resolve(UNET).resolve(CONFIG);
        UNetConfig config;
        if (Files.isRegularFile(unetConfig)) {
            try {
                config = Inflation.inflateConfig(DiffusersFolder.readJson(unetConfig));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(unetConfig + ": " + e.getMessage(), e);
            }
        } else {
            LOG.info("{} not found: using LaVie base's UNet config", unetConfig);
            config = UNetConfig.lavieBase();
        }
        StableDiffusionParts.Parts parts = StableDiffusionParts.load(sd);
        UNet3DConditionModel unet = LaVieCheckpoints.loadBase(checkpoint, config);
        return new TextToVideoModel(parts.tokenizer(), parts.textEncoder(), unet, parts.vae(),
                SchedulerConfig.lavieBase(SchedulerKind.DDPM), ModelInfo.lavieBase());
    }

    private static TextToVideoModel loadLavie4j(Path dir) throws IOException {
        Path infoFile = dir.resolve(ModelInfo.FILE);
        ModelInfo info = ModelFolders.parse(infoFile, ModelInfo::fromJson);
        Path unetDir = dir.resolve(UNET);
        Path unetConfigFile = unetDir.resolve(CONFIG);
        if (!Files.isRegularFile(unetConfigFile))
            throw new NoSuchFileException(unetConfigFile.toString(), null, "missing UNet config of the model folder " + dir + ": expected " + unetConfigFile);
        UNetConfig unetConfig = ModelFolders.parse(unetConfigFile, json -> UNetConfig.fromJson(json).config());
        Path schedulerFile = dir.resolve(SCHEDULER).resolve(SCHEDULER_CONFIG);
        if (!Files.isRegularFile(schedulerFile))
            throw new NoSuchFileException(schedulerFile.toString(), null, "missing scheduler config of the model folder " + dir + ": expected " + schedulerFile);
        SchedulerConfig scheduler = ModelFolders.parse(schedulerFile, json -> SchedulerConfig.fromJson(json.toString()));
        StableDiffusionParts.Parts parts = StableDiffusionParts.load(dir);
        UNet3DConditionModel unet = LaVieCheckpoints.loadBase(unetDir, unetConfig);
        return new TextToVideoModel(parts.tokenizer(), parts.textEncoder(), unet, parts.vae(), scheduler, info);
    }


    // ------------------------------------------------------------------------------------------------ saving

    /**
     * Writes this model as a lavie4j model folder at {@code dir}, which must not exist yet. The folder is assembled
     * under a temporary name beside {@code dir} (every file flushed to disk) and renamed into place in one step, so
     * {@code dir} either does not exist or is complete. Weights are stored as {@code weightType} (F32, or F16/BF16 to
     * halve the size; loading converts back to float32).
     */
    public void save(Path dir, DType weightType) throws IOException {
        ModelFolders.createAtomically(dir, tmp -> {
            ModelFolders.writeJson(tmp.resolve(ModelInfo.FILE), info.toJson());
            ModelFolders.writePart(tmp.resolve(UNET), unet, unet.config().toJson(), WEIGHTS, weightType);
            ModelFolders.writePart(tmp.resolve(StableDiffusionParts.VAE), vae, vae.config().toJson(), WEIGHTS, weightType);
            ModelFolders.writePart(tmp.resolve(StableDiffusionParts.TEXT_ENCODER), textEncoder, textEncoder.config().toJson(), TEXT_WEIGHTS, weightType);
            ModelFolders.writeJson(tmp.resolve(SCHEDULER).resolve(SCHEDULER_CONFIG), schedulerConfig.toJson());
            ModelFolders.writeTokenizer(tmp.resolve(StableDiffusionParts.TOKENIZER), tokenizer);
            ObjectNode index = JsonNodeFactory.instance.objectNode();
            index.put("_class_name", "LaVieTextToVideoPipeline");
            index.put("_lavie4j_format", 1);
            ModelFolders.writeJson(tmp.resolve(DiffusersFolder.MODEL_INDEX), index);
        });
    }




    // ------------------------------------------------------------------------------------------------ random models

    /** The configs of {@link #randomTiny}: a LaVie-architecture model small enough to ship (~10 MB) and run in seconds. */
    public record TinyConfigs(CLIPTextConfig text, UNetConfig unet, VaeConfig vae) {
        /** CLIP's full 49,408-token vocabulary (the real tokenizer) with a 32-wide, 2-layer text tower; the tiny UNet and VAE. */
        public static TinyConfigs standard() {
            return new TinyConfigs(new CLIPTextConfig(49408, 32, 64, 2, 4, 77, CLIPTextConfig.Activation.QUICK_GELU, 1e-5),
                    UNetConfig.tiny(), VaeConfig.tiny());
        }
    }

    /**
     * A model of {@code configs} with freshly initialised (random) weights drawn from {@code seed}, the real CLIP
     * tokenizer, LaVie's schedule, and {@code info} marked untrained. Its videos are noise: it exists to exercise every
     * code path offline.
     */
    public static TextToVideoModel random(TinyConfigs configs, long seed, ModelInfo info) {
        Init.seed(seed);
        CLIPTextModel text = new CLIPTextModel(configs.text());
        UNet3DConditionModel unet = new UNet3DConditionModel(configs.unet());
        AutoencoderKL vae = new AutoencoderKL(configs.vae());
        text.eval();
        unet.eval();
        vae.eval();
        return new TextToVideoModel(CLIPTokenizer.sd14(), text, unet, vae, SchedulerConfig.lavieBase(info.scheduler()),
                info.describedAs(info.name(), info.description(), false));
    }

    /**
     * This model with its UNet replaced by a freshly initialised (random) one of {@code config}, drawn from {@code seed};
     * the tokenizer, text encoder, VAE and schedule are kept (the same objects), and the info is marked untrained. The
     * starting point for training a UNet of another shape over an already trained VAE and text tower.
     *
     * @throws IllegalArgumentException a config whose cross-attention width or channels do not fit the kept parts (named)
     */
    public TextToVideoModel withRandomUNet(UNetConfig config, long seed) {
        if (config == null) throw new IllegalArgumentException("UNet config is null");
        Init.seed(seed);
        UNet3DConditionModel fresh = new UNet3DConditionModel(config);
        fresh.eval();
        return new TextToVideoModel(tokenizer, textEncoder, fresh, vae, schedulerConfig,
                info.describedAs(info.name(), info.description() + "; UNet re-initialised (random, seed " + seed + ")", false));
    }

    /**
     * This model with a learned absolute frame position table of {@code frames} frames added to every temporal attention
     * of its UNet ({@link UNetConfig#withFramePositionEmbeddings}, this port's extension): a new UNet holding every
     * weight of the current one, the tables zero-initialised, so it computes exactly what this model computes until
     * they are trained. The other parts are kept (the same objects). This model itself when its UNet already has
     * tables of {@code frames} frames.
     *
     * @throws IllegalArgumentException frames not positive, a UNet with tables of another size, or the interpolation variant
     */
    public TextToVideoModel withFramePositionEmbeddings(int frames) {
        if (frames <= 0) throw new IllegalArgumentException("frame_position_embeddings must be a positive frame count, got " + frames);
        int have = unet.config().framePositionEmbeddings();
        if (have == frames) return this;
        if (have != 0)
            throw new IllegalArgumentException("the UNet already has frame position tables of " + have + " frames (asked for " + frames + ")");
        UNet3DConditionModel grown = new UNet3DConditionModel(unet.config().withFramePositionEmbeddings(frames));
        Parameter like = unet.namedEntries().get("conv_in.weight");               // the UNet's precision and storage
        if (like.computeType() != DataType.FLOAT) grown.to(like.computeType());
        LoadReport report = grown.load(unet.stateDict(), false);
        boolean onlyTables = report.missing().stream().allMatch(k -> k.endsWith(".attn_temp.frame_position_embedding"));
        if (!onlyTables || !report.unexpected().isEmpty() || !report.shapeMismatches().isEmpty() || !report.aliasConflicts().isEmpty())
            throw new IllegalStateException("adding frame position tables changed more than the tables: " + report);
        if (like.isHalfStored()) {                                             // an inference copy, frozen as its source
            grown.setTrainable(false);
            grown.storeWeightsAs(like.dtype());                                 // exact: the values came from that storage
        }
        grown.eval();
        return new TextToVideoModel(tokenizer, textEncoder, grown, vae, schedulerConfig,
                info.describedAs(info.name(), info.description() + "; frame position tables of " + frames + " frames added (zero)", info.trained()));
    }

    /** {@link #random} with {@link TinyConfigs#standard()} and a small default video (8 frames at 64×64, 8 fps, DDIM 25 steps). */
    public static TextToVideoModel randomTiny(long seed) {
        ModelInfo info = new ModelInfo("lavie-tiny-random",
                "tiny LaVie-architecture model with RANDOM, UNTRAINED weights (seed " + seed + "): it produces noise, not the prompt",
                false, 8, 64, 64, 8.0, 25, 7.5, SchedulerKind.DDIM);
        return random(TinyConfigs.standard(), seed, info);
    }
}
