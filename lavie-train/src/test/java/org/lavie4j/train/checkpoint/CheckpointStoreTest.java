package org.lavie4j.train.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Atomic checkpoint folders: a failure or a kill at any phase of a save never leaves a corrupt latest checkpoint. */
class CheckpointStoreTest {
    /** A stand-in for a process killed mid-save: an Error, which the store does not catch, so nothing is cleaned up. */
    static final class Killed extends Error {
        Killed(String phase) { super("killed at " + phase); }
    }

    private static CheckpointStore.FolderWriter files(String content) {
        return dir -> {
            Files.writeString(dir.resolve("weights.bin"), content.repeat(1000));
            Files.createDirectories(dir.resolve("sub"));
            Files.writeString(dir.resolve("sub/state.json"), "{\"content\": \"" + content + "\"}");
        };
    }

    private static String content(Path checkpoint) throws IOException {
        CheckpointStore.verify(checkpoint);
        return Files.readString(checkpoint.resolve("sub/state.json"));
    }

    private static List<String> entries(Path root) throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test void savesPointsLatestAndKeepsTheLastK(@TempDir Path tmp) throws Exception {
        CheckpointStore store = new CheckpointStore(tmp.resolve("checkpoints"), 2);
        assertTrue(store.latest().isEmpty());
        for (int step = 1; step <= 4; step++) {
            Path dir = store.save(CheckpointStore.name(step), files("s" + step));
            assertEquals(dir, store.latest().orElseThrow());
            assertTrue(content(dir).contains("s" + step));
        }
        assertEquals(List.of("latest", "step-000000003", "step-000000004"), entries(store.root()));
        assertEquals("step-000000004", Files.readString(store.root().resolve("latest")).trim());
        assertEquals(store.root().resolve("step-000000004"), CheckpointStore.resolve(store.root()));
        assertEquals(store.root().resolve("step-000000004"), CheckpointStore.resolve(tmp), "an output folder holding checkpoints/");
        assertEquals(store.root().resolve("step-000000003"), CheckpointStore.resolve(store.root().resolve("step-000000003")));
        assertThrows(FileAlreadyExistsException.class, () -> store.save(CheckpointStore.name(4), files("again")));
        assertTrue(content(store.latest().orElseThrow()).contains("s4"));
    }

    @Test void aFailureAtAnyPhaseLeavesALoadableLatest(@TempDir Path tmp) throws Exception {
        CheckpointStore store = new CheckpointStore(tmp, 3);
        store.save(CheckpointStore.name(1), files("one"));
        // failures before the rename: nothing new appears, the temporary folder is removed
        for (String phase : List.of("files", "manifest")) {
            store.faults(p -> { if (p.equals(phase)) throw new IOException("disk full at " + p); });
            IOException e = assertThrows(IOException.class, () -> store.save(CheckpointStore.name(2), files("two")));
            assertTrue(e.getMessage().contains(phase));
            assertEquals(List.of("latest", "step-000000001"), entries(tmp), phase);
            assertTrue(content(store.latest().orElseThrow()).contains("one"), phase);
        }
        // a writer that fails half way
        store.faults(p -> {});
        assertThrows(IOException.class, () -> store.save(CheckpointStore.name(2), dir -> {
            Files.writeString(dir.resolve("weights.bin"), "partial");
            throw new IOException("writer failed");
        }));
        assertEquals(List.of("latest", "step-000000001"), entries(tmp));
        // after the rename, before the pointer: the new folder is complete, the pointer still names the old one
        store.faults(p -> { if (p.equals("renamed")) throw new IOException("failed before the pointer"); });
        assertThrows(IOException.class, () -> store.save(CheckpointStore.name(2), files("two")));
        assertTrue(content(store.latest().orElseThrow()).contains("one"));
        CheckpointStore.verify(tmp.resolve("step-000000002"));
        store.faults(p -> {});
        assertTrue(content(store.save(CheckpointStore.name(3), files("three"))).contains("three"));
        assertTrue(content(store.latest().orElseThrow()).contains("three"));
    }

