package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;

/**
 * Finite-difference gradient check in double precision: compares the tape's gradient of
 * {@code L = Σ f(x) ⊙ R} (R a fixed random projection) with central differences {@code (L(x+ε) − L(x−ε)) / 2ε}
 * at sampled entries of every input. Error per entry: {@code |a − n| / max(|a| + |n|, floor)}.
 * Use it to check any op or layer written against {@link Tensor}.
 */
public final class GradCheck {
    private GradCheck() {}

    /** Settings: step {@code eps}, entries sampled per input ({@code <= 0}: all), absolute floor of the relative error. */
    public record Settings(double eps, int samplesPerInput, double floor, long seed) {
        public static Settings defaults() { return new Settings(1e-6, 40, 1e-8, 42); }

        public Settings withSamples(int n) { return new Settings(eps, n, floor, seed); }
    }

    /** Worst error found: {@code maxError} (floored relative), where it was, and how many entries were checked. */
    public record Result(double maxError, double maxAbsError, String worst, int checked) {
        @Override
        public String toString() {
            return String.format("max_rel_err=%.3e max_abs_err=%.3e at %s (%d entries)", maxError, maxAbsError, worst, checked);
        }
    }

    /** Checks the gradient of {@code f} with respect to every input (converted to DOUBLE leaves). */
    public static Result check(Function<Tensor[], Tensor> f, INDArray... inputs) {
        return check(f, Settings.defaults(), inputs);
    }

    public static Result check(Function<Tensor[], Tensor> f, Settings settings, INDArray... inputs) {
        Tensor[] leaves = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) leaves[i] = Tensor.leaf(inputs[i].castTo(DataType.DOUBLE).dup('c'), true);
        INDArray projection;
        try (Tape tape = Grad.record()) {
            Tensor out = f.apply(leaves);
            Nd4j.getRandom().setSeed(settings.seed());
            projection = Nd4j.rand(DataType.DOUBLE, out.shape()).subi(0.5);
            tape.backward(out, projection);
        }
        Random random = new Random(settings.seed());
        double worst = 0, worstAbs = 0;
        String where = "-";
        int checked = 0;
        for (int i = 0; i < leaves.length; i++) {
            INDArray x = leaves[i].data();
            INDArray analytic = leaves[i].grad();
            long n = x.length();
            int samples = settings.samplesPerInput() <= 0 ? (int) n : (int) Math.min(n, settings.samplesPerInput());
            for (int s = 0; s < samples; s++) {
                long idx = samples == n ? s : (long) (random.nextDouble() * n);
                double orig = x.getDouble(idx);
                x.putScalar(idx, orig + settings.eps());
                double plus = loss(f, leaves, projection);
                x.putScalar(idx, orig - settings.eps());
                double minus = loss(f, leaves, projection);
                x.putScalar(idx, orig);
                double numeric = (plus - minus) / (2 * settings.eps());
                double a = analytic == null ? 0.0 : analytic.getDouble(idx);
                double abs = Math.abs(a - numeric);
                double rel = abs / Math.max(Math.abs(a) + Math.abs(numeric), settings.floor());
                checked++;
                if (rel > worst) {
                    worst = rel;
                    where = "input " + i + " " + Arrays.toString(x.shape()) + " flat index " + idx + " (analytic " + a + ", numeric " + numeric + ")";
                }
                worstAbs = Math.max(worstAbs, abs);
            }
        }
        return new Result(worst, worstAbs, where, checked);
    }

    private static double loss(Function<Tensor[], Tensor> f, Tensor[] leaves, INDArray projection) {
        try (Tape off = Grad.disabled()) {
            Tensor out = f.apply(leaves);
            return out.data().mul(projection).sumNumber().doubleValue();
        }
    }
}
