package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.random.RandomGenerator;

import static org.lavie4j.nn.schedulers.Schedulers.sqrt;

/**
 * DDIM (Song et al. 2020; diffusers 0.16 {@code scheduling_ddim.py}). Leading spacing plus {@code steps_offset}
 * (50 steps with offset 1: 981, 961, …, 1); previous timestep {@code t − T // n}; below 0 it uses ᾱ = 1 when
 * {@code set_alpha_to_one}, else ᾱ[0]. eta = 0 is the deterministic sampler; eta > 0 needs explicit noise.
 */
public final class DDIMScheduler implements Scheduler {
    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final float finalAlphaCumprod;
    private int numInferenceSteps;
    private long[] timesteps;

    public DDIMScheduler(SchedulerConfig config) {
        if (config.kind() != SchedulerKind.DDIM) throw new IllegalArgumentException("DDIMScheduler needs a DDIM config, got " + config.kind());
        this.config = config;
        this.schedule = NoiseSchedule.of(config);
        this.finalAlphaCumprod = config.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
        int T = config.numTrainTimesteps();
        this.timesteps = new long[T];
        for (int i = 0; i < T; i++) timesteps[i] = T - 1 - i;
    }

    @Override public SchedulerConfig config() { return config; }
    @Override public NoiseSchedule schedule() { return schedule; }
    @Override public float initNoiseSigma() { return 1f; }
    @Override public INDArray timesteps() { return Nd4j.createFromArray(timesteps.clone()); }
    @Override public INDArray scaleModelInput(INDArray sample, double t) { return sample; }

    @Override
    public void setTimesteps(int n) {
        timesteps = TimestepSpacing.leading(config.numTrainTimesteps(), n, config.stepsOffset());
        numInferenceSteps = n;
    }

    /** Deterministic step (eta = 0); the generator is not used. */
    @Override
    public StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator) {
        return step(modelOutput, Scheduler.discrete(t), sample, 0.0, null);
    }

    /** Deterministic step (eta = 0). */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample) {
        return step(modelOutput, t, sample, 0.0, null);
    }

    /**
     * DDIM eq. 12: x_{t−1} = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·ε + σ·z, σ = eta·√((1−ᾱ_prev)/(1−ᾱ_t)·(1 − ᾱ_t/ᾱ_prev)).
     * {@code varianceNoise} z is required when eta > 0 and ignored otherwise.
     */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample, double eta, INDArray varianceNoise) {
        if (numInferenceSteps == 0) throw new IllegalStateException("DDIMScheduler: call setTimesteps before step");
        if (!(eta >= 0)) throw new IllegalArgumentException("eta must be >= 0, got " + eta);
        Schedulers.sameShape(modelOutput, "model output", sample, "sample");
        long prev = t - config.numTrainTimesteps() / numInferenceSteps;
        float at = schedule.alphaCumprod(t);
        float ap = prev >= 0 ? schedule.alphaCumprod(prev) : finalAlphaCumprod;
        float bt = 1f - at;
        INDArray x0, eps;
        switch (config.predictionType()) {
            case EPSILON -> {
                x0 = sample.sub(modelOutput.mul(sqrt(bt))).divi(sqrt(at));
                eps = modelOutput;
            }
            case SAMPLE -> {
                x0 = modelOutput.dup();
                eps = sample.sub(x0.mul(sqrt(at))).divi(sqrt(bt));
            }
            case V_PREDICTION -> {
                x0 = sample.mul(sqrt(at)).subi(modelOutput.mul(sqrt(bt)));
                eps = modelOutput.mul(sqrt(at)).addi(sample.mul(sqrt(bt)));
            }
            default -> throw new AssertionError();
        }
        if (config.clipSample()) x0 = Schedulers.clip(x0, config.clipSampleRange());
        float variance = ((1f - ap) / bt) * (1f - at / ap);
        float std = (float) eta * sqrt(variance);
        INDArray prevSample = x0.mul(sqrt(ap)).addi(eps.mul(sqrt(1f - ap - std * std)));
        if (eta > 0) {
            if (varianceNoise == null) throw new IllegalArgumentException("DDIM step with eta " + eta + " > 0 needs variance noise");
            Schedulers.sameShape(varianceNoise, "variance noise", sample, "sample");
            prevSample.addi(varianceNoise.mul(std));
        }
        return new StepOutput(prevSample, x0);
    }

    @Override
    public INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps) {
        return Schedulers.addNoise(schedule, original, noise, timesteps);
    }
}
