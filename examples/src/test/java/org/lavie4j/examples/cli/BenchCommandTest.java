package org.lavie4j.examples.cli;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lavie bench unet}: runs, reports every run and the median last; bad options exit 2. */
class BenchCommandTest extends CliTestBase {
    @Test void timesTheTinyUNetAndPrintsTheMedianLast() {
        assertEquals(0, run("bench", "unet", "--model", "tiny", "--batch", "1", "--frames", "2", "--height", "8", "--width", "8",
                "--runs", "3", "--warmup", "1"), err.toString());
        List<String> lines = out.toString().lines().toList();
        assertTrue(lines.get(1).contains("tiny UNet, input (1, 4, 2, 8, 8)"), lines.toString());
        double[] runs = lines.stream().filter(l -> l.startsWith("run ")).mapToDouble(l -> Double.parseDouble(l.replaceAll(".*: ([0-9.]+) s", "$1"))).toArray();
        assertEquals(3, runs.length, out.toString());
        assertEquals(1, lines.stream().filter(l -> l.startsWith("warm-up ")).count());
        Matcher m = Pattern.compile("median_s=([0-9.]+)").matcher(lines.get(lines.size() - 1));
        assertTrue(m.matches(), "last line: " + lines.get(lines.size() - 1));
        assertEquals(BenchCommand.Unet.median(runs), Double.parseDouble(m.group(1)), 6e-4, "the runs are printed to 1 ms");
        assertEquals(2.0, BenchCommand.Unet.median(new double[]{3, 1, 2}));
        assertEquals(2.5, BenchCommand.Unet.median(new double[]{4, 1, 2, 3}));
    }

    @Test void badOptionsExitTwo() {
        String[][] cases = {
                {"--model must be base or tiny", "--model", "huge"},
                {"must be >= 1", "--runs", "0"},
                {"--warmup must be >= 0", "--warmup", "-1"},
                {"divisible by 8", "--height", "12"},
        };
        for (String[] c : cases) {
            err.getBuffer().setLength(0);
            String[] args = new String[c.length + 1];
            args[0] = "bench";
            args[1] = "unet";
            System.arraycopy(c, 1, args, 2, c.length - 1);
            assertEquals(2, run(args), String.join(" ", args));
            assertTrue(err.toString().contains(c[0]), c[0] + " <- " + err);
        }
    }
}
