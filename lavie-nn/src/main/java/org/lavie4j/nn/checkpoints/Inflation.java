package org.lavie4j.nn.checkpoints;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Stable Diffusion 2-D UNet -> LaVie 3-D UNet, the one foreign layout the port maps (STYLE rule 1): LaVie
 * base/models/unet.py {@code UNet3DConditionModel.from_pretrained_2d} (base-unet.md §1, §12).
 *
 * <p>The reference rewrites SD's {@code unet/config.json} (3-D block types, {@code use_first_frame = false}), builds the
 * 3-D model, copies every SD tensor by its unchanged name (convolutions stay 4-D {@code [O, I, kh, kw]}, {@code proj_in}
 * / {@code proj_out} stay 1x1 convolutions) and keeps the constructor's initialisation for every key containing
 * {@code _temp}. That initialisation is PyTorch's default except that {@code BasicTransformerBlock.__init__} zeroes the
 * temporal output projection's <em>weight</em> (base/models/attention.py line 475,
 * {@code nn.init.zeros_(self.attn_temp.to_out[0].weight.data)}); its bias keeps nn.Linear's default uniform init, so
 * the temporal branch initially adds a constant per-channel bias and mixes no information across frames.
 * {@link TemporalInit#REFERENCE} reproduces that; {@link TemporalInit#ZERO_OUTPUT} also zeroes the bias, making the
 * temporal branch exactly zero.
 *
 * <p>Deviations: block types are mapped by name ({@code CrossAttnDownBlock2D -> CrossAttnDownBlock3D}, ...) instead of
 * overwritten with LaVie's fixed four-level lists (identical for SD v1.x, and it also serves smaller test configs);
 * 2-D keys the 3-D model lacks and non-temporal keys SD lacks are errors here (the reference's strict
 * {@code load_state_dict} fails on them too), and a 2-D state dict that already holds {@code _temp} keys is rejected
 * rather than silently overwritten.
 */
public final class Inflation {
    private Inflation() {}

    /** How the temporal layers ({@code _temp} keys) of an inflated model are initialised. */
    public enum TemporalInit {
        /** As LaVie: constructor init, {@code attn_temp.to_out.0.weight} zeroed, its bias left at the default init. */
        REFERENCE,
        /** As {@link #REFERENCE}, and {@code attn_temp.to_out.0.bias} zeroed too: the temporal branch outputs exactly 0. */
        ZERO_OUTPUT
    }

    /** The marker of keys the 3-D model adds (LaVie's test: {@code '_temp' in k}). */
    public static final String TEMPORAL_MARKER = "_temp";

    private static final String TEMPORAL_OUT_WEIGHT = "attn_temp.to_out.0.weight";
    private static final String TEMPORAL_OUT_BIAS = "attn_temp.to_out.0.bias";

    /** 2-D diffusers block names and their 3-D LaVie counterparts (3-D names map to themselves). */
    private static final Map<String, String> DOWN_BLOCKS = Map.of(
            "CrossAttnDownBlock2D", "CrossAttnDownBlock3D", "DownBlock2D", "DownBlock3D",
            "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D", "DownBlock3D");
    private static final Map<String, String> UP_BLOCKS = Map.of(
            "CrossAttnUpBlock2D", "CrossAttnUpBlock3D", "UpBlock2D", "UpBlock3D",
            "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "UpBlock3D", "UpBlock3D");
    private static final List<String> MID_BLOCKS = List.of("UNetMidBlock2DCrossAttn", "UNetMidBlock3DCrossAttn");

    /** True for the keys the 3-D model adds to SD's: those containing {@code _temp}. */
    public static boolean isTemporal(String key) { return key.contains(TEMPORAL_MARKER); }

    // ------------------------------------------------------------------------------------------------ config

    /**
     * A copy of SD's {@code unet/config.json} rewritten as {@code from_pretrained_2d} does: {@code _class_name}
     * {@code UNet3DConditionModel}, 2-D block types replaced by their 3-D twins, {@code use_first_frame = false}.
     * The input is not modified. Unknown block types (e.g. {@code AttnDownBlock2D}) are errors naming the entry.
     */
    public static ObjectNode inflateConfigJson(JsonNode sdUnetConfig) {
        if (sdUnetConfig == null || !sdUnetConfig.isObject())
            throw new IllegalArgumentException("SD UNet config must be a JSON object, got " + sdUnetConfig);
        ObjectNode out = ((ObjectNode) sdUnetConfig).deepCopy();
        out.put("_class_name", "UNet3DConditionModel");
        out.set("down_block_types", mapBlocks(sdUnetConfig, "down_block_types", DOWN_BLOCKS));
        out.set("up_block_types", mapBlocks(sdUnetConfig, "up_block_types", UP_BLOCKS));
        JsonNode mid = sdUnetConfig.get("mid_block_type");
        if (mid != null && !mid.isNull()) {
            if (!MID_BLOCKS.contains(mid.asText()))
                throw new IllegalArgumentException("SD UNet config: mid_block_type \"" + mid.asText() + "\" cannot be inflated (only " + MID_BLOCKS.get(0) + ")");
            out.put("mid_block_type", "UNetMidBlock3DCrossAttn");
        }
        out.put("use_first_frame", false);
        return out;
    }

    /** The LaVie base config inflated from SD's {@code unet/config.json} ({@link #inflateConfigJson}, then {@link UNetConfig#fromJson}). */
    public static UNetConfig inflateConfig(JsonNode sdUnetConfig) {
        return UNetConfig.fromJson(inflateConfigJson(sdUnetConfig)).config();
    }

    private static ArrayNode mapBlocks(JsonNode config, String field, Map<String, String> mapping) {
        JsonNode v = config.get(field);
        if (v == null || !v.isArray())
            throw new IllegalArgumentException("SD UNet config: " + field + " must be a list of block types, got " + v);
        ArrayNode out = ((ArrayNode) v).arrayNode();
        for (int i = 0; i < v.size(); i++) {
            String name = v.get(i).asText();
            String mapped = mapping.get(name);
            if (mapped == null)
                throw new IllegalArgumentException("SD UNet config: " + field + "[" + i + "] = \"" + name + "\" has no 3-D counterpart (supported: "
                        + mapping.keySet().stream().filter(k -> k.endsWith("2D")).sorted().toList() + ")");
            out.add(mapped);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ weights

    /** Thrown when a 2-D state dict does not fit the 3-D model; lists every problem at once. */
    public static final class InflationException extends IllegalArgumentException {
        private final List<String> missing, unexpected, temporalInSource, shapeMismatches;

        InflationException(String origin, List<String> missing, List<String> unexpected, List<String> temporalInSource, List<String> shapeMismatches) {
            super(message(origin, missing, unexpected, temporalInSource, shapeMismatches));
            this.missing = List.copyOf(missing);
            this.unexpected = List.copyOf(unexpected);
            this.temporalInSource = List.copyOf(temporalInSource);
            this.shapeMismatches = List.copyOf(shapeMismatches);
        }

        /** Non-temporal keys of the 3-D model that the 2-D state dict lacks. */
        public List<String> missing() { return missing; }

        /** Keys of the 2-D state dict that the 3-D model does not have. */
        public List<String> unexpected() { return unexpected; }

        /** {@code _temp} keys found in the 2-D state dict (it is already 3-D). */
        public List<String> temporalInSource() { return temporalInSource; }

        /** "key: model expects [..], 2-D checkpoint has [..]" lines. */
        public List<String> shapeMismatches() { return shapeMismatches; }

        private static String message(String origin, List<String> missing, List<String> unexpected, List<String> temporal, List<String> shapes) {
            StringBuilder sb = new StringBuilder("cannot inflate ").append(origin).append(" into the 3-D UNet:");
            section(sb, "non-temporal keys of the 3-D model missing from the 2-D state dict", missing);
            section(sb, "2-D keys the 3-D model does not have", unexpected);
            section(sb, "temporal ('_temp') keys already in the 2-D state dict (a 3-D checkpoint? load it with LaVieCheckpoints)", temporal);
            section(sb, "shape mismatches", shapes);
            return sb.toString();
        }

        private static void section(StringBuilder sb, String title, List<String> items) {
            if (items.isEmpty()) return;
            sb.append("\n  ").append(items.size()).append(' ').append(title).append(':');
            for (int i = 0; i < items.size(); i++) {
                if (i == 100) {
                    sb.append("\n    ... and ").append(items.size() - 100).append(" more");
                    break;
                }
                sb.append("\n    ").append(items.get(i));
            }
        }
    }

    /**
     * The key mapping, pure: a state dict with exactly {@code fresh3d}'s keys (in its order) where every non-temporal
     * key takes the 2-D source of the same name and every {@code _temp} key keeps {@code fresh3d}'s source, except the
     * temporal output projection, which becomes zeros ({@code init} decides whether the bias too). Nothing is loaded:
     * sources may be shape-only. Any missing, unexpected, already-temporal or mis-shaped key is an
     * {@link InflationException} listing all of them.
     *
     * @param sd2d    the SD 2-D UNet state dict ({@code diffusion_pytorch_model.*})
     * @param fresh3d the freshly constructed 3-D model's state dict (its temporal entries are the initialisation)
     */
    public static StateDict inflate(StateDict sd2d, StateDict fresh3d, TemporalInit init) {
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), temporal = new ArrayList<>(), shapes = new ArrayList<>();
        for (String key : sd2d.keys()) {
            if (isTemporal(key)) temporal.add(key);
            else if (!fresh3d.contains(key)) unexpected.add(key);
        }
        StateDict out = new StateDict("inflated " + sd2d.origin());
        for (var e : fresh3d.asMap().entrySet()) {
            String key = e.getKey();
            TensorSource fresh = e.getValue();
            if (isTemporal(key)) {
                boolean zero = key.endsWith(TEMPORAL_OUT_WEIGHT) || (init == TemporalInit.ZERO_OUTPUT && key.endsWith(TEMPORAL_OUT_BIAS));
                out.put(key, zero ? zeros(key, fresh) : fresh);
            } else if (!sd2d.contains(key)) {
                missing.add(key);
            } else {
                TensorSource src = sd2d.get(key);
                if (!Arrays.equals(src.shape(), fresh.shape()))
                    shapes.add(key + ": 3-D model expects " + Arrays.toString(fresh.shape()) + ", 2-D checkpoint has " + Arrays.toString(src.shape()));
                out.put(key, src);
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !temporal.isEmpty() || !shapes.isEmpty())
            throw new InflationException(sd2d.origin(), missing, unexpected, temporal, shapes);
        return out;
    }

    /** {@link #inflate} against {@code target}'s current (freshly constructed) state, following the reference's init. */
    public static StateDict inflateWeights(StateDict sd2d, UNet3DConditionModel target) {
        return inflate(sd2d, target.stateDict(), TemporalInit.REFERENCE);
    }

    /** {@link #inflate} against {@code target}'s current (freshly constructed) state. */
    public static StateDict inflateWeights(StateDict sd2d, UNet3DConditionModel target, TemporalInit init) {
        return inflate(sd2d, target.stateDict(), init);
    }

    /** {@link #fromStableDiffusion(Path, TemporalInit)} with the reference's temporal initialisation. */
    public static UNet3DConditionModel fromStableDiffusion(Path sdRootOrUnetFolder) throws IOException {
        return fromStableDiffusion(sdRootOrUnetFolder, TemporalInit.REFERENCE);
    }

    /**
     * {@code from_pretrained_2d}: reads {@code unet/config.json} and the UNet weights of a Stable Diffusion folder (the
     * pipeline root holding {@code unet/}, or the {@code unet} folder itself), builds the inflated 3-D model and loads
     * the inflated weights strictly. Errors name the missing file or the mismatched keys.
     */
    public static UNet3DConditionModel fromStableDiffusion(Path sdRootOrUnetFolder, TemporalInit init) throws IOException {
        Path dir = unetFolder(sdRootOrUnetFolder);
        UNetConfig config = inflateConfig(DiffusersFolder.readJson(dir.resolve("config.json")));
        Path weights = DiffusersFolder.findWeights(dir);
        if (weights == null)
            throw new NoSuchFileException(dir.resolve(DiffusersFolder.WEIGHT_FILES.get(0)).toString(), null,
                    "no UNet weights in " + dir + " (expected one of " + DiffusersFolder.WEIGHT_FILES + " or a .fp16. variant)");
        try (TensorFile w = TensorFile.open(dir)) {
            UNet3DConditionModel model = new UNet3DConditionModel(config);
            model.load(inflateWeights(StateDict.of(w.path().toString(), w.asMap()), model, init));
            model.eval();
            return model;
        }
    }

    /** The folder holding the UNet's {@code config.json}: {@code root/unet} or {@code root} itself. */
    static Path unetFolder(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "no Stable Diffusion folder");
        if (!Files.isDirectory(path))
            throw new IOException(path + " is not a folder (expected a Stable Diffusion folder with unet/config.json, or its unet folder)");
        Path unet = path.resolve("unet");
        if (Files.isRegularFile(unet.resolve("config.json"))) return unet;
        if (Files.isRegularFile(path.resolve("config.json"))) return path;
        throw new NoSuchFileException(unet.resolve("config.json").toString(), null,
                "missing UNet config (looked for " + unet.resolve("config.json") + " and " + path.resolve("config.json") + ")");
    }

    /** A lazy all-zeros source with {@code like}'s key, dtype and shape. */
    private static TensorSource zeros(String key, TensorSource like) {
        DType dtype = like.dtype();
        long[] shape = like.shape();
        return new TensorSource() {
            @Override public String key() { return key; }
            @Override public DType dtype() { return dtype; }
            @Override public long[] shape() { return shape.clone(); }
            @Override public INDArray load() { return Nd4j.zeros(dtype.nd4j(), shape); }
            @Override public String toString() { return key + " zeros " + dtype + Arrays.toString(shape); }
        };
    }

    /** The keys {@code inflate} adds to a 2-D state dict: the temporal keys of {@code fresh3d}. */
    public static List<String> temporalKeys(StateDict fresh3d) {
        List<String> out = new ArrayList<>();
        for (String k : fresh3d.keys()) if (isTemporal(k)) out.add(k);
        return Collections.unmodifiableList(out);
    }
}
