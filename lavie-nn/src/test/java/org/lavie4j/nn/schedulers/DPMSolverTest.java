package org.lavie4j.nn.schedulers;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DPM-Solver++(2M) (no golden case exists: the reference LaVie has no such sampler). Checked on a linear-Gaussian toy
 * problem with an exact denoiser, against DDIM and the exact probability-flow ODE solution, plus the 0.16 schedule and
 * state rules.
 */
class DPMSolverTest {
    private static final int N = 256;
    private static final double S_MIN = 0.05;

    /**
     * Data x0 ~ N(μ_i, s_i²) per element. With x_t = α·x0 + σ·ε, E[x0 | x_t] = μ + α s²/(α² s² + σ²)·(x_t − α μ), and
     * the probability-flow ODE keeps z = (x_t − α_t μ)/√(α_t² s² + σ_t²) constant.
     */
    private static final class Toy {
        final double[] mu = new double[N], s = new double[N];
        final NoiseSchedule sched;

        Toy(NoiseSchedule sched, long seed) {
            this.sched = sched;
            Random r = new Random(seed);
            for (int i = 0; i < N; i++) {
                mu[i] = 2 * r.nextDouble() - 1;
                s[i] = S_MIN + (1 - S_MIN) * r.nextDouble();
            }
        }

        /** The optimal ε-prediction at training timestep t. */
        INDArray eps(INDArray x, long t) {
            double ac = sched.alphaCumprod(t), a = Math.sqrt(ac), sg = Math.sqrt(1 - ac);
            double[] xs = x.toDoubleVector(), out = new double[N];
            for (int i = 0; i < N; i++) {
                double x0 = mu[i] + a * s[i] * s[i] / (a * a * s[i] * s[i] + sg * sg) * (xs[i] - a * mu[i]);
                out[i] = (xs[i] - a * x0) / sg;
            }
            return Nd4j.createFromArray(toFloat(out));
        }

        /** The exact ODE solution at t = 0 (ᾱ[0]) from x at tStart. */
        INDArray exact(INDArray x, long tStart) {
            double aT = Math.sqrt(sched.alphaCumprod(tStart)), sT = Math.sqrt(1 - sched.alphaCumprod(tStart));
            double a0 = Math.sqrt(sched.alphaCumprod(0)), s0 = Math.sqrt(1 - sched.alphaCumprod(0));
            double[] xs = x.toDoubleVector(), out = new double[N];
            for (int i = 0; i < N; i++) {
                double z = (xs[i] - aT * mu[i]) / Math.sqrt(aT * aT * s[i] * s[i] + sT * sT);
                out[i] = a0 * mu[i] + Math.sqrt(a0 * a0 * s[i] * s[i] + s0 * s0) * z;
            }
            return Nd4j.createFromArray(toFloat(out));
        }
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static INDArray randn(long seed) {
        Random r = new Random(seed);
        float[] v = new float[N];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return Nd4j.createFromArray(v);
    }

    private static SchedulerConfig dpmConfig() { return SchedulerConfig.lavieBase(SchedulerKind.DPM_SOLVER_MULTISTEP); }

    /** The denoising loop as a pipeline writes it. */
    private static INDArray sample(Scheduler sch, Toy toy, INDArray noise, int steps) {
        sch.setTimesteps(steps);
        INDArray x = noise.mul(sch.initNoiseSigma());
        for (long t : sch.timesteps().toLongVector())
            x = sch.step(toy.eps(sch.scaleModelInput(x, t), t), t, x, null).prevSample();
        return x;
    }

    private static double maxAbs(INDArray a, INDArray b) { return a.sub(b).amaxNumber().doubleValue(); }

    /**
     * Measure: max |x_final − x_final(DDIM 50)| over the 256 elements, same initial noise, both ending at ᾱ[0] (LaVie's
     * DDIM: set_alpha_to_one false, steps_offset 1, so DDIM-50 starts at t = 981 and DPM at t = 999). Measured (seed 7/11):
     * DDIM-50 itself is 0.085 from the exact ODE solution; DPM++ 10 steps 0.199 (DDIM-10 0.313), DPM++ 14 steps 0.079
     * (DDIM-14 0.205). From 15 steps diffusers 0.16 drops lower_order_final, and the second-order last jump from t ≈ 66 to
     * 0 (h ≈ 2.5, r0 ≈ 0.2) overshoots: DPM++ 15/20/25 give 0.56/0.41/0.32 (DDIM 0.19/0.12/0.08). This is the
     * reference's behaviour, kept as the default; diffusers >= 0.22's euler_at_final fix is the eulerAtFinal option (below).
     */
    @Test void fewStepsMatchDdim50OnAGaussianToy() {
        SchedulerConfig ddimCfg = SchedulerConfig.lavieBase(SchedulerKind.DDIM);
        Toy toy = new Toy(NoiseSchedule.of(ddimCfg), 7);
        INDArray noise = randn(11);
        INDArray ddim50 = sample(Scheduler.create(ddimCfg), toy, noise, 50);
        double ddim50Exact = maxAbs(ddim50, toy.exact(noise, 981));
        assertTrue(ddim50Exact < 0.1, "DDIM-50 vs exact ODE " + ddim50Exact);
        for (int n : new int[] {10, 14}) {
            double dpmErr = maxAbs(sample(Scheduler.create(dpmConfig()), toy, noise, n), ddim50);
            double ddimErr = maxAbs(sample(Scheduler.create(ddimCfg), toy, noise, n), ddim50);
            assertTrue(dpmErr < 0.7 * ddimErr, "n=" + n + ": DPM++ " + dpmErr + " vs DDIM " + ddimErr);
        }
        // 14 steps: as close to DDIM-50 as DDIM-50 is to the exact solution
        double dpm14 = maxAbs(sample(Scheduler.create(dpmConfig()), toy, noise, 14), ddim50);
        assertTrue(dpm14 < 0.1, "DPM++ 14 steps vs DDIM-50: " + dpm14);
    }

