package org.lavie4j.core;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The native setup's choices from CPU flags and the allocator read off a process's memory map. */
class Lavie4jTest {
    @Test
    void nativeBuildAndOpenBlasCoreFollowTheCpuFlags() {
        Set<String> avx512 = Set.of("fma", "avx2", "avx512f", "avx512bw", "avx512vl");
        Set<String> avx2 = Set.of("fma", "avx2");
        assertEquals("-onednn-avx512", Lavie4j.platformExtension(avx512));
        assertEquals("-onednn-avx2", Lavie4j.platformExtension(avx2));
        assertEquals("", Lavie4j.platformExtension(Set.of("sse4_2")));
        assertEquals("-onednn-avx2", Lavie4j.platformExtension(Set.of("fma", "avx2", "avx512f")),
                "AVX-512 without BW/VL is not enough for the AVX-512 build");
        assertEquals("SkylakeX", Lavie4j.openBlasCoreType(avx512));
        assertEquals("Haswell", Lavie4j.openBlasCoreType(avx2));
        assertNull(Lavie4j.openBlasCoreType(Set.of("sse4_2")));
    }

    @Test
    void allocatorIsNamedByTheMappedLibrary() {
        String libc = "7f0000000000-7f0000028000 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6";
        String tcmalloc = "7f1000000000-7f1000010000 r-xp 00000000 08:01 456 "
                + "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10";
        String jemalloc = "7f2000000000-7f2000010000 r-xp 00000000 08:01 789 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
        String anonymous = "7f3000000000-7f3000100000 rw-p 00000000 00:00 0 ";
        String heap = "55d000000000-55d000100000 rw-p 00000000 00:00 0                          [heap]";
        String path = "7f4000000000-7f4000010000 r--p 00000000 08:01 1 /home/tcmalloc-notes/libfoo.so";
        assertEquals("glibc", Lavie4j.allocatorIn(List.of(libc, anonymous, heap, path)),
                "only the mapped file's own name counts, not a folder on its path");
        assertEquals("tcmalloc", Lavie4j.allocatorIn(List.of(libc, tcmalloc, anonymous)));
        assertEquals("jemalloc", Lavie4j.allocatorIn(List.of(jemalloc, libc)));
        assertEquals("glibc", Lavie4j.allocatorIn(List.of()));
    }

    @Test
    void thisProcessReportsAnAllocator() {
        String name = Lavie4j.nativeAllocator();
        assertTrue(Set.of("glibc", "tcmalloc", "jemalloc", "mimalloc", "unknown").contains(name), name);
    }
}
