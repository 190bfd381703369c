package org.lavie4j.examples.cli;

import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.SafeTensors;
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
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code lavie convert IN OUT [--half]}: writes the state dict of a PyTorch zip checkpoint (or the tensors of a
 * safetensors file or a diffusers part folder) to a safetensors file, atomically.
 */
@Command(name = "convert",
        mixinStandardHelpOptions = true,
        description = {
                "Convert a checkpoint to safetensors (written atomically: nothing is left under OUT on failure).",
                "IN is a PyTorch zip checkpoint (.pt/.bin/.ckpt; its state dict: 'ema', 'state_dict', 'model' or the "
                        + "root), a .safetensors file, or a diffusers part folder."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {
                "0:written",
                "2:bad input, OUT exists (without --force), or the write failed"})
public final class ConvertCommand implements Callable<Integer> {
    static final int OK = 0;
    static final int BAD_INPUT = 2;

    @Parameters(index = "0", paramLabel = "IN", description = "Checkpoint to read.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The .safetensors file to write.")
    Path out;

    @Option(names = "--half", description = "Store floating-point tensors as F16 (others keep their dtype).")
    boolean half;

    @Option(names = "--force", description = "Replace OUT when it exists.")
    boolean force;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            if (!Files.exists(in)) {
                err.println("convert: " + in + ": no such file or folder");
                return BAD_INPUT;
            }
            if (same(in, out)) {
                err.println("convert: " + out + ": OUT is the input file; choose another name");
                return BAD_INPUT;
            }
            if (Files.isDirectory(out)) {
                err.println("convert: " + out + ": is a directory; OUT must be a .safetensors file");
                return BAD_INPUT;
            }
            if (Files.exists(out) && !force) {
                err.println("convert: " + out + ": already exists (use --force to replace it)");
                return BAD_INPUT;
            }
            long t0 = System.nanoTime();
            TensorFile.Format format = TensorFile.detect(in);
            String from;
            TorchCheckpoint ckpt = null;
            TensorFile tf = null;
            try {
                if (format == TensorFile.Format.PYTORCH_ZIP) {
                    ckpt = TorchCheckpoint.read(in);
                    String key = ckpt.stateDictKey();
                    from = "state dict " + (key.isEmpty() ? "at the root" : "'" + key + "'") + " of " + in;
                    tf = ckpt.stateDict();
                } else {
                    tf = TensorFile.open(in);
                    from = tf.path().equals(in) ? in.toString() : in + " (" + tf.path() + ")";
                }
                if (same(tf.path(), out)) { // a part folder whose weight file is OUT
                    err.println("convert: " + out + ": OUT is the input file " + tf.path() + "; choose another name");
                    return BAD_INPUT;
                }
                Map<String, String> metadata = new LinkedHashMap<>();
                metadata.put("format", "pt");
                metadata.put("source", in.getFileName() == null ? in.toString() : in.getFileName().toString());
                metadata.put("converted_by", "lavie4j");
                SafeTensors.write(out, tf.asMap(), metadata, half ? DType.F16 : null);

                long params = 0, converted = 0;
                for (TensorSource s : tf.tensors()) {
                    params += s.numel();
                    if (half && s.dtype().isFloatingPoint() && s.dtype() != DType.F16) converted++;
                }
                long size = Files.size(out);
                double secs = (System.nanoTime() - t0) / 1e9;
                stdout.printf(Locale.ROOT, "read %s%n", from);
                stdout.printf(Locale.ROOT, "wrote %s: %d tensors, %,d parameters, %,d bytes (%s)%s in %.2f s%n",
                        out, tf.size(), params, size, InspectCommand.humanBytes(size),
                        half ? ", " + converted + " converted to F16" : "", secs);
                stdout.flush();
                return OK;
            } finally {
                if (tf != null) tf.close();
                if (ckpt != null) ckpt.close();
            }
        } catch (IOException | RuntimeException e) {
            stdout.flush();
            String m = InspectCommand.message(in, e);
            err.println("convert: " + m + (m.contains(out.toString()) ? "" : " (nothing written to " + out + ")"));
            err.flush();
            return BAD_INPUT;
        }
    }

    /** Whether the two paths name the same file (by path, or by identity when both exist). */
    private static boolean same(Path a, Path b) {
        if (a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize())) return true;
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }
}
