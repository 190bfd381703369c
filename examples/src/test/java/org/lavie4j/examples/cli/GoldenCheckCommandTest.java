package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.testing.TestData;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GoldenCheckCommandTest extends CliTestBase {
    @Test
    void malformedDirectoryExits2(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(dir.resolve("case.json"), "{\"kind\": \"layer_inflated_conv\", \"tolerance\": "
                + "{\"default\": {\"rtol\": 1e-4, \"atol\": 1e-5}}}");
        assertEquals(2, run("golden-check", dir.toString()), err.toString());
        assertTrue(err.toString().contains("no io.safetensors"), err.toString());

        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertEquals(2, run("golden-check", empty.toString()));
        assertTrue(err.toString().contains("no case.json"), err.toString());
    }

    @Test
    void unknownKindExits2(@TempDir Path tmp) throws Exception {
        Path src = TestData.goldenCase("layer_inflated_conv");
        Path dir = Files.createDirectories(tmp.resolve("weird"));
        Files.copy(src.resolve("io.safetensors"), dir.resolve("io.safetensors"));
        Files.writeString(dir.resolve("case.json"),
                Files.readString(src.resolve("case.json")).replace("\"kind\": \"layer_inflated_conv\"", "\"kind\": \"layer_warp_drive\""));
        assertEquals(2, run("golden-check", dir.toString()), out + "\n" + err);
        assertTrue(err.toString().contains("unknown kind 'layer_warp_drive'"), err.toString());
    }

    @Test
    void unimplementedKindExits1AndSaysSo() {
        Assumptions.assumeFalse(GoldenRunner.discover().implementedKinds().contains("unet_vsr"), "unet_vsr is implemented now");
        Path vsr = TestData.goldenCase("unet_vsr");
        assertEquals(1, run("golden-check", vsr.toString()), out + "\n" + err);
        String text = out.toString();
        assertTrue(text.contains("unet_vsr") && text.contains("sample") && text.contains("NOT_IMPLEMENTED"), text);
        assertFalse(text.contains("PASS"), text);
        assertTrue(text.contains("0 of 1 cases passed; outputs: 0 passed, 0 failed, 1 not implemented"), text);
    }

    @Test
    void parentDirectoryRunsEveryCaseInside(@TempDir Path tmp) throws Exception {
        Path parent = Files.createDirectories(tmp.resolve("set"));
        for (String name : new String[]{"unet_vsr", "tokenizer"}) {
            Path src = TestData.goldenCase(name);
            Path dst = Files.createDirectories(parent.resolve(name));
            Files.copy(src.resolve("case.json"), dst.resolve("case.json"));
            Files.copy(src.resolve("io.safetensors"), dst.resolve("io.safetensors"));
        }
        Files.createDirectories(parent.resolve("not-a-case"));
        int exit = run("golden-check", parent.toString());
        assertTrue(exit == 0 || exit == 1, "exit " + exit + ": " + err);
        assertTrue(err.toString().isEmpty(), err.toString());
        String text = out.toString();
        assertTrue(text.contains("tokenizer") && text.contains("input_ids") && text.contains("unet_vsr"), text);
        assertTrue(text.contains("of 2 cases passed"), text);
    }

    @Test
    void versionAndHelp() {
        assertEquals(0, run("--version"));
        assertTrue(out.toString().startsWith("lavie4j "), out.toString());
        assertEquals(0, run("golden-check", "--help"));
        assertTrue(out.toString().contains("Exit codes"), out.toString());
    }
}
