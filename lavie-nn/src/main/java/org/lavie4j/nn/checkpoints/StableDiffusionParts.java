package org.lavie4j.nn.checkpoints;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Module;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * The Stable Diffusion parts LaVie uses unchanged, read from a diffusers folder (schedulers-and-pipelines.md §6):
 * {@code stable-diffusion-v1-4/text_encoder/{config.json, model.safetensors | pytorch_model.bin}},
 * {@code tokenizer/{vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json}},
 * {@code vae/{config.json, diffusion_pytorch_model.safetensors | .bin}}, and the x4 upscaler's {@code vae/}. Weight files
 * are found as {@link DiffusersFolder} finds them (safetensors before .bin, sharded, {@code .fp16.} variants as a fallback);
 * {@code model_index.json} is not needed (as in {@code from_pretrained(path, subfolder=...)}).
 *
 * <p>Every load is strict. Errors name what was expected where: a missing part names the part and its folder, a missing
 * file its path, and a config that does not fit the weights throws the {@link org.lavie4j.core.LoadReport}'s
 * {@code CheckpointMismatchException} (every key and both shapes), whose origin names the weights and the config.
 * Two foreign layouts are accepted: a VAE with newer diffusers attention names ({@link VaeKeyMapping}), and a CLIP file
 * without the {@code text_model.embeddings.position_ids} buffer (newer transformers do not save it; the constructor's
 * 0..max−1 stays, as transformers does). Nothing is ever written.
 */
public final class StableDiffusionParts {
    private static final Logger LOG = LoggerFactory.getLogger(StableDiffusionParts.class);

    public static final String TEXT_ENCODER = "text_encoder", TOKENIZER = "tokenizer", VAE = "vae";
    static final String CONFIG = "config.json";
    /** The buffer transformers ≥ 4.31 no longer saves (non-persistent). */
    static final String POSITION_IDS = "text_model.embeddings.position_ids";

    private StableDiffusionParts() {}

    /** The three parts of one folder, each in eval mode. */
    public record Parts(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, AutoencoderKL vae) {}

    /** Tokenizer, text encoder and VAE of {@code sdRoot} (e.g. {@code pretrained_models/stable-diffusion-v1-4}). */
    public static Parts load(Path sdRoot) throws IOException {
        checkRoot(sdRoot);
        CLIPTokenizer tokenizer = tokenizer(sdRoot);
        CLIPTextModel textEncoder = textEncoder(sdRoot);
        AutoencoderKL vae = vae(sdRoot);
        if (tokenizer.vocabSize() > textEncoder.config().vocabSize()) {
            LOG.warn("{}: the tokenizer has {} tokens but the text encoder's vocab_size is {}; ids above it will be rejected",
                    sdRoot, tokenizer.vocabSize(), textEncoder.config().vocabSize());
        }
        return new Parts(tokenizer, textEncoder, vae);
    }

    /** The CLIP text encoder of {@code sdRoot/text_encoder/}, in eval mode. */
    public static CLIPTextModel textEncoder(Path sdRoot) throws IOException {
        checkRoot(sdRoot);
        Path dir = part(sdRoot, TEXT_ENCODER);
        Path configFile = configFile(dir);
        CLIPTextConfig config = parse(configFile, json -> CLIPTextConfig.fromJson(json).config());
        CLIPTextModel model = new CLIPTextModel(config);
        loadStrict(model, dir, configFile, state -> withDefaultPositionIds(state, model.stateDict()));
        model.eval();
        return model;
    }

    /** The tokenizer of {@code sdRoot/tokenizer/} (special tokens and length from its JSON files). */
    public static CLIPTokenizer tokenizer(Path sdRoot) throws IOException {
        checkRoot(sdRoot);
        return CLIPTokenizer.fromFolder(part(sdRoot, TOKENIZER));
    }

    /**
     * The VAE of a model folder's {@code vae/} part, or of a VAE folder itself ({@code config.json} plus weights, e.g.
     * {@code stable-diffusion-x4-upscaler/vae}), in eval mode.
     */
    public static AutoencoderKL vae(Path sdRootOrVaeFolder) throws IOException {
        checkRoot(sdRootOrVaeFolder);
        Path dir = Files.isRegularFile(sdRootOrVaeFolder.resolve(CONFIG)) ? sdRootOrVaeFolder : part(sdRootOrVaeFolder, VAE);
        Path configFile = configFile(dir);
        VaeConfig config = parse(configFile, json -> VaeConfig.fromJson(json).config());
        AutoencoderKL model = new AutoencoderKL(config);
        loadStrict(model, dir, configFile, VaeKeyMapping::toDiffusers016);
        model.eval();
        return model;
    }

    /**
     * {@code state} plus the module's own {@value #POSITION_IDS} when the file lacks it (transformers ≥ 4.31 files);
     * otherwise {@code state} itself, so a stored buffer is still checked and loaded.
     */
    static StateDict withDefaultPositionIds(StateDict state, StateDict module) {
        if (state.contains(POSITION_IDS) || !module.contains(POSITION_IDS)) return state;
        StateDict out = StateDict.of(state.origin(), state.asMap());
        TensorSource ids = module.get(POSITION_IDS);
        out.put(POSITION_IDS, TensorSource.of(POSITION_IDS, ids.load().dup()));
        return out;
    }

    private static void loadStrict(Module model, Path dir, Path configFile, Function<StateDict, StateDict> mapping) throws IOException {
        try (TensorFile weights = TensorFile.open(dir)) {
            String origin = weights.path() + " into the " + model.getClass().getSimpleName() + " of " + configFile;
            model.load(mapping.apply(StateDict.of(origin, weights.asMap())));
        }
    }

    private static <T> T parse(Path configFile, Function<JsonNode, T> parser) throws IOException {
        JsonNode json = DiffusersFolder.readJson(configFile);
        try {
            return parser.apply(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configFile + ": " + e.getMessage(), e);
        }
    }

    private static void checkRoot(Path root) throws IOException {
        if (root == null) throw new IllegalArgumentException("model folder is null");
        if (!Files.isDirectory(root)) throw new NoSuchFileException(root.toString(), null, "no such model folder");
    }

    private static Path part(Path root, String part) throws IOException {
        Path dir = root.resolve(part);
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "missing part '" + part + "' of " + root + ": expected the folder " + dir);
        }
        return dir;
    }

    private static Path configFile(Path dir) throws IOException {
        Path f = dir.resolve(CONFIG);
        if (!Files.isRegularFile(f)) throw new NoSuchFileException(f.toString(), null, "missing config: expected " + f);
        return f;
    }
}