    @Test void aKillMidWriteLeavesThePreviousLatestAndIsCleanedUpLater(@TempDir Path tmp) throws Exception {
        CheckpointStore store = new CheckpointStore(tmp, 2);
        store.save(CheckpointStore.name(1), files("one"));
        for (String phase : List.of("files", "manifest")) {
            store.faults(p -> { if (p.equals(phase)) throw new Killed(p); });
            assertThrows(Killed.class, () -> store.save(CheckpointStore.name(2), files("two")));
            // what a killed process leaves: a hidden temporary folder, and the latest checkpoint untouched
            assertTrue(entries(tmp).stream().anyMatch(n -> n.startsWith(".tmp-step-000000002")), entries(tmp).toString());
            assertEquals(tmp.resolve("step-000000001"), CheckpointStore.resolve(tmp));
            assertTrue(content(CheckpointStore.resolve(tmp)).contains("one"));
            assertEquals(1, store.list().size());
        }
        // a kill during the writer itself (half a file written)
        store.faults(p -> {});
        assertThrows(Killed.class, () -> store.save(CheckpointStore.name(2), dir -> {
            Files.writeString(dir.resolve("weights.bin"), "par");
            throw new Killed("writer");
        }));
        assertTrue(content(CheckpointStore.resolve(tmp)).contains("one"));
        // the next save removes what the killed ones left
        store.save(CheckpointStore.name(2), files("two"));
        assertEquals(List.of("latest", "step-000000001", "step-000000002"), entries(tmp));
    }

    @Test void corruptOrTruncatedFilesAreNamed(@TempDir Path tmp) throws Exception {
        CheckpointStore store = new CheckpointStore(tmp, 2);
        Path dir = store.save(CheckpointStore.name(7), files("seven"));
        Path weights = dir.resolve("weights.bin");
        byte[] b = Files.readAllBytes(weights);
        b[10] ^= 1;
        Files.write(weights, b);
        IOException e = assertThrows(IOException.class, () -> CheckpointStore.resolve(tmp));
        assertTrue(e.getMessage().contains("weights.bin") && e.getMessage().contains("corrupt"), e.getMessage());
        Files.write(weights, new byte[]{1, 2, 3});
        e = assertThrows(IOException.class, () -> CheckpointStore.verify(dir));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        Files.delete(weights);
        e = assertThrows(NoSuchFileException.class, () -> CheckpointStore.verify(dir));
        assertTrue(e.getMessage().contains("weights.bin"), e.getMessage());
        Files.delete(dir.resolve(CheckpointStore.MANIFEST));
        e = assertThrows(NoSuchFileException.class, () -> CheckpointStore.resolve(dir.getParent()));
        assertTrue(e.getMessage().contains("manifest.json"), e.getMessage());
    }

    @Test void namesAndEmptyFolders(@TempDir Path tmp) throws Exception {
        assertEquals("step-000000042", CheckpointStore.name(42));
        assertTrue(CheckpointStore.name(2).compareTo(CheckpointStore.name(10)) < 0, "names sort by step");
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> CheckpointStore.resolve(tmp));
        assertTrue(e.getMessage().contains("no checkpoint here"), e.getMessage());
        assertThrows(NoSuchFileException.class, () -> CheckpointStore.resolve(tmp.resolve("absent")));
        CheckpointStore store = new CheckpointStore(tmp, 1);
        assertThrows(IllegalArgumentException.class, () -> store.save("../escape", files("x")));
        assertThrows(IllegalArgumentException.class, () -> store.save("latest", files("x")));
        assertThrows(IllegalArgumentException.class, () -> new CheckpointStore(tmp, 0));
        Files.writeString(tmp.resolve("latest"), "step-000000001\n", StandardCharsets.UTF_8);
        assertThrows(NoSuchFileException.class, store::latest, "a pointer to a missing checkpoint is an error, not a silent fallback");
    }
}
