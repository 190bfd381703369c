package org.lavie4j.core.golden;

import java.nio.file.Path;

/** A golden case directory that does not follow the format of {@code testdata/golden/README.md}. */
public final class MalformedCaseException extends Exception {
    private static final long serialVersionUID = 1L;

    private final Path dir;

    public MalformedCaseException(Path dir, String message) {
        this(dir, message, null);
    }

    public MalformedCaseException(Path dir, String message, Throwable cause) {
        super(dir + ": " + message, cause);
        this.dir = dir;
    }

    /** The case directory (or the file inside it) that is malformed. */
    public Path dir() { return dir; }
}
