package org.lavie4j.nn.attention;

import org.lavie4j.core.Grad;
import org.lavie4j.core.GradCheck;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finite-difference check of a module parameter's gradient (GradCheck works on its own input leaves; a parameter is
 * a leaf the module owns): {@code L = Σ f() ⊙ R}, tape gradient vs central differences on sampled entries, in double.
 */
final class ParamGradCheck {
    static final double THRESHOLD = 1e-5;

    private ParamGradCheck() {}

    static GradCheck.Result check(String name, Supplier<Tensor> f, Parameter p) {
        GradCheck.Settings s = GradCheck.Settings.defaults();
        if (p.dtype() != DataType.DOUBLE) throw new IllegalArgumentException(name + ": convert the module to DOUBLE first");
        p.zeroGrad();
        INDArray projection;
        try (Tape tape = Grad.record()) {
            Tensor out = f.get();
            Nd4j.getRandom().setSeed(s.seed());
            projection = Nd4j.rand(DataType.DOUBLE, out.shape()).subi(0.5);
            tape.backward(out, projection);
        }
        assertTrue(p.grad() != null, name + ": no gradient reached the parameter");
        INDArray analytic = p.grad().dup();
        p.zeroGrad();
        INDArray x = p.data();
        Random random = new Random(s.seed());
        long n = x.length();
        int samples = (int) Math.min(n, s.samplesPerInput());
        double worst = 0, worstAbs = 0;
        String where = "-";
        for (int k = 0; k < samples; k++) {
            long idx = samples == n ? k : (long) (random.nextDouble() * n);
            double orig = x.getDouble(idx);
            x.putScalar(idx, orig + s.eps());
            double plus = loss(f, projection);
            x.putScalar(idx, orig - s.eps());
            double minus = loss(f, projection);
            x.putScalar(idx, orig);
            double numeric = (plus - minus) / (2 * s.eps());
            double a = analytic.getDouble(idx);
            double abs = Math.abs(a - numeric);
            double rel = abs / Math.max(Math.abs(a) + Math.abs(numeric), s.floor());
            if (rel > worst) {
                worst = rel;
                where = name + " flat index " + idx + " (analytic " + a + ", numeric " + numeric + ")";
            }
            worstAbs = Math.max(worstAbs, abs);
        }
        GradCheck.Result r = new GradCheck.Result(worst, worstAbs, where, samples);
        System.out.printf("gradcheck %-40s %s%n", name, r);
        assertTrue(r.maxError() < THRESHOLD, name + ": " + r);
        return r;
    }

    /** GradCheck on inputs, with the same log line and threshold. */
    static GradCheck.Result inputs(String name, java.util.function.Function<Tensor[], Tensor> f, INDArray... inputs) {
        GradCheck.Result r = GradCheck.check(f, inputs);
        System.out.printf("gradcheck %-40s %s%n", name, r);
        assertTrue(r.checked() > 0 && r.maxError() < THRESHOLD, name + ": " + r);
        return r;
    }

    private static double loss(Supplier<Tensor> f, INDArray projection) {
        try (Tape off = Grad.disabled()) {
            return f.get().data().mul(projection).sumNumber().doubleValue();
        }
    }

    /** Uniform doubles in [-1, 1). */
    static INDArray rand(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.rand(DataType.DOUBLE, shape).muli(2).subi(1);
    }
}
