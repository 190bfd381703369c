package org.lavie4j.core.media;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Atomic writes for writers that need a path rather than a channel ({@link org.lavie4j.core.io.AtomicFiles} covers
 * the channel case): FFmpeg opens its output file itself, and a frame directory is many files. The content is written
 * under a hidden temporary name in the target's folder, forced to disk, and renamed into place; on failure the
 * temporary is deleted and nothing appears under the final name.
 */
final class AtomicPaths {
    private AtomicPaths() {}

    /** Writes a file at the temporary path it is given. */
    @FunctionalInterface
    interface FileBody {
        void writeTo(Path tmp) throws IOException;
    }

    /** Writes a file atomically: {@code body} fills a temporary file beside {@code target}, which is then renamed. */
    static void writeFile(Path target, FileBody body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = parentOf(abs, target);
        if (Files.isDirectory(abs)) throw new IOException("cannot write " + target + ": it is a directory");
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        boolean done = false;
        try {
            body.writeTo(tmp);
            force(tmp);
            publish(tmp, false);
            move(tmp, abs);
            done = true;
            syncDirectory(dir);
        } finally {
            if (!done) deleteQuietly(tmp);
        }
    }

    /**
     * Writes a directory of files. A new directory is filled under a temporary name and renamed into place, so it
     * appears whole or not at all. An existing directory cannot be swapped in one step without disturbing files of
     * others, so there every file is first written completely into a temporary sibling directory, and only then each
     * file is renamed over its target (each file atomic, the set not); files matching {@code stale} that the new
     * write did not produce are then deleted, so the directory holds exactly the new set of such files.
     */
    static void writeDirectory(Path target, FileBody body, Predicate<String> stale) throws IOException {
        Path abs = target.toAbsolutePath();
        Path parent = parentOf(abs, target);
        if (Files.exists(abs) && !Files.isDirectory(abs))
            throw new IOException("cannot write frames to " + target + ": it exists and is not a directory");
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + abs.getFileName() + ".tmp.");
        boolean done = false;
        try {
            body.writeTo(tmp);
            List<Path> written = list(tmp);
            for (Path f : written) force(f);
            if (!Files.exists(abs)) {
                syncDirectory(tmp);
                publish(tmp, true);
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            } else {
                List<String> names = new ArrayList<>();
                for (Path f : written) {
                    names.add(f.getFileName().toString());
                    move(f, abs.resolve(f.getFileName().toString()));
                }
                for (Path old : list(abs)) {
                    String name = old.getFileName().toString();
                    if (stale.test(name) && !names.contains(name) && Files.isRegularFile(old)) Files.delete(old);
                }
                Files.delete(tmp);
                syncDirectory(abs);
            }
            done = true;
            syncDirectory(parent);
        } finally {
            if (!done) deleteTree(tmp);
        }
    }

    /**
     * Gives a finished temporary file or folder the permissions of an ordinary new one (rw-r--r--, rwxr-xr-x) instead of
     * the owner-only ones temporaries are created with; a no-op where POSIX permissions do not exist.
     */
    private static void publish(Path path, boolean folder) throws IOException {
        if (!Files.getFileStore(path).supportsFileAttributeView(PosixFileAttributeView.class)) return;
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(folder ? "rwxr-xr-x" : "rw-r--r--"));
    }

    private static Path parentOf(Path abs, Path target) throws IOException {
        Path dir = abs.getParent();
        if (dir == null) throw new IOException("cannot write " + target + ": no parent directory");
        return dir;
    }

    private static List<Path> list(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) out.add(p);
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void force(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    /** Makes renames durable where the platform allows opening a directory (Linux); a no-op elsewhere. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | RuntimeException ignored) {
            // not supported on this platform / file system
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // the original failure is what the caller needs to see
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(AtomicPaths::deleteQuietly);
        } catch (IOException | RuntimeException ignored) {
            // the original failure is what the caller needs to see
        }
    }
}
