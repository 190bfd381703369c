package org.lavie4j.core.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A read-only, ordered map from key to {@link TensorSource} read from one checkpoint (a safetensors file, a PyTorch
 * zip checkpoint's state dict, or a diffusers model folder's weights). Tensors are read lazily: only
 * {@link TensorSource#load()} touches their data. Close the file when done; sources must not be loaded afterwards.
 */
public final class TensorFile implements AutoCloseable {

    /** What {@link #detect(Path)} finds at a path, from its content (never from its name). */
    public enum Format {
        /** u64-LE header length, then a JSON header starting with '{'. */
        SAFETENSORS,
        /** A zip archive ('PK'): {@code torch.save} since PyTorch 1.6. */
        PYTORCH_ZIP,
        /** A bare pickle (0x80 protocol byte): {@code torch.save(..., _use_new_zipfile_serialization=False)}. */
        LEGACY_PYTORCH,
        /** A directory: a diffusers model folder or one of its parts. */
        DIRECTORY,
        /** Anything else (including files too short to tell). */
        UNKNOWN
    }

    private final Path path;
    private final Map<String, TensorSource> tensors;
    private final Map<String, String> metadata;
    private final AutoCloseable onClose;
    private boolean closed;

    /**
     * A tensor file over already-opened sources (used by the readers; also handy for in-memory state).
     *
     * @param onClose released by {@link #close()}; may be null
     */
    public TensorFile(Path path, Map<String, ? extends TensorSource> tensors, Map<String, String> metadata,
                      AutoCloseable onClose) {
        this.path = path;
        this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        this.onClose = onClose;
    }

    /**
     * Opens a checkpoint, detecting its format by content: safetensors; a PyTorch zip checkpoint (its state dict,
     * see {@link TorchCheckpoint#stateDict()}); a diffusers part folder ({@code config.json} plus weights). Legacy
     * (non-zip) PyTorch files and unknown formats are rejected with a message saying what to do.
     */
    public static TensorFile open(Path path) throws IOException {
        if (!Files.exists(path)) throw new java.nio.file.NoSuchFileException(path.toString(), null, "no such checkpoint file or folder");
        Format format = detect(path);
        switch (format) {
            case SAFETENSORS:
                return SafeTensors.read(path);
            case PYTORCH_ZIP: {
                TorchCheckpoint ckpt = TorchCheckpoint.read(path);
                try {
                    return ckpt.stateDict(ckpt);
                } catch (IOException | RuntimeException e) {
                    ckpt.close();
                    throw e;
                }
            }
            case LEGACY_PYTORCH:
                throw legacyTorch(path);
            case DIRECTORY:
                return DiffusersFolder.openPart(path);
            default:
                // A damaged safetensors file gets the safetensors reader's precise diagnosis.
                if (path.getFileName() != null && path.getFileName().toString().endsWith(".safetensors")) {
                    return SafeTensors.read(path);
                }
                throw new IOException(path + ": unrecognised checkpoint format (expected safetensors, a PyTorch zip "
                        + "checkpoint (.pt/.bin/.ckpt) or a diffusers model folder)");
        }
    }

    /** The format of the file or folder at {@code path}, from its first bytes. */
    public static Format detect(Path path) throws IOException {
        if (Files.isDirectory(path)) return Format.DIRECTORY;
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, head.length);
        }
        if (n >= 2 && head[0] == 'P' && head[1] == 'K') return Format.PYTORCH_ZIP;
        // safetensors before the pickle test: a header length ending in byte 0x80 (128, 384, ...) starts with 0x80 too
        if (n == 9 && head[8] == '{') {
            long len = 0;
            for (int i = 7; i >= 0; i--) len = (len << 8) | (head[i] & 0xff);
            if (len > 0) return Format.SAFETENSORS;
        }
        if (n >= 1 && (head[0] & 0xff) == 0x80) return Format.LEGACY_PYTORCH;
        return Format.UNKNOWN;
    }

    static IOException legacyTorch(Path path) {
        return new IOException(path + ": legacy (non-zip) PyTorch checkpoint, re-save with "
                + "torch.save(..., _use_new_zipfile_serialization=True)");
    }

    /** The file (or folder) this was read from. */
    public Path path() { return path; }

    /** The file's string metadata (safetensors {@code __metadata__}; empty for PyTorch checkpoints). */
    public Map<String, String> metadata() { return metadata; }

    /** The keys in file order. */
    public Set<String> keys() { return tensors.keySet(); }

    /** The sources in file order. */
    public Collection<TensorSource> tensors() { return tensors.values(); }

    /** The whole read-only, ordered map. */
    public Map<String, TensorSource> asMap() { return tensors; }

    public int size() { return tensors.size(); }

    public boolean contains(String key) { return tensors.containsKey(key); }

    /** The tensor under {@code key}; throws naming the file and the key when absent. */
    public TensorSource get(String key) {
        TensorSource s = tensors.get(key);
        if (s == null) {
            throw new IllegalArgumentException("no tensor '" + key + "' in " + path + " (" + tensors.size() + " tensors)");
        }
        return s;
    }

    /** Releases the file (mapping, zip handle). Idempotent. */
    @Override
    public void close() throws IOException {
        if (closed) return;
        closed = true;
        if (onClose != null) {
            try {
                onClose.close();
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException("closing " + path, e);
            }
        }
    }

    @Override
    public String toString() {
        return "TensorFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
