package org.lavie4j.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Everything that did not fit when a state dict was loaded into a module, all at once: keys the module expects
 * but the state dict lacks, keys the state dict has but the module does not, shape mismatches (with both shapes),
 * and aliases of one shared tensor whose stored copies disagree.
 */
public final class LoadReport {
    /** A key present on both sides with different shapes. */
    public record ShapeMismatch(String key, long[] expected, long[] found) {
        @Override
        public String toString() {
            return key + ": module expects " + Arrays.toString(expected) + ", checkpoint has " + Arrays.toString(found);
        }
    }

    /** Keys that alias one shared tensor but whose stored values differ (max abs difference). */
    public record AliasConflict(String key, String firstKey, double maxAbsDiff) {
        @Override
        public String toString() {
            return key + " disagrees with its alias " + firstKey + " (max abs diff " + maxAbsDiff + ")";
        }
    }

    private final String origin;
    private final List<String> missing = new ArrayList<>();
    private final List<String> unexpected = new ArrayList<>();
    private final List<ShapeMismatch> shapeMismatches = new ArrayList<>();
    private final List<AliasConflict> aliasConflicts = new ArrayList<>();
    private int loaded;

    public LoadReport(String origin) { this.origin = origin; }

    void missing(String key) { missing.add(key); }

    void unexpected(String key) { unexpected.add(key); }

    void shapeMismatch(String key, long[] expected, long[] found) { shapeMismatches.add(new ShapeMismatch(key, expected, found)); }

    void aliasConflict(String key, String first, double diff) { aliasConflicts.add(new AliasConflict(key, first, diff)); }

    void loaded() { loaded++; }

    public List<String> missing() { return Collections.unmodifiableList(missing); }

    public List<String> unexpected() { return Collections.unmodifiableList(unexpected); }

    public List<ShapeMismatch> shapeMismatches() { return Collections.unmodifiableList(shapeMismatches); }

    public List<AliasConflict> aliasConflicts() { return Collections.unmodifiableList(aliasConflicts); }

    /** Number of tensors loaded. */
    public int loadedCount() { return loaded; }

    public boolean isClean() {
        return missing.isEmpty() && unexpected.isEmpty() && shapeMismatches.isEmpty() && aliasConflicts.isEmpty();
    }

    /** Throws a {@link CheckpointMismatchException} listing every problem unless the report is clean. */
    public LoadReport throwIfNotClean() {
        if (!isClean()) throw new CheckpointMismatchException(this);
        return this;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        sb.append("loading ").append(origin).append(": ").append(loaded).append(" tensors loaded");
        section(sb, "missing keys", missing);
        section(sb, "unexpected keys", unexpected);
        section(sb, "shape mismatches", shapeMismatches);
        section(sb, "alias conflicts", aliasConflicts);
        return sb.toString();
    }

    private static void section(StringBuilder sb, String title, List<?> items) {
        if (items.isEmpty()) return;
        sb.append("\n  ").append(items.size()).append(' ').append(title).append(':');
        int shown = 0;
        for (Object o : items) {
            if (shown++ == 100) {
                sb.append("\n    ... and ").append(items.size() - 100).append(" more");
                break;
            }
            sb.append("\n    ").append(o);
        }
    }

    /** Thrown by strict loading; the message lists all problems. */
    public static final class CheckpointMismatchException extends IllegalArgumentException {
        private final transient LoadReport report;

        public CheckpointMismatchException(LoadReport report) {
            super(report.toString());
            this.report = report;
        }

        public LoadReport report() { return report; }
    }
}
