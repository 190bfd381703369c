package org.lavie4j.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A folder of checkpoints, each a folder written atomically, plus a {@value #LATEST} pointer:
 * <pre>
 * root/
 *   step-000000100/   manifest.json (every file's size and CRC-32C) and the files of the checkpoint
 *   step-000000200/
 *   latest            "step-000000200"
 * </pre>
 * A save writes the files into a hidden temporary folder ({@code .tmp-NAME-*}), forces each to disk, writes the manifest
 * last, renames the folder into place, forces the root, and only then replaces {@value #LATEST} (itself an atomic file
 * write). A process killed at any moment therefore leaves either the previous latest checkpoint or the new one, never
 * a partial one under a final name: temporary folders left by a killed save are ignored and removed by the next save.
 * After the pointer moved, all but the newest {@code keepLast} checkpoints are deleted (renamed to a hidden name first,
 * so a half-deleted folder is never mistaken for a checkpoint). One writer per root.
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);

    /** The pointer file naming the newest complete checkpoint. */
    public static final String LATEST = "latest";
    /** The file every complete checkpoint holds, written last. */
    public static final String MANIFEST = "manifest.json";
    static final String FORMAT = "lavie4j-checkpoint";
    private static final String TMP_PREFIX = ".tmp-", DELETE_PREFIX = ".del-";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    /** Writes the files of one checkpoint into a (temporary) folder. */
    @FunctionalInterface
    public interface FolderWriter {
        void writeTo(Path dir) throws IOException;
    }

    /** Test hook: called at the named phases of a save ("files", "manifest", "renamed", "latest"). */
    @FunctionalInterface
    interface Faults {
        void at(String phase) throws IOException;
    }

    private final Path root;
    private final int keepLast;
    private Faults faults = phase -> {};

    /** A store at {@code root} (created on the first save) keeping the newest {@code keepLast >= 1} checkpoints. */
    public CheckpointStore(Path root, int keepLast) {
        if (root == null) throw new IllegalArgumentException("CheckpointStore: root is null");
        if (keepLast < 1) throw new IllegalArgumentException("CheckpointStore: keepLast must be >= 1, got " + keepLast);
        this.root = root.toAbsolutePath();
        this.keepLast = keepLast;
    }

    public Path root() { return root; }

    public int keepLast() { return keepLast; }

    void faults(Faults f) { this.faults = f; }

    /** The folder name of the checkpoint after {@code step} optimizer steps (sorts by step). */
    public static String name(long step) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        return String.format("step-%09d", step);
    }

    /**
     * Writes the checkpoint {@code name} with {@code writer}, makes it the latest and prunes old ones. Returns the
     * checkpoint folder.
     *
     * @throws java.nio.file.FileAlreadyExistsException a checkpoint of that name exists (it is never replaced: it may be
     *                                                  the latest)
     */
    public Path save(String name, FolderWriter writer) throws IOException {
        if (name == null || !NAME.matcher(name).matches() || name.equals(LATEST))
            throw new IllegalArgumentException("CheckpointStore: invalid checkpoint name '" + name + "'");
        Files.createDirectories(root);
        Path target = root.resolve(name);
        if (Files.exists(target)) throw new java.nio.file.FileAlreadyExistsException(target.toString(), null, "checkpoint exists");
        removeStale();
        Path tmp = Files.createTempDirectory(root, TMP_PREFIX + name + "-");
        boolean done = false;
        try {
            writer.writeTo(tmp);
            faults.at("files");
            writeManifest(tmp);
            faults.at("manifest");
            syncDirectory(tmp);
            AtomicFiles.publish(tmp, true);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            done = true;
            syncDirectory(root);
            faults.at("renamed");
            byte[] pointer = (name + "\n").getBytes(StandardCharsets.UTF_8);
            AtomicFiles.write(root.resolve(LATEST), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(pointer)));
            faults.at("latest");
            prune(name);
            return target;
        } catch (IOException | RuntimeException e) {
            // a failed save leaves the previous state; a killed process leaves the temporary folder for removeStale()
            if (!done) deleteTree(tmp);
            throw e;
        }
    }

    /**
     * The latest complete checkpoint: the one {@value #LATEST} names, or, when there is no pointer yet, the newest
     * complete checkpoint folder; empty when there is none.
     *
     * @throws IOException the pointer names a missing or incomplete checkpoint
     */
    public Optional<Path> latest() throws IOException {
        Path pointer = root.resolve(LATEST);
        if (Files.isRegularFile(pointer)) {
            String name = Files.readString(pointer, StandardCharsets.UTF_8).trim();
            if (!NAME.matcher(name).matches()) throw new IOException(pointer + ": not a checkpoint name: '" + name + "'");
            Path dir = root.resolve(name);
            verify(dir);
            return Optional.of(dir);
        }
        List<Path> all = list();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /** The complete checkpoints (folders with a manifest), oldest first by name. */
    public List<Path> list() throws IOException {
        if (!Files.isDirectory(root)) return List.of();
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(p -> Files.isDirectory(p) && NAME.matcher(p.getFileName().toString()).matches()
                            && Files.isRegularFile(p.resolve(MANIFEST)))
                    .sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
        }
    }

    /**
     * A checkpoint folder from a path a user gives: a checkpoint folder itself, or a store root (its latest). The
     * checkpoint is verified against its manifest.
     *
     * @throws NoSuchFileException nothing to resume from there (the message says what was expected)
     * @throws IOException         the checkpoint is incomplete or corrupt (named)
     */
    public static Path resolve(Path dirOrRoot) throws IOException {
        Path p = dirOrRoot.toAbsolutePath();
        if (!Files.isDirectory(p)) throw new NoSuchFileException(p.toString(), null, "no such checkpoint folder");
        if (Files.isRegularFile(p.resolve(MANIFEST))) {
            verify(p);
            return p;
        }
        // a store root, or a training output folder holding checkpoints/
        for (Path r : List.of(p, p.resolve("checkpoints"))) {
            if (!Files.isDirectory(r)) continue;
            Optional<Path> latest = new CheckpointStore(r, 1).latest();
            if (latest.isPresent()) return latest.get();
        }
        throw new NoSuchFileException(p.toString(), null, "no checkpoint here: expected a checkpoint folder with " + MANIFEST
                + ", or a folder with a '" + LATEST + "' pointer (a training output folder or its checkpoints/)");
    }

    /**
     * Checks a checkpoint folder against its manifest: every file listed exists with its size and CRC-32C.
     *
     * @throws IOException naming the first problem
     */
    public static void verify(Path dir) throws IOException {
        Path manifest = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(manifest))
            throw new NoSuchFileException(manifest.toString(), null, "incomplete checkpoint: no " + MANIFEST);
        JsonNode m;
        try {
            m = new ObjectMapper().readTree(manifest.toFile());
        } catch (IOException e) {
            throw new IOException(manifest + ": unreadable manifest: " + e.getMessage(), e);
        }
        if (m == null || !FORMAT.equals(m.path("format").asText()) || !m.path("files").isObject())
            throw new IOException(manifest + ": not a " + FORMAT + " manifest");
        for (var it = m.path("files").fields(); it.hasNext(); ) {
            var e = it.next();
            Path f = dir.resolve(e.getKey());
            if (!f.normalize().startsWith(dir.normalize()) || !Files.isRegularFile(f))
                throw new NoSuchFileException(f.toString(), null, "checkpoint file listed in " + MANIFEST + " is missing");
            long size = Files.size(f);
            if (size != e.getValue().path("bytes").asLong(-1))
                throw new IOException(f + ": " + size + " bytes, the manifest says " + e.getValue().path("bytes") + " (truncated or replaced)");
            String crc = crc32c(f);
            if (!crc.equals(e.getValue().path("crc32c").asText()))
                throw new IOException(f + ": CRC-32C " + crc + ", the manifest says " + e.getValue().path("crc32c").asText() + " (corrupt)");
        }
    }

    // ------------------------------------------------------------------------------------------------ internals

    private static void writeManifest(Path dir) throws IOException {
        ObjectNode m = JsonNodeFactory.instance.objectNode();
        m.put("format", FORMAT);
        m.put("version", 1);
        ObjectNode files = m.putObject("files");
        List<Path> all;
        try (Stream<Path> s = Files.walk(dir)) {
            all = s.filter(Files::isRegularFile).sorted().toList();
        }
        for (Path f : all) {
            forceFile(f);
            ObjectNode e = files.putObject(dir.relativize(f).toString().replace('\\', '/'));
            e.put("bytes", Files.size(f));
            e.put("crc32c", crc32c(f));
        }
        byte[] bytes = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(m).concat("\n")
                .getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(dir.resolve(MANIFEST), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    static String crc32c(Path f) throws IOException {
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(f)) {
            for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
        }
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }

    /** Removes temporary and half-deleted folders left by a killed process. */
    private void removeStale() throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) && (n.startsWith(TMP_PREFIX) || n.startsWith(DELETE_PREFIX))) {
                    LOG.info("removing {} left by an interrupted checkpoint write", p);
                    deleteTree(p);
                }
            }
        }
    }

    /** Deletes all complete checkpoints but the newest {@code keepLast} (never {@code current}). */
    private void prune(String current) throws IOException {
        List<Path> all = new ArrayList<>(list());
        all.removeIf(p -> p.getFileName().toString().equals(current));
        int keepOthers = keepLast - 1;
        for (int i = 0; i < all.size() - keepOthers; i++) discard(all.get(i));
    }

    /** Renames a checkpoint to a hidden name (one atomic step), then deletes it. */
    private void discard(Path dir) throws IOException {
        Path hidden = root.resolve(DELETE_PREFIX + dir.getFileName() + "-" + System.nanoTime());
        Files.move(dir, hidden, StandardCopyOption.ATOMIC_MOVE);
        syncDirectory(root);
        deleteTree(hidden);
    }

    private static void forceFile(Path f) throws IOException {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | RuntimeException ignored) {
            // not supported on this platform / file system
        }
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
