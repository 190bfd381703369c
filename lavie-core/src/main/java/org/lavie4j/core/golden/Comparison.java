package org.lavie4j.core.golden;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Locale;

/**
 * The result of comparing one output of a golden case with its expected value.
 *
 * @param output        output name without the {@code out.} prefix
 * @param status        PASS, FAIL, or NOT_IMPLEMENTED (no runner for the case's kind)
 * @param maxAbsErr     max {@code |a - e|} over all elements (NaN when nothing was compared)
 * @param maxRelErr     max {@code |a - e| / |e|} over the elements with {@code e != 0} (NaN when nothing was compared)
 * @param worstIndex    the element that uses up most of its allowance (largest {@code |a-e| - allowance}), null when
 *                      nothing was compared
 * @param actualAtWorst actual value at {@code worstIndex} (NaN when none)
 * @param expectedAtWorst expected value at {@code worstIndex} (NaN when none)
 * @param mismatches    number of elements out of tolerance (0 when nothing was compared)
 * @param elements      number of elements compared
 * @param rule          the rule applied, as text ({@link Tolerance.Applied#describe()})
 * @param message       why it failed (shape/dtype mismatch, missing output, exception) or null
 */
public record Comparison(String output, Status status, double maxAbsErr, double maxRelErr, long[] worstIndex,
                         double actualAtWorst, double expectedAtWorst, long mismatches, long elements,
                         String rule, String message) {

    /** Outcome of one output. */
    public enum Status { PASS, FAIL, NOT_IMPLEMENTED }

    public boolean passed() { return status == Status.PASS; }

    /** A result without numbers: a missing output, a mismatch of shape or dtype, a runner error. */
    public static Comparison failed(String output, String rule, String message) {
        return new Comparison(output, Status.FAIL, Double.NaN, Double.NaN, null, Double.NaN, Double.NaN, 0, 0, rule, message);
    }

    /** A result for an output whose kind has no runner yet. */
    public static Comparison notImplemented(String output, String rule, String message) {
        return new Comparison(output, Status.NOT_IMPLEMENTED, Double.NaN, Double.NaN, null, Double.NaN, Double.NaN, 0, 0,
                rule, message);
    }

    /**
     * Compares {@code actual} with {@code expected} under {@code applied} (see {@link Tolerance}). Shape or dtype
     * mismatches are failures. Float values are compared in double precision; integer values as longs.
     */
    public static Comparison compare(String output, INDArray actual, INDArray expected, Tolerance.Applied applied) {
        String ruleText = applied.describe();
        if (actual == null) return failed(output, ruleText, "no output produced");
        if (!Arrays.equals(actual.shape(), expected.shape())) {
            return failed(output, ruleText, "shape " + Arrays.toString(actual.shape()) + " != expected "
                    + Arrays.toString(expected.shape()));
        }
        if (actual.dataType() != expected.dataType()) {
            return failed(output, ruleText, "dtype " + lower(actual.dataType()) + " != expected " + lower(expected.dataType()));
        }
        long n = expected.length();
        if (n == 0) {
            return new Comparison(output, Status.PASS, 0, 0, null, Double.NaN, Double.NaN, 0, 0, ruleText, null);
        }
        boolean integer = isInteger(expected.dataType());
        Tolerance.Rule rule = applied.rule();
        if (integer && rule instanceof Tolerance.Close) rule = Tolerance.INTEGER_DEFAULT; // README: ints as integers
        Acc acc = integer ? compareIntegers(flatLongs(actual), flatLongs(expected), rule)
                : compareFloats(flatDoubles(actual), flatDoubles(expected), rule, expected.dataType());
        Status status = acc.mismatches == 0 ? Status.PASS : Status.FAIL;
        long[] worst = acc.worst < 0 ? null : unravel(acc.worst, expected.shape());
        String message = status == Status.PASS ? null
                : acc.mismatches + " of " + n + " elements out of tolerance; worst at " + Arrays.toString(worst) + ": got "
                  + fmt(acc.actualAtWorst) + ", expected " + fmt(acc.expectedAtWorst);
        return new Comparison(output, status, acc.maxAbs, acc.maxRel, worst, acc.actualAtWorst, acc.expectedAtWorst,
                acc.mismatches, n, ruleText, message);
    }

    private static final class Acc {
        double maxAbs = 0, maxRel = 0, worstScore = Double.NEGATIVE_INFINITY, actualAtWorst = Double.NaN, expectedAtWorst = Double.NaN;
        long worst = -1, mismatches = 0;

        void add(long i, double a, double e, double absErr, double allowance, boolean ok) {
            if (absErr > maxAbs || Double.isNaN(absErr)) maxAbs = Double.isNaN(absErr) ? Double.NaN : Math.max(maxAbs, absErr);
            if (e != 0 && !Double.isNaN(absErr)) maxRel = Math.max(maxRel, absErr / Math.abs(e));
            if (!ok) mismatches++;
            // Score: how far past its allowance the element is; a failing element always beats a passing one.
            double score = ok ? absErr - allowance : (Double.isNaN(absErr) || Double.isInfinite(absErr)
                    ? Double.POSITIVE_INFINITY : Math.max(absErr - allowance, Double.MIN_VALUE));
            if (worst < 0 || score > worstScore) {
                worstScore = score;
                worst = i;
                actualAtWorst = a;
                expectedAtWorst = e;
            }
        }
    }

    private static Acc compareFloats(double[] a, double[] e, Tolerance.Rule rule, DataType type) {
        Acc acc = new Acc();
        for (int i = 0; i < e.length; i++) {
            double ai = a[i], ei = e[i];
            boolean bothNaN = Double.isNaN(ai) && Double.isNaN(ei);
            double absErr = ai == ei || bothNaN ? 0 : Math.abs(ai - ei); // equal infinities differ by 0, not NaN
            double allowance;
            boolean ok;
            if (rule instanceof Tolerance.Close c) {
                allowance = c.atol() + c.rtol() * (Double.isNaN(ei) ? 0 : Math.abs(ei));
                ok = bothNaN || absErr <= allowance;
            } else if (rule instanceof Tolerance.MaxAbsDiff m) {
                allowance = m.n();
                ok = bothNaN || absErr <= allowance;
            } else {
                allowance = 0;
                ok = sameBits(ai, ei, type);
            }
            acc.add(i, ai, ei, absErr, allowance, ok);
        }
        return acc;
    }

    private static Acc compareIntegers(long[] a, long[] e, Tolerance.Rule rule) {
        long limit = rule instanceof Tolerance.MaxAbsDiff m ? m.n() : 0; // Exact, or Close mapped to max_abs_diff 0
        Acc acc = new Acc();
        for (int i = 0; i < e.length; i++) {
            long diff = Math.abs(Math.subtractExact(a[i], e[i]));
            boolean ok = diff <= limit;
            acc.add(i, a[i], e[i], diff, limit, ok);
        }
        return acc;
    }

    /** Bitwise equality at the output's own precision (doubles hold F32/F16/BF16 values exactly). */
    private static boolean sameBits(double a, double e, DataType type) {
        if (type == DataType.DOUBLE) return Double.doubleToRawLongBits(a) == Double.doubleToRawLongBits(e);
        return Float.floatToRawIntBits((float) a) == Float.floatToRawIntBits((float) e);
    }

    static boolean isInteger(DataType t) {
        return switch (t) {
            case LONG, INT, SHORT, BYTE, UBYTE, UINT16, UINT32, UINT64, BOOL -> true;
            default -> false;
        };
    }

    private static double[] flatDoubles(INDArray x) {
        if (x.dataType() == DataType.FLOAT) {
            float[] f = x.dup('c').data().asFloat();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i]; // exact, keeps the float's bits for Exact
            return d;
        }
        INDArray d = x.castTo(DataType.DOUBLE).dup('c');
        return Arrays.copyOf(d.data().asDouble(), (int) x.length());
    }

    private static long[] flatLongs(INDArray x) {
        INDArray l = x.castTo(DataType.LONG).dup('c');
        return Arrays.copyOf(l.data().asLong(), (int) x.length());
    }

    /** Multi-dimensional index of flat (C-order) position {@code i}. */
    static long[] unravel(long i, long[] shape) {
        long[] idx = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] == 0) return idx;
            idx[d] = i % shape[d];
            i /= shape[d];
        }
        return idx;
    }

    private static String lower(DataType t) { return t.name().toLowerCase(Locale.ROOT); }

    static String fmt(double v) {
        if (Double.isNaN(v)) return "-";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return String.format(Locale.ROOT, "%.6g", v);
    }

    @Override
    public String toString() {
        return output + " " + status + " max_abs_err=" + fmt(maxAbsErr) + " max_rel_err=" + fmt(maxRelErr) + " rule=" + rule
                + (message == null ? "" : " (" + message + ")");
    }
}
