package org.lavie4j.core.golden;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * The {@code tolerance} block of a golden case and the rule that picks one entry per output
 * (golden/README.md, "Tolerances"):
 * <ul>
 *   <li>for output {@code out.<name>} the <b>first</b> entry of {@code outputs} whose {@code match} fits {@code <name>}
 *       is used (a match ending in {@code *} is a prefix, otherwise the whole name must be equal), else {@code default};</li>
 *   <li>{@code rtol}/{@code atol}: elementwise {@code |a - e| <= atol + rtol * |e|};</li>
 *   <li>{@code exact: true}: bitwise equality for float outputs, integer equality for integer outputs;</li>
 *   <li>{@code max_abs_diff: N}: {@code |a - e| <= N}, integer outputs compared as integers;</li>
 *   <li>integer outputs are always compared as integers, with {@code max_abs_diff 0} unless a rule says otherwise
 *       (an {@code rtol}/{@code atol} rule does not apply to them).</li>
 * </ul>
 */
public final class Tolerance {

    /** One way of comparing an output. */
    public sealed interface Rule permits Close, Exact, MaxAbsDiff {
        /** Short text for reports, e.g. {@code rtol=1e-4 atol=1.3e-5}. */
        String describe();
    }

    /** {@code |a - e| <= atol + rtol * |e|} elementwise. */
    public record Close(double rtol, double atol) implements Rule {
        public Close {
            if (!(rtol >= 0) || !(atol >= 0) || Double.isInfinite(rtol) || Double.isInfinite(atol)) {
                throw new IllegalArgumentException("rtol and atol must be finite and >= 0, got rtol=" + rtol + " atol=" + atol);
            }
        }

        @Override public String describe() { return "rtol=" + num(rtol) + " atol=" + num(atol); }
    }

    /** Bitwise equality for floats, equality for integers. */
    public record Exact() implements Rule {
        @Override public String describe() { return "exact"; }
    }

    /** {@code |a - e| <= n}; for integer outputs computed on integers. */
    public record MaxAbsDiff(long n) implements Rule {
        public MaxAbsDiff {
            if (n < 0) throw new IllegalArgumentException("max_abs_diff must be >= 0, got " + n);
        }

        @Override public String describe() { return "max_abs_diff=" + n; }
    }

    /** One {@code outputs} entry: its {@code match} pattern and its rule. */
    public record Entry(String match, Rule rule) {
        /** True when this entry's pattern fits the output name (without the {@code out.} prefix). */
        public boolean matches(String outputName) {
            if (match.endsWith("*")) return outputName.startsWith(match.substring(0, match.length() - 1));
            return outputName.equals(match);
        }
    }

    /** What {@link #ruleFor} decided for one output: the rule, and the entry text for reports. */
    public record Applied(Rule rule, String source) {
        /** e.g. {@code rtol=1e-4 atol=1.3e-5 (default)} or {@code exact (timesteps_*)}. */
        public String describe() { return rule.describe() + " (" + source + ")"; }
    }

    /** The rule used for integer outputs that fall on an {@code rtol}/{@code atol} rule. */
    public static final MaxAbsDiff INTEGER_DEFAULT = new MaxAbsDiff(0);

    private final Rule defaultRule;
    private final List<Entry> entries;

    public Tolerance(Rule defaultRule, List<Entry> entries) {
        this.defaultRule = java.util.Objects.requireNonNull(defaultRule, "defaultRule");
        this.entries = List.copyOf(entries);
    }

    public Rule defaultRule() { return defaultRule; }

    public List<Entry> entries() { return entries; }

    /**
     * The rule for output {@code out.<name>} ({@code name} given without the prefix): the first matching entry, else
     * the default; for an integer output an {@code rtol}/{@code atol} rule becomes {@code max_abs_diff 0}.
     */
    public Applied ruleFor(String name, boolean integerOutput) {
        Rule rule = defaultRule;
        String source = "default";
        for (Entry e : entries) {
            if (e.matches(name)) {
                rule = e.rule();
                source = e.match();
                break;
            }
        }
        if (integerOutput && rule instanceof Close) {
            return new Applied(INTEGER_DEFAULT, "integer output; " + source + " has rtol/atol");
        }
        return new Applied(rule, source);
    }

