package org.lavie4j.examples.cli;

import org.lavie4j.core.io.DiffusersFolder;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TensorSource;
import org.lavie4j.core.io.TorchCheckpoint;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code lavie inspect FILE}: lists the tensors of a checkpoint (key, dtype, shape) and a summary (tensor, parameter
 * and byte counts). FILE is a safetensors file, a PyTorch zip checkpoint ({@code .pt/.bin/.ckpt}, its state dict as
 * {@link TorchCheckpoint#stateDict()} chooses), a diffusers part folder, or a diffusers pipeline folder (every part).
 */
@Command(name = "inspect",
        mixinStandardHelpOptions = true,
        description = {
                "List the tensors of a checkpoint: key, dtype and shape, then the tensor, parameter and byte counts.",
                "FILE is a .safetensors file, a PyTorch zip checkpoint (.pt/.bin/.ckpt; its state dict, e.g. under "
                        + "'ema'), a diffusers part folder, or a diffusers pipeline folder (model_index.json: every part)."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {
                "0:listed",
                "2:missing, unreadable or corrupt file"})
public final class InspectCommand implements Callable<Integer> {
    static final int OK = 0;
    static final int BAD_INPUT = 2;

    @Parameters(index = "0", paramLabel = "FILE", description = "Checkpoint file or diffusers folder.")
    Path file;

    @Option(names = "--filter", paramLabel = "SUBSTRING", description = "Only tensors whose key contains SUBSTRING.")
    String filter;

    @Option(names = "--summary", description = "Print the counts only, not one line per tensor.")
    boolean summaryOnly;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Running totals. */
    private static final class Totals {
        long tensors, params, bytes;

        void add(Totals o) {
            tensors += o.tensors;
            params += o.params;
            bytes += o.bytes;
        }
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            if (!Files.exists(file)) {
                err.println("inspect: " + file + ": no such file or folder");
                return BAD_INPUT;
            }
            TensorFile.Format format = TensorFile.detect(file);
            if (format == TensorFile.Format.DIRECTORY
                    && Files.isRegularFile(file.resolve(DiffusersFolder.MODEL_INDEX))
                    && DiffusersFolder.findWeights(file) == null) {
                inspectPipeline(out);
            } else if (format == TensorFile.Format.PYTORCH_ZIP) {
                try (TorchCheckpoint ckpt = TorchCheckpoint.read(file)) {
                    String key = ckpt.stateDictKey();
                    out.println(file + ": PyTorch zip checkpoint, state dict "
                            + (key.isEmpty() ? "at the root" : "under '" + key + "'")
                            + " (" + ckpt.allTensors().size() + " tensors in the file)");
                    try (TensorFile tf = ckpt.stateDict()) {
                        list(tf, "", out);
                    }
                }
            } else {
                try (TensorFile tf = TensorFile.open(file)) {
                    out.println(file + ": " + describe(format, tf));
                    if (!tf.metadata().isEmpty()) out.println("metadata: " + tf.metadata());
                    list(tf, "", out);
                }
            }
            out.flush();
            return OK;
        } catch (IOException | RuntimeException e) {
            out.flush();
            err.println("inspect: " + message(file, e));
            err.flush();
            return BAD_INPUT;
        }
    }

    private void inspectPipeline(PrintWriter out) throws IOException {
        DiffusersFolder folder = DiffusersFolder.open(file);
        out.println(file + ": diffusers pipeline folder, parts " + folder.parts());
        Totals all = new Totals();
        for (String part : folder.parts()) {
            String cls = folder.partClass(part);
            Path dir = file.resolve(part);
            out.println();
            if (!Files.isDirectory(dir)) {
                out.println("== " + part + " (" + cls + "): missing folder " + dir);
                continue;
            }
            Path weights = DiffusersFolder.findWeights(dir);
            if (weights == null) {
                out.println("== " + part + " (" + cls + "): no weights");
                continue;
            }
            out.println("== " + part + " (" + cls + "): " + dir.relativize(weights));
            try (TensorFile tf = folder.weights(part)) {
                all.add(list(tf, "  ", out));
            }
        }
        out.println();
        out.println("total: " + summary(all));
    }

    private static String describe(TensorFile.Format format, TensorFile tf) {
        return switch (format) {
            case SAFETENSORS -> "safetensors";
            case DIRECTORY -> "diffusers part folder, weights " + tf.path();
            default -> format.name().toLowerCase(Locale.ROOT);
        };
    }

    /** Prints the (filtered) tensors of {@code tf} and their summary; returns the totals. */
    private Totals list(TensorFile tf, String indent, PrintWriter out) {
        List<TensorSource> shown = new ArrayList<>();
        for (Map.Entry<String, TensorSource> e : tf.asMap().entrySet()) {
            if (filter == null || e.getKey().contains(filter)) shown.add(e.getValue());
        }
        Totals t = new Totals();
        int wKey = 3, wType = 5;
        for (TensorSource s : shown) {
            wKey = Math.max(wKey, s.key().length());
            wType = Math.max(wType, s.dtype().safetensorsName().length());
        }
        String fmt = indent + "%-" + wKey + "s  %-" + wType + "s  %s%n";
        if (!summaryOnly && !shown.isEmpty()) out.printf(Locale.ROOT, fmt, "key", "dtype", "shape");
        for (TensorSource s : shown) {
            long n = s.numel();
            t.tensors++;
            t.params += n;
            t.bytes += n * s.dtype().bytes();
            if (!summaryOnly) out.printf(Locale.ROOT, fmt, s.key(), s.dtype().safetensorsName(), shape(s.shape()));
        }
        String of = filter == null ? "" : " (matching '" + filter + "', of " + tf.size() + ")";
        out.println(indent + summary(t) + of);
        return t;
    }

    static String summary(Totals t) {
        return String.format(Locale.ROOT, "%d tensors, %,d parameters, %,d bytes (%s)",
                t.tensors, t.params, t.bytes, humanBytes(t.bytes));
    }

    static String shape(long[] shape) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(shape[i]);
        }
        return sb.append(']').toString();
    }

    static String humanBytes(long b) {
        if (b < 1024) return b + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** The exception's message, naming the file when it does not already. */
    static String message(Path file, Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        if (e instanceof java.nio.file.NoSuchFileException && !m.contains(":")) m = m + ": no such file";
        if (e instanceof java.nio.file.AccessDeniedException && !m.contains(":")) m = m + ": permission denied";
        return m.contains(file.toString()) ? m : file + ": " + m;
    }
}
