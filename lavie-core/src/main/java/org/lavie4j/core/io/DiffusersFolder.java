package org.lavie4j.core.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A diffusers-style model folder: {@code model_index.json} at the root lists the parts ({@code "unet":
 * ["diffusers", "UNet2DConditionModel"]}, ...); each part is a folder {@code <part>/} with {@code config.json} (or
 * {@code scheduler_config.json}, ...) and weights, found in this order: {@code diffusion_pytorch_model.safetensors},
 * {@code model.safetensors}, their sharded {@code *.safetensors.index.json}, {@code diffusion_pytorch_model.bin},
 * {@code pytorch_model.bin}, their {@code *.bin.index.json}; the {@code .fp16.} variants only when none of these
 * exists.
 */
public final class DiffusersFolder {
    public static final String MODEL_INDEX = "model_index.json";

    /** Weight files of a part, in order of preference. */
    public static final List<String> WEIGHT_FILES = List.of(
            "diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
            "diffusion_pytorch_model.bin", "pytorch_model.bin",
            "diffusion_pytorch_model.bin.index.json", "pytorch_model.bin.index.json");

    /** Config files of a part, in order of preference. */
    public static final List<String> CONFIG_FILES = List.of(
            "config.json", "scheduler_config.json", "preprocessor_config.json", "tokenizer_config.json");

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Path root;
    private final JsonNode modelIndex;
    private final List<String> parts;

    private DiffusersFolder(Path root, JsonNode modelIndex, List<String> parts) {
        this.root = root;
        this.modelIndex = modelIndex;
        this.parts = parts;
    }

