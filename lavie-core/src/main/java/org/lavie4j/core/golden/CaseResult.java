package org.lavie4j.core.golden;

import java.time.Duration;
import java.util.List;

/**
 * The result of one golden case: one {@link Comparison} per declared output, in case.json order.
 *
 * @param caseName the case directory name
 * @param kind     the case kind
 * @param status   PASS when every output passed, NOT_IMPLEMENTED when no runner exists for the kind, else FAIL
 * @param outputs  per-output results
 * @param message  why the whole case failed (runner exception) or was not run; null otherwise
 * @param elapsed  time spent running and comparing
 */
public record CaseResult(String caseName, String kind, Comparison.Status status, List<Comparison> outputs,
                         String message, Duration elapsed) {
    public CaseResult {
        outputs = List.copyOf(outputs);
    }

    public boolean passed() { return status == Comparison.Status.PASS; }
}
