package org.lavie4j.nn.schedulers;

import com.fasterxml.jackson.databind.JsonNode;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashSet;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095; diffusers 0.16 {@code scheduling_dpmsolver_multistep.py}) with the
 * fixed choices {@code algorithm_type="dpmsolver++"}, {@code solver_order=2}, {@code solver_type="midpoint"},
 * {@code lower_order_final=true}. Not in the original LaVie: a faster sampler than DDIM for the same ODE.
 *
 * <p>Timesteps: {@code linspace(0, T−1, n+1).round()[::-1][:-1]} with duplicates removed (n = 20, T = 1000: 999, 949,
 * …, 50); the last step goes to t = 0 (ᾱ[0], not ᾱ = 1), as 0.16 does. Schedule quantities α_t = √ᾱ_t, σ_t = √(1−ᾱ_t),
 * λ_t = log α_t − log σ_t are float32 as in the reference; each update's scalar coefficients are computed in double
 * from them and applied in float32. State (the last two x0 predictions, the count of lower-order steps) is reset by
 * {@link #setTimesteps}. Deliberate deviations: none of thresholding, {@code lambda_min_clipped}, learned variance,
 * Karras sigmas or the other solver variants (rejected by {@link SchedulerConfig#fromJson}).
 *
 * <p>Option (off by default, so the default is exactly 0.16): {@code eulerAtFinal}, diffusers 0.22's
 * {@code euler_at_final} (huggingface/diffusers#5541), makes the last update first order at any number of steps. 0.16
 * only does so below 15 steps; from 15 steps on its last update is the 2M extrapolation over the largest λ-step of the
 * linspace grid (n = 20: t = 50 → 0, h ≈ 2.9 against the previous step's 0.66, so r0 ≈ 0.23 and D1 amplifies the
 * difference of the last two x0 predictions ~4x). Where the x0 prediction still changes over that last interval (an
 * exact denoiser on Gaussian data: DPMSolverTest, {@code SamplerStepsBenchmark}) 15 steps are then 3x less accurate than
 * 14; with this option the error falls with the step count. Since 0.26 diffusers' default
 * {@code final_sigmas_type="zero"} also forces a first-order last step, but to σ = 0 (a different end point); that
 * variant is not ported.
 */
public final class DPMSolverMultistepScheduler implements Scheduler {
    private static final int SOLVER_ORDER = 2;

    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final float[] alphaT, sigmaT, lambdaT;
    private long[] timesteps;
    private int numInferenceSteps;
    /** The x0 predictions of the previous and the current step ({@code model_outputs[-2], [-1]}). */
    private final INDArray[] modelOutputs = new INDArray[SOLVER_ORDER];
    private int lowerOrderNums;
    private final boolean eulerAtFinal;

    /** The diffusers 0.16 scheduler ({@code eulerAtFinal} false). */
    public DPMSolverMultistepScheduler(SchedulerConfig config) { this(config, false); }

    /**
     * @param eulerAtFinal when true, the last update is first order whatever the number of steps (diffusers &ge; 0.22
     *                     {@code euler_at_final=True}); when false, only below 15 steps (0.16's {@code lower_order_final})
     */
    public DPMSolverMultistepScheduler(SchedulerConfig config, boolean eulerAtFinal) {
        if (config.kind() != SchedulerKind.DPM_SOLVER_MULTISTEP)
            throw new IllegalArgumentException("DPMSolverMultistepScheduler needs a DPM_SOLVER_MULTISTEP config, got " + config.kind());
        this.config = config;
        this.eulerAtFinal = eulerAtFinal;
        this.schedule = NoiseSchedule.of(config);
        int T = config.numTrainTimesteps();
        alphaT = new float[T];
        sigmaT = new float[T];
        lambdaT = new float[T];
        for (int t = 0; t < T; t++) {
            float ac = schedule.alphaCumprod(t);
            alphaT[t] = Schedulers.sqrt(ac);
            sigmaT[t] = Schedulers.sqrt(1f - ac);
            lambdaT[t] = (float) ((float) Math.log(alphaT[t]) - (float) Math.log(sigmaT[t]));
        }
        timesteps = new long[T];
        for (int i = 0; i < T; i++) timesteps[i] = T - 1 - i;
    }

    /** Rejects config values of the 0.16 class this port does not implement (called by {@link SchedulerConfig#fromJson}). */
    static void checkSupported(JsonNode n) {
        requireText(n, "algorithm_type", "dpmsolver++");
        requireText(n, "solver_type", "midpoint");
        JsonNode order = n.get("solver_order");
        if (order != null && !order.isNull() && !(order.isIntegralNumber() && order.asInt() == SOLVER_ORDER))
            throw new IllegalArgumentException("DPMSolverMultistepScheduler: solver_order " + order + " is not supported (2)");
        JsonNode lof = n.get("lower_order_final");
        if (lof != null && !lof.isNull() && !(lof.isBoolean() && lof.asBoolean()))
            throw new IllegalArgumentException("DPMSolverMultistepScheduler: lower_order_final " + lof + " is not supported (true)");
        JsonNode vt = n.get("variance_type");
        if (vt != null && !vt.isNull())
            throw new IllegalArgumentException("DPMSolverMultistepScheduler: variance_type " + vt + " (learned variance) is not supported");
        JsonNode lmc = n.get("lambda_min_clipped");
        if (lmc != null && !lmc.isNull() && !(lmc.isNumber() && lmc.asDouble() == Double.NEGATIVE_INFINITY))
            throw new IllegalArgumentException("DPMSolverMultistepScheduler: lambda_min_clipped " + lmc + " is not supported (-inf)");
    }

    private static void requireText(JsonNode n, String key, String only) {
        JsonNode v = n.get(key);
        if (v != null && !v.isNull() && !v.asText().equals(only))
            throw new IllegalArgumentException("DPMSolverMultistepScheduler: " + key + " '" + v.asText() + "' is not supported ('" + only + "')");
    }

    @Override public SchedulerConfig config() { return config; }
    @Override public NoiseSchedule schedule() { return schedule; }
    @Override public float initNoiseSigma() { return 1f; }
    @Override public INDArray timesteps() { return Nd4j.createFromArray(timesteps.clone()); }
    @Override public INDArray scaleModelInput(INDArray sample, double t) { return sample; }

    /** Whether the last update is always first order (diffusers {@code euler_at_final}); false in 0.16. */
    public boolean eulerAtFinal() { return eulerAtFinal; }

    /** The number of x0 predictions taken so far, capped at the solver order ({@code lower_order_nums}). */
    public int lowerOrderNums() { return lowerOrderNums; }

    /** 0.16: {@code linspace(0, T−1, n+1).round()[::-1][:-1]}, duplicates dropped keeping order; resets the multistep state. */
    @Override
    public void setTimesteps(int n) {
        int T = config.numTrainTimesteps();
        Schedulers.checkSteps(T, n);
        // numpy linspace: i * step + start, last element set to stop; round half to even (np.round)
        double stop = T - 1, step = stop / n;
        Set<Long> unique = new LinkedHashSet<>();
        for (int k = n; k >= 1; k--) unique.add((long) Math.rint(k == n ? stop : k * step));
        timesteps = unique.stream().mapToLong(Long::longValue).toArray();
        numInferenceSteps = timesteps.length;
        modelOutputs[0] = modelOutputs[1] = null;
        lowerOrderNums = 0;
    }

    /** The generator is not used (the ODE solver is deterministic). */
    @Override
    public StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator) {
        return step(modelOutput, Scheduler.discrete(t), sample);
    }

    /**
     * One multistep update from {@code t} to the next timestep: first order on the first step (and on the last step
     * when fewer than 15 steps, or always with {@link #eulerAtFinal()}), else the 2M midpoint update. Returns x_prev and the x0 prediction of this step.
     */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample) {
        if (numInferenceSteps == 0) throw new IllegalStateException("DPMSolverMultistepScheduler: call setTimesteps before step");
        Schedulers.sameShape(modelOutput, "model output", sample, "sample");
        int stepIndex = numInferenceSteps - 1; // 0.16: a timestep not in the schedule counts as the last
        for (int i = 0; i < numInferenceSteps; i++) if (timesteps[i] == t) { stepIndex = i; break; }
        long prev = stepIndex == numInferenceSteps - 1 ? 0 : timesteps[stepIndex + 1];
        boolean lowerOrderFinal = stepIndex == numInferenceSteps - 1 && (eulerAtFinal || numInferenceSteps < 15);

        INDArray x0 = convertModelOutput(modelOutput, t, sample);
        modelOutputs[0] = modelOutputs[1];
        modelOutputs[1] = x0;
        INDArray prevSample;
        if (lowerOrderNums < 1 || lowerOrderFinal) {
            prevSample = firstOrderUpdate(x0, t, prev, sample);
        } else {
            long s1 = timesteps[stepIndex - 1];
            prevSample = secondOrderUpdate(modelOutputs[1], modelOutputs[0], s1, t, prev, sample);
        }
        if (lowerOrderNums < SOLVER_ORDER) lowerOrderNums++;
        return new StepOutput(prevSample, x0);
    }

    /** dpmsolver++ works on the data prediction x0: ε → (x − σ_t·ε)/α_t, v → α_t·x − σ_t·v, sample as is. */
    INDArray convertModelOutput(INDArray modelOutput, long t, INDArray sample) {
        float a = alphaT[(int) t], s = sigmaT[(int) t];
        return switch (config.predictionType()) {
            case EPSILON -> sample.sub(modelOutput.mul(s)).divi(a);
            case SAMPLE -> modelOutput.dup();
            case V_PREDICTION -> sample.mul(a).subi(modelOutput.mul(s));
        };
    }

    /** DPM-Solver++ eq. (first order, = DDIM): x_t = (σ_t/σ_s)·x_s − α_t·(e^{−h} − 1)·x0, h = λ_t − λ_s. */
    INDArray firstOrderUpdate(INDArray x0, long s, long t, INDArray sample) {
        double h = lambdaT[(int) t] - lambdaT[(int) s];
        float c1 = (float) ((double) sigmaT[(int) t] / sigmaT[(int) s]);
        float c2 = (float) (-alphaT[(int) t] * Math.expm1(-h));
        return sample.mul(c1).addi(x0.mul(c2));
    }

    /**
     * 2M midpoint: with h = λ_t − λ_{s0}, r0 = (λ_{s0} − λ_{s1})/h, D0 = m0, D1 = (m0 − m1)/r0:
     * x_t = (σ_t/σ_{s0})·x − α_t(e^{−h} − 1)·D0 − ½·α_t(e^{−h} − 1)·D1.
     */
    INDArray secondOrderUpdate(INDArray m0, INDArray m1, long s1, long s0, long t, INDArray sample) {
        double h = lambdaT[(int) t] - lambdaT[(int) s0];
        double r0 = (lambdaT[(int) s0] - lambdaT[(int) s1]) / h;
        double e = alphaT[(int) t] * (Math.exp(-h) - 1.0);
        INDArray d1 = m0.sub(m1).muli((float) (1.0 / r0));
        return sample.mul((float) ((double) sigmaT[(int) t] / sigmaT[(int) s0]))
                .subi(m0.mul((float) e))
                .subi(d1.muli((float) (0.5 * e)));
    }

    @Override
    public INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps) {
        return Schedulers.addNoise(schedule, original, noise, timesteps);
    }
}