    /** Opens the folder at {@code root}, reading its {@code model_index.json}. */
    public static DiffusersFolder open(Path root) throws IOException {
        if (!Files.isDirectory(root)) throw new IOException(root + ": not a directory (expected a diffusers model folder)");
        Path index = root.resolve(MODEL_INDEX);
        if (!Files.isRegularFile(index)) {
            throw new IOException("not a diffusers model folder: missing " + index
                    + (Files.isRegularFile(root.resolve("config.json")) ? " (it looks like a single part: use TensorFile.open(" + root + "))" : ""));
        }
        JsonNode node = readJson(index);
        if (!node.isObject()) throw new IOException(index + ": not a JSON object");
        List<String> parts = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            JsonNode v = f.getValue();
            if (f.getKey().startsWith("_") || !v.isArray() || v.size() != 2 || v.get(0).isNull() || v.get(1).isNull()) continue;
            parts.add(f.getKey());
        }
        return new DiffusersFolder(root, node, Collections.unmodifiableList(parts));
    }

    /** Reads a JSON file; errors name the file. */
    public static JsonNode readJson(Path file) throws IOException {
        try {
            return MAPPER.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": invalid JSON: " + e.getOriginalMessage(), e);
        }
    }

    public Path root() { return root; }

    /** The parsed {@code model_index.json}. */
    public JsonNode modelIndex() { return modelIndex; }

    /** The parts {@code model_index.json} lists (those with a library and class), in file order. */
    public List<String> parts() { return parts; }

    /** The class name {@code model_index.json} gives a part (e.g. {@code UNet2DConditionModel}), or null. */
    public String partClass(String part) {
        JsonNode v = modelIndex.get(part);
        return v != null && v.isArray() && v.size() == 2 && v.get(1).isTextual() ? v.get(1).textValue() : null;
    }

    /** The folder of a part; throws naming the expected path when it does not exist. */
    public Path partDir(String part) throws IOException {
        Path dir = root.resolve(part);
        if (!Files.isDirectory(dir)) {
            throw new IOException("missing part folder " + dir + " (" + root.resolve(MODEL_INDEX) + " lists " + parts + ")");
        }
        return dir;
    }

    /** The part's config ({@code config.json}, or {@code scheduler_config.json} etc.). */
    public JsonNode config(String part) throws IOException {
        Path dir = partDir(part);
        for (String name : CONFIG_FILES) {
            Path f = dir.resolve(name);
            if (Files.isRegularFile(f)) return readJson(f);
        }
        throw new IOException("missing config of part '" + part + "': expected " + dir.resolve(CONFIG_FILES.get(0))
                + " (or " + String.join(", ", CONFIG_FILES.subList(1, CONFIG_FILES.size())) + ")");
    }

    /** The part's weights (lazily read; the caller closes the file). */
    public TensorFile weights(String part) throws IOException {
        return openWeights(partDir(part));
    }

    /** Opens a part folder directly ({@link TensorFile#open} on a directory). */
    static TensorFile openPart(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(MODEL_INDEX)) && findWeights(dir) == null) {
            DiffusersFolder f = open(dir);
            throw new IOException(dir + " is a diffusers pipeline folder with parts " + f.parts()
                    + "; open one part: DiffusersFolder.open(dir).weights(part) or TensorFile.open(dir/part)");
        }
        return openWeights(dir);
    }

    private static TensorFile openWeights(Path dir) throws IOException {
        Path w = findWeights(dir);
        if (w == null) {
            throw new IOException("no weights in " + dir + ": expected one of "
                    + WEIGHT_FILES.stream().map(n -> dir.resolve(n).toString()).collect(Collectors.joining(", "))
                    + " (or a .fp16. variant)");
        }
        return w.getFileName().toString().endsWith(".index.json") ? openSharded(w) : TensorFile.open(w);
    }

    /** The weight file a part folder would be read from, or null when none exists. */
    public static Path findWeights(Path dir) {
        for (String name : WEIGHT_FILES) {
            Path f = dir.resolve(name);
            if (Files.isRegularFile(f)) return f;
        }
        for (String name : WEIGHT_FILES) {
            Path f = dir.resolve(fp16(name));
            if (Files.isRegularFile(f)) return f;
        }
        return null;
    }

    /** diffusers' variant naming: {@code x.fp16.safetensors}, {@code x.safetensors.index.fp16.json}. */
    private static String fp16(String name) {
        if (name.endsWith(".index.json")) return name.substring(0, name.length() - ".json".length()) + ".fp16.json";
        int dot = name.lastIndexOf('.');
        return name.substring(0, dot) + ".fp16" + name.substring(dot);
    }

    /** A sharded checkpoint: {@code {"metadata": {...}, "weight_map": {key: shard file}}}. */
    private static TensorFile openSharded(Path indexFile) throws IOException {
        JsonNode index = readJson(indexFile);
        JsonNode weightMap = index.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) throw new IOException(indexFile + ": missing weight_map");
        Map<String, TensorFile> shards = new LinkedHashMap<>();
        AutoCloseable closeAll = () -> {
            IOException first = null;
            for (TensorFile f : shards.values()) {
                try {
                    f.close();
                } catch (IOException e) {
                    if (first == null) first = e;
                }
            }
            if (first != null) throw first;
        };
        try {
            Map<String, TensorSource> tensors = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shardName = e.getValue().asText();
                Path base = indexFile.toAbsolutePath().getParent().normalize();
                Path shardPath = base.resolve(shardName).normalize();
                if (!shardPath.startsWith(base)) {
                    throw new IOException(indexFile + ": shard '" + shardName + "' lies outside the folder");
                }
                TensorFile shard = shards.get(shardName);
                if (shard == null) {
                    if (!Files.isRegularFile(shardPath)) {
                        throw new IOException(indexFile + ": missing shard " + shardPath + " (holding '" + e.getKey() + "')");
                    }
                    shard = TensorFile.open(shardPath);
                    shards.put(shardName, shard);
                }
                if (!shard.contains(e.getKey())) {
                    throw new IOException(indexFile + ": '" + e.getKey() + "' is mapped to " + shardPath + " which does not hold it");
                }
                tensors.put(e.getKey(), shard.get(e.getKey()));
            }
            Map<String, String> metadata = new LinkedHashMap<>();
            JsonNode md = index.get("metadata");
            if (md != null && md.isObject()) {
                for (Iterator<Map.Entry<String, JsonNode>> it = md.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    metadata.put(e.getKey(), e.getValue().isTextual() ? e.getValue().textValue() : e.getValue().toString());
                }
            }
            return new TensorFile(indexFile, tensors, metadata, closeAll);
        } catch (IOException | RuntimeException e) {
            try {
                closeAll.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }
}