    /**
     * Parses a {@code tolerance} block. {@code where} (the case.json path) only serves error messages.
     *
     * @throws MalformedCaseException when the block is missing parts or has values of the wrong type
     */
    public static Tolerance parse(JsonNode block, Path where) throws MalformedCaseException {
        if (block == null || block.isNull() || block.isMissingNode()) {
            throw new MalformedCaseException(where, "no 'tolerance' block");
        }
        if (!block.isObject()) throw new MalformedCaseException(where, "'tolerance' must be an object, got " + block.getNodeType());
        JsonNode def = block.get("default");
        if (def == null || !def.isObject()) {
            throw new MalformedCaseException(where, "'tolerance.default' is missing or not an object");
        }
        Rule defaultRule = parseRule(def, where, "tolerance.default");
        List<Entry> entries = new ArrayList<>();
        JsonNode outputs = block.get("outputs");
        if (outputs != null && !outputs.isNull()) {
            if (!outputs.isArray()) throw new MalformedCaseException(where, "'tolerance.outputs' must be an array");
            for (int i = 0; i < outputs.size(); i++) {
                JsonNode o = outputs.get(i);
                String at = "tolerance.outputs[" + i + "]";
                if (!o.isObject()) throw new MalformedCaseException(where, "'" + at + "' must be an object");
                JsonNode match = o.get("match");
                if (match == null || !match.isTextual() || match.asText().isEmpty()) {
                    throw new MalformedCaseException(where, "'" + at + ".match' is missing or not a non-empty string");
                }
                entries.add(new Entry(match.asText(), parseRule(o, where, at)));
            }
        }
        return new Tolerance(defaultRule, entries);
    }

    private static Rule parseRule(JsonNode node, Path where, String at) throws MalformedCaseException {
        boolean hasExact = node.has("exact");
        boolean hasMax = node.has("max_abs_diff");
        boolean hasClose = node.has("rtol") || node.has("atol");
        int kinds = (hasExact ? 1 : 0) + (hasMax ? 1 : 0) + (hasClose ? 1 : 0);
        if (kinds == 0) {
            throw new MalformedCaseException(where, "'" + at + "' has none of rtol/atol, exact, max_abs_diff");
        }
        if (kinds > 1) {
            throw new MalformedCaseException(where, "'" + at + "' mixes " + String.join(" and ", present(hasClose, hasExact, hasMax))
                    + "; give exactly one kind of rule");
        }
        if (hasExact) {
            JsonNode e = node.get("exact");
            if (!e.isBoolean() || !e.asBoolean()) {
                throw new MalformedCaseException(where, "'" + at + ".exact' must be true, got " + e);
            }
            return new Exact();
        }
        if (hasMax) {
            JsonNode m = node.get("max_abs_diff");
            if (!m.isIntegralNumber() || m.asLong() < 0) {
                throw new MalformedCaseException(where, "'" + at + ".max_abs_diff' must be an integer >= 0, got " + m);
            }
            return new MaxAbsDiff(m.asLong());
        }
        double rtol = number(node, "rtol", where, at);
        double atol = number(node, "atol", where, at);
        return new Close(rtol, atol);
    }

    private static double number(JsonNode node, String field, Path where, String at) throws MalformedCaseException {
        JsonNode v = node.get(field);
        if (v == null) throw new MalformedCaseException(where, "'" + at + "' has no '" + field + "' (rtol and atol go together)");
        if (!v.isNumber() || !(v.asDouble() >= 0) || Double.isInfinite(v.asDouble())) {
            throw new MalformedCaseException(where, "'" + at + "." + field + "' must be a finite number >= 0, got " + v);
        }
        return v.asDouble();
    }

    private static List<String> present(boolean close, boolean exact, boolean max) {
        List<String> l = new ArrayList<>();
        if (close) l.add("rtol/atol");
        if (exact) l.add("exact");
        if (max) l.add("max_abs_diff");
        return l;
    }

    static String num(double v) {
        if (v == 0) return "0";
        String s = String.format(Locale.ROOT, "%.3g", v);
        // 1.00e-04 -> 1e-04; 0.000130 -> 0.00013
        if (s.contains("e")) {
            String[] p = s.split("e");
            String m = p[0].contains(".") ? p[0].replaceAll("0+$", "").replaceAll("\\.$", "") : p[0];
            return m + "e" + p[1];
        }
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("Tolerance{default=").append(defaultRule.describe());
        for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
            Entry e = it.next();
            b.append(", ").append(e.match()).append(": ").append(e.rule().describe());
        }
        return b.append('}').toString();
    }
}
