package org.lavie4j.train;

import org.lavie4j.core.Init;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.nn.checkpoints.Inflation;
import org.lavie4j.nn.checkpoints.StableDiffusionParts;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DConditionModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Where training starts from (the {@code model} key of a {@link TrainConfig}):
 * <ul>
 *   <li>{@code {source: tiny, seed: S}}: {@link TextToVideoModel#randomTiny(long)}, random weights (tests, demos);</li>
 *   <li>{@code {source: lavie4j, path: DIR}}: a lavie4j model folder ({@link TextToVideoModel#save}, what the trainer exports);</li>
 *   <li>{@code {source: lavie, path: DIR}}: LaVie's release folder ({@code lavie_base.pt} beside {@code stable-diffusion-v1-4/});</li>
 *   <li>{@code {source: sd14, path: DIR}}: a Stable Diffusion v1.4 folder, its 2-D UNet inflated to 3-D with fresh temporal
 *       layers ({@link Inflation#fromStableDiffusion}, LaVie's starting point); the temporal initialisation draws from
 *       ND4J's generator seeded with the config's {@code seed}.</li>
 * </ul>
 * A pretrained source may add {@code frame_position_embeddings: N}: the loaded UNet gets learned absolute frame
 * position tables of N frames in its temporal attentions, zero-initialised
 * ({@link TextToVideoModel#withFramePositionEmbeddings}, this port's extension), to fine-tune a model that has none.
 */
public sealed interface ModelSource permits ModelSource.Tiny, ModelSource.Pretrained {

    /** Loads the model; every part is in eval mode (the trainer switches the UNet to training). */
    TextToVideoModel load(long seed) throws IOException;

    /** The config form ({@code {source: ..., ...}}). */
    ObjectNode toJson();

    /** {@link TextToVideoModel#randomTiny(long)}. */
    record Tiny(long seed) implements ModelSource {
        @Override public TextToVideoModel load(long ignored) { return TextToVideoModel.randomTiny(seed); }

        @Override public ObjectNode toJson() {
            ObjectNode n = JsonNodeFactory.instance.objectNode();
            n.put("source", "tiny");
            n.put("seed", seed);
            return n;
        }

        @Override public String toString() { return "tiny random model (seed " + seed + ")"; }
    }

    /** The folder layouts a pretrained model comes in. */
    enum Layout {
        LAVIE4J("lavie4j"), LAVIE("lavie"), SD14("sd14");

        private final String key;

        Layout(String key) { this.key = key; }

        public String key() { return key; }
    }

    /**
     * A model read from a folder of the given layout; {@code framePositions} > 0 adds zero-initialised frame position
     * tables of that many frames to its UNet (0: the model as stored).
     */
    record Pretrained(Layout layout, Path path, int framePositions) implements ModelSource {
        public Pretrained {
            if (layout == null || path == null) throw new IllegalArgumentException("ModelSource: layout and path are required");
            if (framePositions < 0) throw new IllegalArgumentException("ModelSource: frame_position_embeddings must be >= 0, got " + framePositions);
        }

        /** The model as stored. */
        public Pretrained(Layout layout, Path path) { this(layout, path, 0); }

        @Override public TextToVideoModel load(long seed) throws IOException {
            TextToVideoModel model = loadStored(seed);
            return framePositions == 0 ? model : model.withFramePositionEmbeddings(framePositions);
        }

        private TextToVideoModel loadStored(long seed) throws IOException {
            if (!Files.isDirectory(path)) throw new NoSuchFileException(path.toString(), null, "model." + "path: no such folder (" + layout.key() + " model)");
            return switch (layout) {
                case LAVIE4J -> {
                    if (!Files.isRegularFile(path.resolve(ModelInfo.FILE)))
                        throw new NoSuchFileException(path.resolve(ModelInfo.FILE).toString(), null,
                                "not a lavie4j model folder (source: lavie4j); for LaVie's release folder use source: lavie");
                    yield TextToVideoModel.load(path);
                }
                case LAVIE -> {
                    if (!Files.isRegularFile(path.resolve(TextToVideoModel.LAVIE_BASE_PT)) && !Files.isRegularFile(path.resolve(TextToVideoModel.LAVIE_BASE_SAFETENSORS)))
                        throw new NoSuchFileException(path.resolve(TextToVideoModel.LAVIE_BASE_PT).toString(), null,
                                "not LaVie's release folder (source: lavie): expected lavie_base.pt with stable-diffusion-v1-4/ beside it");
                    yield TextToVideoModel.load(path);
                }
                case SD14 -> {
                    StableDiffusionParts.Parts parts = StableDiffusionParts.load(path);
                    Init.seed(seed);
                    UNet3DConditionModel unet = Inflation.fromStableDiffusion(path);
                    ModelInfo info = ModelInfo.lavieBase().describedAs("sd14-inflated",
                            "Stable Diffusion v1.4 inflated to 3-D (" + path.getFileName() + "), fresh temporal layers", false);
                    yield new TextToVideoModel(parts.tokenizer(), parts.textEncoder(), unet, parts.vae(),
                            SchedulerConfig.lavieBase(SchedulerKind.DDPM), info);
                }
            };
        }

        @Override public ObjectNode toJson() {
            ObjectNode n = JsonNodeFactory.instance.objectNode();
            n.put("source", layout.key());
            n.put("path", path.toString());
            if (framePositions > 0) n.put("frame_position_embeddings", framePositions);
            return n;
        }

        @Override public String toString() {
            return layout.key() + " model " + path + (framePositions > 0 ? " + frame position tables of " + framePositions + " frames" : "");
        }
    }

    /** Reads {@code {source: ..., ...}}. */
    static ModelSource fromConfig(ConfigNode n) {
        String source = n.choice("source", null, "tiny", "lavie4j", "lavie", "sd14");
        if (source.equals("tiny")) {
            n.checkKnown(java.util.Set.of("source", "seed"));
            return new Tiny(n.integer("seed", 0, Long.MIN_VALUE));
        }
        n.checkKnown(java.util.Set.of("source", "path", "frame_position_embeddings"));
        String path = n.string("path", null);
        int framePositions = n.integer32("frame_position_embeddings", 0, 0);
        if (path.isBlank()) throw ConfigNode.error(n.key("path"), "must not be empty");
        Layout layout = switch (source) {
            case "lavie4j" -> Layout.LAVIE4J;
            case "lavie" -> Layout.LAVIE;
            default -> Layout.SD14;
        };
        return new Pretrained(layout, Path.of(path), framePositions);
    }
}
