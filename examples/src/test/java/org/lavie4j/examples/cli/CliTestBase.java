package org.lavie4j.examples.cli;

import org.lavie4j.core.testing.TestData;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

/** Runs the {@code lavie} command line in-process and captures what it prints. */
abstract class CliTestBase {
    protected final StringWriter out = new StringWriter();
    protected final StringWriter err = new StringWriter();

    /** Runs {@code lavie ARGS...}; returns the exit code. */
    protected int run(String... args) {
        CommandLine cli = LavieCli.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    /** A file of the {@code unet_base} golden case (its weights exist as .pt and .safetensors). */
    protected static Path golden(String file) {
        return TestData.goldenCase("unet_base").resolve(file);
    }
}
