package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;

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
        String[] names = new String[inputs.length];
        for (int i = 0; i < inputs.length; i++) names[i] = "input " + i;
        return run(() -> f.apply(leaves), leaves, names, settings);
    }

    /**
     * Checks the gradient of {@code f} with respect to module parameters (trainable, already converted to DOUBLE,
     * e.g. with {@code module.to(DataType.DOUBLE)}); {@code f} computes the module's output from fixed inputs.
     * Accumulated gradients of the parameters are cleared before and after.
     */
    public static Result checkParameters(Supplier<Tensor> f, Settings settings, Parameter... params) {
        Tensor[] leaves = new Tensor[params.length];
        String[] names = new String[params.length];
        for (int i = 0; i < params.length; i++) {
            Parameter p = params[i];
            if (p.dtype() != DataType.DOUBLE) throw new IllegalArgumentException("parameter " + i + " is " + p.dtype() + ": convert the module to DOUBLE first");
            if (!p.isTrainable()) throw new IllegalArgumentException("parameter " + i + " is not trainable: nothing to check");
            p.zeroGrad();
            leaves[i] = p.tensor();
            names[i] = "parameter " + i;
        }
        try {
            return run(f, leaves, names, settings);
        } finally {
            for (Parameter p : params) p.zeroGrad();
        }
    }

    public static Result checkParameters(Supplier<Tensor> f, Parameter... params) {
        return checkParameters(f, Settings.defaults(), params);
    }

    /** Tape gradients of {@code L = Σ forward() ⊙ R} w.r.t. the leaves against central differences, perturbing leaves in place. */
    private static Result run(Supplier<Tensor> forward, Tensor[] leaves, String[] names, Settings settings) {
        INDArray projection;
        try (Tape tape = Grad.record()) {
            Tensor out = forward.get();
            // the seed-taking overload: the same projection in every run (see GradAssert.rand)
            projection = Nd4j.rand(settings.seed(), out.shape()).castTo(DataType.DOUBLE).subi(0.5);
            tape.backward(out, projection);
        }
        Random random = new Random(settings.seed());
        double worst = 0, worstAbs = 0;
        String where = "-";
        int checked = 0;
        for (int i = 0; i < leaves.length; i++) {
            INDArray x = leaves[i].data();
            INDArray analytic = leaves[i].grad() == null ? null : leaves[i].grad().dup();
            long n = x.length();
            int samples = settings.samplesPerInput() <= 0 ? (int) n : (int) Math.min(n, settings.samplesPerInput());
            for (int s = 0; s < samples; s++) {
                long idx = samples == n ? s : (long) (random.nextDouble() * n);
                double orig = x.getDouble(idx);
                x.putScalar(idx, orig + settings.eps());
                double plus = loss(forward, projection);
                x.putScalar(idx, orig - settings.eps());
                double minus = loss(forward, projection);
                x.putScalar(idx, orig);
                double numeric = (plus - minus) / (2 * settings.eps());
                double a = analytic == null ? 0.0 : analytic.getDouble(idx);
                double abs = Math.abs(a - numeric);
                double rel = abs / Math.max(Math.abs(a) + Math.abs(numeric), settings.floor());
                checked++;
                if (rel > worst) {
                    worst = rel;
                    where = names[i] + " " + Arrays.toString(x.shape()) + " flat index " + idx + " (analytic " + a + ", numeric " + numeric + ")";
                }
                worstAbs = Math.max(worstAbs, abs);
            }
        }
        return new Result(worst, worstAbs, where, checked);
    }

    private static double loss(Supplier<Tensor> forward, INDArray projection) {
        try (Tape off = Grad.disabled()) {
            Tensor out = forward.get();
            return out.data().mul(projection).sumNumber().doubleValue();
        }
    }
}
