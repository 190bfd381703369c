package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TorchCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InspectCommandTest extends CliTestBase {
    /** The lines listing a tensor: those starting with a key of {@code tf}. */
    private static long tensorLines(String text, TensorFile tf) {
        return text.lines().filter(l -> {
            String first = l.strip().split("\\s+")[0];
            return tf.contains(first);
        }).count();
    }

    @Test
    void listsEveryTensorOfTheTorchCheckpoint() throws Exception {
        Path pt = golden("weights.pt");
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(pt); TensorFile tf = ckpt.stateDict()) {
            String key = ckpt.stateDictKey();
            assertEquals(0, run("inspect", pt.toString()), err.toString());
            String text = out.toString();
            assertTrue(err.toString().isEmpty(), err.toString());
            assertEquals(tf.size(), tensorLines(text, tf), text);
            assertTrue(text.contains(tf.size() + " tensors,"), text);
            assertTrue(text.contains(key.isEmpty() ? "at the root" : "under '" + key + "'"), text);
            long params = tf.tensors().stream().mapToLong(s -> s.numel()).sum();
            assertTrue(text.contains(String.format(java.util.Locale.ROOT, "%,d parameters", params)), text);
            String k0 = tf.keys().iterator().next();
            String line = text.lines().filter(l -> l.startsWith(k0 + " ")).findFirst().orElseThrow();
            assertTrue(line.contains(tf.get(k0).dtype().safetensorsName()), line);
            assertTrue(line.contains(InspectCommand.shape(tf.get(k0).shape())), line);
        }
    }

    @Test
    void listsEveryTensorOfTheSafetensorsFile() throws Exception {
        Path st = golden("weights.safetensors");
        try (TensorFile tf = TensorFile.open(st)) {
            assertEquals(0, run("inspect", st.toString()), err.toString());
            String text = out.toString();
            assertEquals(tf.size(), tensorLines(text, tf), text);
            long bytes = tf.tensors().stream().mapToLong(s -> s.numel() * s.dtype().bytes()).sum();
            assertTrue(text.contains(tf.size() + " tensors,"), text);
            assertTrue(text.contains(String.format(java.util.Locale.ROOT, "%,d bytes", bytes)), text);
        }
    }

    @Test
    void filterAndSummary() throws Exception {
        Path st = golden("weights.safetensors");
        try (TensorFile tf = TensorFile.open(st)) {
            String sub = "weight";
            long matching = tf.keys().stream().filter(k -> k.contains(sub)).count();
            assertEquals(0, run("inspect", "--filter", sub, st.toString()), err.toString());
            String text = out.toString();
            assertEquals(matching, tensorLines(text, tf), text);
            assertTrue(text.contains(matching + " tensors,") && text.contains("of " + tf.size() + ")"), text);

            out.getBuffer().setLength(0);
            assertEquals(0, run("inspect", "--summary", st.toString()), err.toString());
            text = out.toString();
            assertEquals(0, tensorLines(text, tf), text);
            assertTrue(text.contains(tf.size() + " tensors,"), text);
        }
    }

    @Test
    void diffusersPartAndPipelineFolders(@TempDir Path tmp) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("pipe"));
        Files.writeString(root.resolve("model_index.json"), "{\"_class_name\": \"LaViePipeline\", "
                + "\"unet\": [\"diffusers\", \"UNet3DConditionModel\"], "
                + "\"scheduler\": [\"diffusers\", \"DDPMScheduler\"]}");
        Path unet = Files.createDirectories(root.resolve("unet"));
        Files.writeString(unet.resolve("config.json"), "{}");
        Files.copy(golden("weights.safetensors"), unet.resolve("diffusion_pytorch_model.safetensors"));
        Path sched = Files.createDirectories(root.resolve("scheduler"));
        Files.writeString(sched.resolve("scheduler_config.json"), "{}");

        try (TensorFile tf = TensorFile.open(golden("weights.safetensors"))) {
            assertEquals(0, run("inspect", unet.toString()), err.toString());
            assertEquals(tf.size(), tensorLines(out.toString(), tf), out.toString());

            out.getBuffer().setLength(0);
            assertEquals(0, run("inspect", root.toString()), err.toString());
            String text = out.toString();
            assertEquals(tf.size(), tensorLines(text, tf), text);
            assertTrue(text.contains("== unet (UNet3DConditionModel)"), text);
            assertTrue(text.contains("== scheduler (DDPMScheduler): no weights"), text);
            assertTrue(text.contains("total: " + tf.size() + " tensors,"), text);
        }
    }

    @Test
    void missingAndCorruptFilesExit2WithoutStackTrace(@TempDir Path tmp) throws Exception {
        Path missing = tmp.resolve("nope.safetensors");
        assertEquals(2, run("inspect", missing.toString()));
        assertTrue(err.toString().contains(missing.toString()), err.toString());

        byte[] pt = Files.readAllBytes(golden("weights.pt"));
        Path badPt = tmp.resolve("bad.pt");
        Files.write(badPt, Arrays.copyOf(pt, pt.length / 2));
        err.getBuffer().setLength(0);
        assertEquals(2, run("inspect", badPt.toString()));
        assertTrue(err.toString().contains(badPt.toString()), err.toString());

        byte[] st = Files.readAllBytes(golden("weights.safetensors"));
        Path badSt = tmp.resolve("bad.safetensors");
        Files.write(badSt, Arrays.copyOf(st, st.length - 7));
        err.getBuffer().setLength(0);
        assertEquals(2, run("inspect", badSt.toString()));
        assertTrue(err.toString().contains(badSt.toString()), err.toString());

        Path junk = tmp.resolve("junk.bin");
        Files.writeString(junk, "hello, not a checkpoint");
        err.getBuffer().setLength(0);
        assertEquals(2, run("inspect", junk.toString()));
        assertTrue(err.toString().contains(junk.toString()), err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());
    }
}
