package org.lavie4j.examples.cli;

import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.Comparison;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.core.golden.UnknownKindException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code lavie golden-check DIR...}: runs golden cases on the current code and prints one line per output.
 * Exit 0 when every output passes, 1 when any fails or is not implemented, 2 for an unknown kind or a malformed
 * directory.
 */
@Command(name = "golden-check",
        mixinStandardHelpOptions = true,
        description = {
                "Run golden cases (directories with case.json + io.safetensors, see testdata/golden/README.md) on the "
                        + "current code and compare every output with the case's tolerance.",
                "A DIR without case.json runs each subdirectory that has one."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {
                "0:every output passed",
                "1:an output failed or its kind is not implemented yet",
                "2:unknown kind or malformed case directory"})
public final class GoldenCheckCommand implements Callable<Integer> {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int BAD_INPUT = 2;
    private static final int MAX_OUTPUT_WIDTH = 48;

    @Parameters(arity = "1..*", paramLabel = "DIR", description = "Case directories, or folders of case directories.")
    List<Path> dirs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int exit = OK;

        List<Path> caseDirs = new ArrayList<>();
        for (Path d : dirs) {
            if (!Files.isDirectory(d)) {
                err.println("golden-check: " + d + ": not a directory");
                exit = BAD_INPUT;
            } else if (GoldenCase.isCaseDir(d)) {
                caseDirs.add(d);
            } else {
                List<Path> sub = subCases(d);
                if (sub.isEmpty()) {
                    err.println("golden-check: " + d + ": malformed case directory: no " + GoldenCase.CASE_JSON
                            + " here or in its subdirectories");
                    exit = BAD_INPUT;
                }
                caseDirs.addAll(sub);
            }
        }

        GoldenRunner runner = GoldenRunner.discover();
        List<GoldenCase> cases = new ArrayList<>();
        try {
            for (Path d : caseDirs) {
                try {
                    GoldenCase c = GoldenCase.open(d);
                    try {
                        runner.checkKind(c);
                        cases.add(c);
                    } catch (UnknownKindException e) {
                        c.close();
                        err.println("golden-check: " + d + ": " + e.getMessage());
                        exit = BAD_INPUT;
                    }
                } catch (MalformedCaseException e) {
                    err.println("golden-check: malformed case directory: " + e.getMessage());
                    exit = BAD_INPUT;
                }
            }
            if (cases.isEmpty()) {
                err.println("golden-check: no case to run");
                return BAD_INPUT;
            }
            return Math.max(exit, runAll(runner, cases, out, err));
        } finally {
            for (GoldenCase c : cases) c.close();
        }
    }

    private int runAll(GoldenRunner runner, List<GoldenCase> cases, PrintWriter out, PrintWriter err) {
        // Column widths from what the cases declare, so lines can be printed as each case finishes.
        int wCase = "case".length(), wOut = "output".length(), wRule = "rule".length();
        for (GoldenCase c : cases) {
            wCase = Math.max(wCase, c.name().length());
            for (String o : c.outputs().keySet()) {
                wOut = Math.max(wOut, o.length());
                wRule = Math.max(wRule, c.ruleFor(o).describe().length());
            }
        }
        wOut = Math.min(wOut, MAX_OUTPUT_WIDTH); // longer names (train_step's grad.<key>) push their line's tail right
        wRule = Math.min(wRule, MAX_OUTPUT_WIDTH);
        String fmt = "%-" + wCase + "s  %-" + wOut + "s  %11s  %11s  %-" + wRule + "s  %s%n";
        out.printf(Locale.ROOT, fmt, "case", "output", "max_abs_err", "max_rel_err", "rule", "STATUS");
        out.flush();

        int passed = 0, failed = 0, notImplemented = 0, casesPassed = 0;
        long t0 = System.nanoTime();
        for (GoldenCase c : cases) {
            CaseResult r;
            try {
                r = runner.run(c);
            } catch (UnknownKindException e) { // checked before; kept for safety
                err.println("golden-check: " + c.dir() + ": " + e.getMessage());
                return BAD_INPUT;
            }
            for (Comparison cmp : r.outputs()) {
                String detail = cmp.status() == Comparison.Status.FAIL && r.message() == null && cmp.message() != null
                        ? "  " + cmp.message() : "";
                out.printf(Locale.ROOT, fmt, c.name(), cmp.output(), num(cmp.maxAbsErr()), num(cmp.maxRelErr()),
                        cmp.rule(), cmp.status() + detail);
                switch (cmp.status()) {
                    case PASS -> passed++;
                    case FAIL -> failed++;
                    case NOT_IMPLEMENTED -> notImplemented++;
                }
            }
            if (r.status() == Comparison.Status.FAIL && r.message() != null) {
                out.println("  " + c.name() + ": " + r.message());
            }
            if (r.passed()) casesPassed++;
            out.flush();
        }
        int outputs = passed + failed + notImplemented;
        out.printf(Locale.ROOT, "%d of %d cases passed; outputs: %d passed, %d failed, %d not implemented (%.1f s)%n",
                casesPassed, cases.size(), passed, failed, notImplemented, (System.nanoTime() - t0) / 1e9);
        out.flush();
        return passed == outputs ? OK : FAILED;
    }

    private static List<Path> subCases(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory).filter(GoldenCase::isCaseDir).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3e", v);
    }
}
