package org.lavie4j.core.golden;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One golden case directory (format: {@code testdata/golden/README.md}): {@code case.json}, {@code io.safetensors}
 * with inputs {@code in.<name>} and expected outputs {@code out.<name>}, and {@code weights.safetensors} when the case
 * has a module.
 *
 * <p>{@link #open(Path)} validates what every runner relies on and reports the first problem as a
 * {@link MalformedCaseException}: {@code case.json} present and an object with a string {@code kind}, a well-formed
 * {@code tolerance} block, {@code io.safetensors} present and readable, every declared input and output present in it
 * with the declared shape and dtype. Tensors are read lazily; close the case to release the files.
 */
public final class GoldenCase implements AutoCloseable {
    public static final String CASE_JSON = "case.json";
    public static final String IO_FILE = "io.safetensors";
    public static final String WEIGHTS_FILE = "weights.safetensors";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Declared shape and dtype of one input or output. */
    public record TensorSpec(String name, long[] shape, DType dtype) {
        @Override public String toString() { return name + " " + dtype + Arrays.toString(shape); }
    }

    private final Path dir;
    private final JsonNode json;
    private final String kind;
    private final Tolerance tolerance;
    private final Map<String, TensorSpec> inputs;
    private final Map<String, TensorSpec> outputs;
    private final TensorFile io;
    private final Set<String> ioKeys;
    private TensorFile weights;

    private GoldenCase(Path dir, JsonNode json, String kind, Tolerance tolerance, Map<String, TensorSpec> inputs,
                       Map<String, TensorSpec> outputs, TensorFile io, Set<String> ioKeys) {
        this.dir = dir;
        this.json = json;
        this.kind = kind;
        this.tolerance = tolerance;
        this.inputs = inputs;
        this.outputs = outputs;
        this.io = io;
        this.ioKeys = ioKeys;
    }

    /** True when {@code dir} looks like a case directory (has a {@code case.json}). */
    public static boolean isCaseDir(Path dir) {
        return Files.isRegularFile(dir.resolve(CASE_JSON));
    }

    /**
     * Opens and validates a case directory.
     *
     * @throws MalformedCaseException naming the file and what is wrong
     */
    public static GoldenCase open(Path dir) throws MalformedCaseException {
        if (!Files.isDirectory(dir)) throw new MalformedCaseException(dir, "not a directory");
        Path caseJson = dir.resolve(CASE_JSON);
        if (!Files.isRegularFile(caseJson)) throw new MalformedCaseException(dir, "no " + CASE_JSON);
        JsonNode json;
        try {
            json = JSON.readTree(caseJson.toFile());
        } catch (JsonProcessingException e) {
            throw new MalformedCaseException(caseJson, "not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new MalformedCaseException(caseJson, "cannot read: " + e.getMessage(), e);
        }
        if (json == null || !json.isObject()) throw new MalformedCaseException(caseJson, "must hold a JSON object");
        JsonNode kindNode = json.get("kind");
        if (kindNode == null || !kindNode.isTextual() || kindNode.asText().isBlank()) {
            throw new MalformedCaseException(caseJson, "no 'kind' (a non-empty string naming the case kind)");
        }
        Tolerance tolerance = Tolerance.parse(json.get("tolerance"), caseJson);
        Map<String, TensorSpec> inputs = specs(json, "inputs", caseJson, false);
        Map<String, TensorSpec> declaredOutputs = specs(json, "outputs", caseJson, true);

        Path ioPath = dir.resolve(IO_FILE);
        if (!Files.isRegularFile(ioPath)) throw new MalformedCaseException(dir, "no " + IO_FILE);
        TensorFile io;
        try {
            io = TensorFile.open(ioPath);
        } catch (IOException | RuntimeException e) {
            throw new MalformedCaseException(ioPath, "cannot read: " + e.getMessage(), e);
        }
        try {
            Set<String> keys = new LinkedHashSet<>(io.keys());
            Map<String, TensorSpec> outputs = declaredOutputs;
            if (outputs == null) { // no 'outputs' field: every out.* tensor of io.safetensors is an output
                outputs = new LinkedHashMap<>();
                for (String k : keys) {
                    if (k.startsWith("out.")) {
                        TensorSource s = io.get(k);
                        outputs.put(k.substring(4), new TensorSpec(k.substring(4), s.shape(), s.dtype()));
                    }
                }
            }
            if (outputs.isEmpty()) throw new MalformedCaseException(dir, "the case has no outputs to check");
            checkPresent(io, keys, "in.", inputs, ioPath);
            checkPresent(io, keys, "out.", outputs, ioPath);
            return new GoldenCase(dir, json, kindNode.asText(), tolerance, Collections.unmodifiableMap(inputs),
                    Collections.unmodifiableMap(outputs), io, Collections.unmodifiableSet(keys));
        } catch (MalformedCaseException | RuntimeException e) {
            closeQuietly(io);
            throw e;
        }
    }

    private static Map<String, TensorSpec> specs(JsonNode json, String field, Path caseJson, boolean optional)
            throws MalformedCaseException {
        JsonNode node = json.get(field);
        if (node == null || node.isNull()) return optional ? null : new LinkedHashMap<>();
        if (!node.isObject()) throw new MalformedCaseException(caseJson, "'" + field + "' must be an object {name: {shape, dtype}}");
        Map<String, TensorSpec> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String at = field + "." + e.getKey();
            JsonNode shape = e.getValue().get("shape");
            JsonNode dtype = e.getValue().get("dtype");
            if (shape == null || !shape.isArray()) throw new MalformedCaseException(caseJson, "'" + at + ".shape' is missing or not an array");
            long[] s = new long[shape.size()];
            for (int i = 0; i < s.length; i++) {
                if (!shape.get(i).isIntegralNumber() || shape.get(i).asLong() < 0) {
                    throw new MalformedCaseException(caseJson, "'" + at + ".shape' must hold integers >= 0, got " + shape);
                }
                s[i] = shape.get(i).asLong();
            }
            if (dtype == null || !dtype.isTextual()) throw new MalformedCaseException(caseJson, "'" + at + ".dtype' is missing or not a string");
            DType d;
            try {
                d = DType.fromSafetensors(dtype.asText());
            } catch (IllegalArgumentException ex) {
                throw new MalformedCaseException(caseJson, "'" + at + ".dtype': " + ex.getMessage(), ex);
            }
            out.put(e.getKey(), new TensorSpec(e.getKey(), s, d));
        }
        return out;
    }

    private static void checkPresent(TensorFile io, Set<String> keys, String prefix, Map<String, TensorSpec> specs, Path ioPath)
            throws MalformedCaseException {
        List<String> missing = new ArrayList<>();
        for (TensorSpec spec : specs.values()) {
            String key = prefix + spec.name();
            if (!keys.contains(key)) {
                missing.add(key);
                continue;
            }
            TensorSource s = io.get(key);
            if (!Arrays.equals(s.shape(), spec.shape()) || s.dtype() != spec.dtype()) {
                throw new MalformedCaseException(ioPath, "'" + key + "' is " + s.dtype() + Arrays.toString(s.shape())
                        + " but case.json declares " + spec.dtype() + Arrays.toString(spec.shape()));
            }
        }
        if (!missing.isEmpty()) {
            throw new MalformedCaseException(ioPath, "case.json lists " + (prefix.equals("in.") ? "inputs" : "outputs")
                    + " that are absent here: " + String.join(", ", missing));
        }
    }

    /** The case directory. */
    public Path dir() { return dir; }

    /** The case name: the directory name. */
    public String name() {
        Path f = dir.toAbsolutePath().normalize().getFileName();
        return f == null ? dir.toString() : f.toString();
    }

    /** The case kind ({@code layer_inflated_conv}, {@code unet_base}, ...). */
    public String kind() { return kind; }

    /** The whole parsed {@code case.json}. */
    public JsonNode json() { return json; }

    /** The {@code config} block (constructor kwargs as the reference passed them); a missing node when absent. */
    public JsonNode config() { return field("config"); }

    /**
     * A config block by its path as {@code objects} write it: {@code "config"} is the whole block,
     * {@code "config.unet"} its {@code unet} entry (a missing node when absent).
     */
    public JsonNode config(String path) {
        String[] parts = path.split("\\.");
        if (parts.length == 0 || !parts[0].equals("config")) {
            throw new IllegalArgumentException("config paths start with 'config', got '" + path + "'");
        }
        JsonNode n = config();
        for (int i = 1; i < parts.length; i++) n = n.path(parts[i]);
        return n;
    }

    /** The {@code objects} block (what to construct); a missing node when absent. */
    public JsonNode objects() { return field("objects"); }

    /** The {@code calls} list (what the reference called, in order); a missing node when absent. */
    public JsonNode calls() { return field("calls"); }

    /** Any top-level field of {@code case.json}; a missing node when absent. */
    public JsonNode field(String name) {
        JsonNode n = json.get(name);
        return n == null ? MissingNode.getInstance() : n;
    }

    public Tolerance tolerance() { return tolerance; }

    /** Declared inputs, in case.json order (names without the {@code in.} prefix). */
    public Map<String, TensorSpec> inputs() { return inputs; }

    /** Declared outputs, in case.json order (names without the {@code out.} prefix). */
    public Map<String, TensorSpec> outputs() { return outputs; }

    /** The rule for output {@code name} (without prefix). */
    public Tolerance.Applied ruleFor(String name) {
        TensorSpec spec = outputs.get(name);
        boolean integer = spec != null && !spec.dtype().isFloatingPoint();
        return tolerance.ruleFor(name, integer);
    }

    /** Input {@code in.<name>} in its stored dtype; the caller owns it. */
    public INDArray input(String name) { return tensor("in." + name); }

    /** Input {@code in.<name>} converted to {@code type}; the caller owns it. */
    public INDArray input(String name, DataType type) { return source("in." + name).load(type); }

    /** Expected output {@code out.<name>} in its stored dtype; the caller owns it. */
    public INDArray expected(String name) { return tensor("out." + name); }

    /** Any tensor of {@code io.safetensors} by full key ({@code in.x}, {@code out.y}). */
    public INDArray tensor(String key) { return source(key).load(); }

    /** Lazy handle on a tensor of {@code io.safetensors}; throws naming the key and the case when absent. */
    public TensorSource source(String key) {
        if (!ioKeys.contains(key)) {
            throw new IllegalArgumentException("case '" + name() + "' has no tensor '" + key + "' in " + IO_FILE);
        }
        return io.get(key);
    }

    /** The {@code io.safetensors} file. */
    public TensorFile io() { return io; }

    /** True when the case has a {@code weights.safetensors}. */
    public boolean hasWeights() { return Files.isRegularFile(dir.resolve(WEIGHTS_FILE)); }

    /**
     * The module state dict {@code weights.safetensors} (opened on first use, closed with the case).
     *
     * @throws IOException when the file is absent or unreadable
     */
    public synchronized TensorFile weights() throws IOException {
        if (weights == null) {
            Path p = dir.resolve(WEIGHTS_FILE);
            if (!Files.isRegularFile(p)) throw new IOException(p + ": case '" + name() + "' has no " + WEIGHTS_FILE);
            weights = TensorFile.open(p);
        }
        return weights;
    }

    /** The module weights as a state dict (keys relative to the module, as {@code weights_prefix ""} cases store them). */
    public StateDict weightsStateDict() throws IOException {
        return StateDict.of(dir.resolve(WEIGHTS_FILE).toString(), weights().asMap());
    }

    /** A file of the case directory ({@code weights.pt}, {@code trace.safetensors}, ...). */
    public Path file(String name) { return dir.resolve(name); }

    @Override
    public synchronized void close() {
        closeQuietly(io);
        if (weights != null) closeQuietly(weights);
        weights = null;
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // read-only files: nothing to recover
        }
    }

    @Override
    public String toString() { return "GoldenCase{" + name() + ", kind=" + kind + ", outputs=" + outputs.keySet() + "}"; }
}