    /** Second order: against the exact ODE solution the error falls about 4x per doubling (DDIM: 2x). */
    @Test void convergesAtSecondOrderToTheExactSolution() {
        Toy toy = new Toy(NoiseSchedule.of(dpmConfig()), 7);
        INDArray noise = randn(11), exact = toy.exact(noise, 999);
        double e100 = maxAbs(sample(Scheduler.create(dpmConfig()), toy, noise, 100), exact);
        double e200 = maxAbs(sample(Scheduler.create(dpmConfig()), toy, noise, 200), exact);
        assertTrue(e200 < 0.01 && e100 / e200 > 3, "errors " + e100 + ", " + e200);
    }

    @Test void timestepsFollowTheReferenceFormula() {
        Scheduler s = Scheduler.create(dpmConfig());
        s.setTimesteps(20);
        // numpy: linspace(0, 999, 21).round()[::-1][:-1] (499.5 rounds half to even: 500)
        assertArrayEquals(new long[] {999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250,
                200, 150, 100, 50}, s.timesteps().toLongVector());
        s.setTimesteps(1);
        assertArrayEquals(new long[] {999}, s.timesteps().toLongVector());
        s.setTimesteps(1000); // numpy: linspace(0, 999, 1001)[:-1] rounds to 999 distinct values, 999..1
        assertEquals(999, s.timesteps().length()); // numpy: 999 unique values
        assertEquals(1, s.timesteps().getLong(998));
        assertEquals(1f, s.initNoiseSigma());
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0));
    }

    /** The first step is first order, which is exactly DDIM (eta 0) from 999 to 949. */
    @Test void firstStepIsFirstOrderAndStateResets() {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpmConfig());
        Toy toy = new Toy(s.schedule(), 3);
        INDArray x = randn(5);
        s.setTimesteps(20);
        INDArray eps = toy.eps(x, 999);
        StepOutput first = s.step(eps, 999L, x);
        assertEquals(1, s.lowerOrderNums());
        double a = Math.sqrt(s.schedule().alphaCumprod(949)), sg = Math.sqrt(1 - s.schedule().alphaCumprod(949));
        INDArray ddim = first.predOriginalSample().mul(a).addi(eps.mul(sg));
        assertTrue(maxAbs(first.prevSample(), ddim) < 1e-5, "first step != DDIM step: " + maxAbs(first.prevSample(), ddim));

        INDArray x1 = first.prevSample();
        INDArray eps1 = toy.eps(x1, 949);
        StepOutput second = s.step(eps1, 949L, x1);
        assertEquals(2, s.lowerOrderNums());
        INDArray firstOrder = s.firstOrderUpdate(second.predOriginalSample(), 949, 899, x1);
        assertTrue(maxAbs(second.prevSample(), firstOrder) > 1e-6, "second step should be second order");

        s.setTimesteps(20); // resets the history: the same first step again
        assertEquals(0, s.lowerOrderNums());
        assertEquals(0.0, maxAbs(s.step(eps, 999L, x).prevSample(), first.prevSample()));
        assertEquals(0.0, maxAbs(s.step(eps1, 949L, x1).prevSample(), second.prevSample()));
    }

    /** lower_order_final: below 15 steps the last update is first order. */
    @Test void lastStepIsFirstOrderBelowFifteenSteps() {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpmConfig());
        Toy toy = new Toy(s.schedule(), 3);
        INDArray x = randn(9);
        s.setTimesteps(10);
        long[] ts = s.timesteps().toLongVector();
        for (int i = 0; i < ts.length - 1; i++) x = s.step(toy.eps(x, ts[i]), ts[i], x).prevSample();
        long last = ts[ts.length - 1];
        StepOutput out = s.step(toy.eps(x, last), last, x);
        assertEquals(0.0, maxAbs(out.prevSample(), s.firstOrderUpdate(out.predOriginalSample(), last, 0, x)));
    }

    /**
     * eulerAtFinal (diffusers >= 0.22 {@code euler_at_final}): from 15 steps on the last update is first order instead
     * of 0.16's 2M extrapolation over the grid's largest λ-step; every earlier update is unchanged, and on the toy the
     * error against the exact ODE solution then falls with the step count instead of jumping up at 15.
     */
    @Test void eulerAtFinalMakesTheLastStepFirstOrderAtAnyCount() {
        assertFalse(new DPMSolverMultistepScheduler(dpmConfig()).eulerAtFinal());
        DPMSolverMultistepScheduler ref = new DPMSolverMultistepScheduler(dpmConfig());
        DPMSolverMultistepScheduler euler = new DPMSolverMultistepScheduler(dpmConfig(), true);
        assertTrue(euler.eulerAtFinal());
        Toy toy = new Toy(ref.schedule(), 3);
        INDArray x = randn(9);
        ref.setTimesteps(20);
        euler.setTimesteps(20);
        long[] ts = ref.timesteps().toLongVector();
        for (int i = 0; i < ts.length - 1; i++) {
            INDArray eps = toy.eps(x, ts[i]);
            INDArray a = ref.step(eps, ts[i], x).prevSample(), b = euler.step(eps, ts[i], x).prevSample();
            assertEquals(0.0, maxAbs(a, b), "step " + i);
            x = a;
        }
        long last = ts[ts.length - 1];
        INDArray eps = toy.eps(x, last);
        StepOutput second = ref.step(eps, last, x), first = euler.step(eps, last, x);
        INDArray firstOrder = euler.firstOrderUpdate(first.predOriginalSample(), last, 0, x);
        assertEquals(0.0, maxAbs(first.prevSample(), firstOrder));
        assertTrue(maxAbs(second.prevSample(), firstOrder) > 1e-3, "0.16 keeps a second-order last step at 20 steps");

        // against the exact solution: monotone in the step count with eulerAtFinal, better than 0.16 from 15 steps on
        Toy t7 = new Toy(NoiseSchedule.of(dpmConfig()), 7);
        INDArray noise = randn(11), exact = t7.exact(noise, 999);
        double prev = Double.POSITIVE_INFINITY;
        for (int n : new int[] {10, 14, 15, 20, 25}) {
            double e = maxAbs(sample(new DPMSolverMultistepScheduler(dpmConfig(), true), t7, noise, n), exact);
            double e016 = maxAbs(sample(new DPMSolverMultistepScheduler(dpmConfig()), t7, noise, n), exact);
            if (n < 15) assertEquals(e016, e, "below 15 steps both rules agree, n=" + n);
            else assertTrue(e < 0.5 * e016, "n=" + n + ": eulerAtFinal " + e + " vs 0.16 " + e016);
            assertTrue(e < prev, "n=" + n + ": " + e + " after " + prev);
            prev = e;
        }
    }

    @Test void vPredictionConvertsToX0() {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpmConfig().withPredictionType(PredictionType.V_PREDICTION));
        INDArray x0 = randn(1).reshape(4, 64), noise = randn(2).reshape(4, 64);
        INDArray t = Nd4j.createFromArray(999L, 500L, 50L, 0L);
        INDArray xt = s.addNoise(x0, noise, t), v = s.getVelocity(x0, noise, t);
        for (int b = 0; b < 4; b++) {
            INDArray got = s.convertModelOutput(v.getRow(b), t.getLong(b), xt.getRow(b));
            assertTrue(maxAbs(got, x0.getRow(b)) < 1e-5, "t=" + t.getLong(b) + ": " + maxAbs(got, x0.getRow(b)));
        }
        s.setTimesteps(20);
        StepOutput out = s.step(v.getRow(1).dup(), 500L, xt.getRow(1).dup());
        assertTrue(maxAbs(out.predOriginalSample(), x0.getRow(1)) < 1e-5);
    }

    @Test void configParsesAndRejectsUnsupportedVariants() {
        SchedulerConfig c = SchedulerConfig.fromJson("{\"_class_name\": \"DPMSolverMultistepScheduler\", \"beta_schedule\": \"scaled_linear\","
                + " \"beta_start\": 0.00085, \"beta_end\": 0.012, \"solver_order\": 2, \"algorithm_type\": \"dpmsolver++\","
                + " \"solver_type\": \"midpoint\", \"lower_order_final\": true}");
        assertEquals(SchedulerKind.DPM_SOLVER_MULTISTEP, c.kind());
        assertTrue(Scheduler.create(c) instanceof DPMSolverMultistepScheduler);
        for (String bad : new String[] {"\"solver_order\": 3", "\"algorithm_type\": \"dpmsolver\"", "\"solver_type\": \"heun\"",
                "\"lower_order_final\": false", "\"thresholding\": true"})
            assertThrows(IllegalArgumentException.class,
                    () -> SchedulerConfig.fromJson("{\"_class_name\": \"DPMSolverMultistepScheduler\", " + bad + "}"), bad);
    }
}
