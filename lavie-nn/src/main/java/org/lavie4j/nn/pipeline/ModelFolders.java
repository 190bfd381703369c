package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.Module;
import org.lavie4j.core.io.AtomicFiles;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.nn.clip.CLIPTokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/** Reading configs of, and writing, model folders: what the stage models' {@code load} and {@code save} share. */
final class ModelFolders {
    private ModelFolders() {}

    /** Writes the contents of a new folder into the (temporary) folder it is given. */
    @FunctionalInterface
    interface Contents {
        void writeTo(Path folder) throws IOException;
    }

    /**
     * Creates the folder {@code dir}, which must not exist yet, atomically: the contents are written under a
     * temporary name beside it (every file flushed to disk) and renamed into place in one step, so {@code dir} either
     * does not exist or is complete. On failure the temporary folder is removed.
     */
    static void createAtomically(Path dir, Contents contents) throws IOException {
        Path target = dir.toAbsolutePath();
        if (Files.exists(target)) throw new FileAlreadyExistsException(target.toString(), null, "will not overwrite an existing model folder");
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + target.getFileName() + ".");
        boolean done = false;
        try {
            contents.writeTo(tmp);
            AtomicFiles.publish(tmp, true);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            done = true;
        } finally {
            if (!done) deleteTree(tmp);
        }
    }

    /**
     * The checkpoint of a stage in LaVie's release folder: {@code pathOrFolder} is the checkpoint file itself, or the
     * folder holding {@code ptName} (preferred) or {@code safetensorsName}.
     *
     * @param stage   names the stage in the error ("interpolation", "VSR")
     * @param partner the folder that must sit beside the checkpoint, for the error message
     * @throws NoSuchFileException naming what was expected where
     */
    static Path releaseCheckpoint(Path pathOrFolder, String ptName, String safetensorsName, String stage, String partner) throws IOException {
        if (pathOrFolder == null) throw new IllegalArgumentException("model folder is null");
        if (Files.isRegularFile(pathOrFolder)) return pathOrFolder;
        if (!Files.isDirectory(pathOrFolder)) throw new NoSuchFileException(pathOrFolder.toString(), null, "no such model folder");
        Path pt = pathOrFolder.resolve(ptName);
        Path checkpoint = Files.isRegularFile(pt) ? pt : pathOrFolder.resolve(safetensorsName);
        if (!Files.isRegularFile(checkpoint))
            throw new NoSuchFileException(pt.toString(), null, "not a LaVie " + stage + " model folder: expected " + pt + " (or "
                    + safetensorsName + ") with the folder " + pathOrFolder.resolve(partner) + " beside it (LaVie's pretrained_models/ layout)");
        return checkpoint;
    }

    /** Parses a JSON config; a parser's IllegalArgumentException is rethrown naming the file. */
    static <T> T parse(Path file, Function<JsonNode, T> parser) throws IOException {
        JsonNode json = DiffusersFolder.readJson(file);
        try {
            return parser.apply(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** A diffusers part folder: {@code config.json} and the module's weights as safetensors of {@code weightType}. */
    static void writePart(Path dir, Module module, ObjectNode config, String weightsName, DType weightType) throws IOException {
        Files.createDirectories(dir);
        writeJson(dir.resolve("config.json"), config);
        SafeTensors.write(dir.resolve(weightsName), module.stateDict().asMap(), Map.of("format", "pt"), weightType);
    }

    /** A tokenizer folder: CLIP's BPE files (the only vocabulary there is here) and this tokenizer's special tokens and length. */
    static void writeTokenizer(Path dir, CLIPTokenizer tokenizer) throws IOException {
        Files.createDirectories(dir);
        for (String name : List.of("vocab.json", "merges.txt")) {
            try (InputStream in = CLIPTokenizer.class.getResourceAsStream(name)) {
                if (in == null) throw new IOException("CLIP tokenizer resource " + name + " is missing from the lavie-nn jar");
                byte[] bytes = in.readAllBytes();
                AtomicFiles.write(dir.resolve(name), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
            }
        }
        CLIPTokenizer.Settings s = tokenizer.settings();
        ObjectNode cfg = JsonNodeFactory.instance.objectNode();
        cfg.put("tokenizer_class", "CLIPTokenizer");
        cfg.put("model_max_length", s.maxLength());
        cfg.put("bos_token", s.bosToken());
        cfg.put("eos_token", s.eosToken());
        cfg.put("unk_token", s.unkToken());
        cfg.put("pad_token", s.padToken());
        writeJson(dir.resolve("tokenizer_config.json"), cfg);
    }

    /** Pretty-printed JSON, written atomically. */
    static void writeJson(Path file, JsonNode json) throws IOException {
        Files.createDirectories(file.getParent());
        byte[] bytes = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(json)
                .concat("\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /** Deletes a folder tree, best effort (used on a failed write, where the original failure is what matters). */
    static void deleteTree(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // nothing to clean
        }
    }
}
