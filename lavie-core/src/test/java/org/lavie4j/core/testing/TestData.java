package org.lavie4j.core.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Locates the repository's {@code testdata/} folder for tests of every module (shipped in lavie-core's test-jar).
 *
 * <p>Order: the system property {@code lavie4j.testdata} (the parent pom's surefire configuration sets it to
 * {@code ${maven.multiModuleProjectDirectory}/testdata}), then a {@code testdata/golden} folder found by walking up
 * from {@code user.dir} (IDE runs).
 */
public final class TestData {
    public static final String PROPERTY = "lavie4j.testdata";

    private static volatile Path root;

    private TestData() {}

    /** The {@code testdata} folder; throws with what was tried when it cannot be found. */
    public static Path root() {
        Path r = root;
        if (r == null) {
            r = locate();
            root = r;
        }
        return r;
    }

    /** {@code testdata/golden}. */
    public static Path golden() { return root().resolve("golden"); }

    /** {@code testdata/golden/<name>}, which must exist. */
    public static Path goldenCase(String name) {
        Path p = golden().resolve(name);
        if (!Files.isDirectory(p)) throw new IllegalStateException("no golden case directory " + p);
        return p;
    }

    /** {@code testdata/reference} (tokenizer files, full-size manifests and configs). */
    public static Path reference() { return root().resolve("reference"); }

    private static Path locate() {
        String prop = System.getProperty(PROPERTY);
        if (prop != null && !prop.isBlank()) {
            Path p = Paths.get(prop).toAbsolutePath().normalize();
            if (Files.isDirectory(p.resolve("golden"))) return p;
        }
        Path start = Paths.get(System.getProperty("user.dir")).toAbsolutePath().normalize();
        for (Path d = start; d != null; d = d.getParent()) {
            Path candidate = d.resolve("testdata");
            if (Files.isDirectory(candidate.resolve("golden"))) return candidate;
        }
        throw new IllegalStateException("cannot find testdata/golden: system property " + PROPERTY + "="
                + (prop == null ? "(unset)" : prop) + ", and no testdata/golden above " + start);
    }
}
