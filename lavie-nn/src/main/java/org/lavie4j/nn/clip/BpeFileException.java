package org.lavie4j.nn.clip;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A tokenizer file ({@code vocab.json}, {@code merges.txt}, {@code special_tokens_map.json},
 * {@code tokenizer_config.json}) that is missing, unreadable or not what a byte-level BPE tokenizer needs. The message
 * names the file and, where it is known, the 1-based line.
 */
public final class BpeFileException extends IOException {
    private final String file;
    private final int line;

    /** @param line 1-based line of the problem, or 0 when not tied to a line */
    public BpeFileException(String file, int line, String message) {
        this(file, line, message, null);
    }

    public BpeFileException(String file, int line, String message, Throwable cause) {
        super(file + (line > 0 ? ":" + line : "") + ": " + message, cause);
        this.file = file;
        this.line = line;
    }

    public BpeFileException(Path file, int line, String message, Throwable cause) {
        this(file.toString(), line, message, cause);
    }

    /** The file the problem is in (a path, or a resource name for the bundled files). */
    public String file() { return file; }

    /** 1-based line of the problem, or 0 when not tied to a line. */
    public int line() { return line; }
}
