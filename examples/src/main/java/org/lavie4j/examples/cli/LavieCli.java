package org.lavie4j.examples.cli;

import org.lavie4j.core.Lavie4j;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * The {@code lavie} command line. Started by the {@code ./lavie} launcher at the repository root, or
 * {@code java -jar examples/target/lavie.jar}.
 */
@Command(name = "lavie",
        mixinStandardHelpOptions = true,
        versionProvider = LavieCli.Version.class,
        description = "LaVie text-to-video diffusion in pure Java (lavie4j).",
        subcommands = {
                GoldenCheckCommand.class,
                // --- subcommands: add new ones here (InspectCommand.class, ConvertCommand.class, ...) ---
                InspectCommand.class,
                ConvertCommand.class,
                SampleCommand.class,
                InterpolateCommand.class,
                UpscaleCommand.class,
                CascadeCommand.class,
                InitModelCommand.class,
                SyntheticDataCommand.class,
                TrainCommand.class,
                TrainVaeCommand.class,
                TrainTextCommand.class,
                EvalShapesCommand.class,
                BenchCommand.class,
                CommandLine.HelpCommand.class,
        })
public final class LavieCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The command line with its subcommands, as {@link #main} runs it (tests use it the same way). */
    public static CommandLine commandLine() {
        return new CommandLine(new LavieCli());
    }

    public static void main(String[] args) {
        Lavie4j.setup();
        System.exit(commandLine().execute(args));
    }

    /** {@code --version}: the project version Maven wrote into {@code version.properties}. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            Properties p = new Properties();
            try (InputStream in = LavieCli.class.getResourceAsStream("version.properties")) {
                if (in != null) p.load(in);
            } catch (IOException ignored) {
                // fall through to "unknown"
            }
            return new String[]{"lavie4j " + p.getProperty("version", "unknown"),
                    "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")"};
        }
    }
}
