package org.lavie4j.examples.cli;

import org.lavie4j.nn.pipeline.TextToVideoModel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The default model of {@code lavie sample}: a lavie4j model folder shipped inside the CLI jar under
 * {@value #RESOURCE} (see {@code README.md} there for what it is and how it was made). It is copied to a temporary
 * folder, which is deleted when the JVM exits, and loaded from there like any model folder.
 */
final class EmbeddedModel {
    /** Classpath folder of the embedded model. */
    static final String RESOURCE = "/org/lavie4j/examples/model/";

    private EmbeddedModel() {}

    /** True when the jar carries the model (it always should; a build without resources would not). */
    static boolean present() {
        return EmbeddedModel.class.getResource(RESOURCE + TextToVideoModel.FILES.get(0)) != null;
    }

    /** Loads the embedded model. */
    static TextToVideoModel load() throws IOException {
        Path dir = Files.createTempDirectory("lavie4j-default-model");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
        try {
            for (String file : TextToVideoModel.FILES) {
                try (InputStream in = EmbeddedModel.class.getResourceAsStream(RESOURCE + file)) {
                    if (in == null) throw new NoSuchFileException(RESOURCE + file, null, "the embedded default model is incomplete: missing resource");
                    Path target = dir.resolve(file);
                    Files.createDirectories(target.getParent());
                    Files.copy(in, target);
                }
            }
            return TextToVideoModel.load(dir);
        } catch (IOException | RuntimeException e) {
            deleteTree(dir);
            throw e;
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary folder: best effort
        }
    }
}
