package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.random.RandomGenerator;

import static org.lavie4j.nn.schedulers.Schedulers.sqrt;

/**
 * Ancestral DDPM sampling (Ho et al. 2020; diffusers 0.16 {@code scheduling_ddpm.py}). Leading spacing with no
 * {@code steps_offset} (0.16 DDPM has none: 50 steps are 980, 960, …, 0); the previous timestep is
 * {@code t − T // n}; the last step uses ᾱ_prev = 1. Noise is added only for t > 0.
 */
public final class DDPMScheduler implements Scheduler {
    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private int numInferenceSteps; // 0 until setTimesteps
    private long[] timesteps;

    public DDPMScheduler(SchedulerConfig config) {
        if (config.kind() != SchedulerKind.DDPM) throw new IllegalArgumentException("DDPMScheduler needs a DDPM config, got " + config.kind());
        this.config = config;
        this.schedule = NoiseSchedule.of(config);
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
        timesteps = TimestepSpacing.leading(config.numTrainTimesteps(), n, 0);
        numInferenceSteps = n;
    }

    /** t − T // n (n = T before setTimesteps). */
    public long previousTimestep(long t) {
        int n = numInferenceSteps > 0 ? numInferenceSteps : config.numTrainTimesteps();
        return t - config.numTrainTimesteps() / n;
    }

    @Override
    public StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator) {
        long ti = Scheduler.discrete(t);
        INDArray noise = ti > 0 ? Schedulers.randn(generator, modelOutput) : null;
        return step(modelOutput, ti, sample, noise);
    }

    /**
     * One step with explicit variance noise (required for t > 0, ignored at t = 0).
     * x0 from the model output; mean = (√ᾱ_prev·β'_t/(1−ᾱ_t))·x0 + (√α'_t·(1−ᾱ_prev)/(1−ᾱ_t))·x_t (DDPM eq. 7);
     * x_{t−1} = mean + σ_t·z.
     */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample, INDArray varianceNoise) {
        Schedulers.sameShape(modelOutput, "model output", sample, "sample");
        long prev = previousTimestep(t);
        float at = schedule.alphaCumprod(t);
        float ap = prev >= 0 ? schedule.alphaCumprod(prev) : 1f;
        float bt = 1f - at;
        float bp = 1f - ap;
        float curAlpha = at / ap;
        float curBeta = 1f - curAlpha;
        INDArray x0 = switch (config.predictionType()) {
            case EPSILON -> sample.sub(modelOutput.mul(sqrt(bt))).divi(sqrt(at));
            case SAMPLE -> modelOutput.dup();
            case V_PREDICTION -> sample.mul(sqrt(at)).subi(modelOutput.mul(sqrt(bt)));
        };
        if (config.clipSample()) x0 = Schedulers.clip(x0, config.clipSampleRange());
        float x0Coeff = (sqrt(ap) * curBeta) / bt;
        float sampleCoeff = sqrt(curAlpha) * bp / bt;
        INDArray prevSample = x0.mul(x0Coeff).addi(sample.mul(sampleCoeff));
        if (t > 0) {
            if (varianceNoise == null) throw new IllegalArgumentException("DDPM step at t = " + t + " > 0 needs variance noise");
            Schedulers.sameShape(varianceNoise, "variance noise", sample, "sample");
            prevSample.addi(varianceNoise.mul(std(t)));
        }
        return new StepOutput(prevSample, x0);
    }

    /** The standard deviation of the noise added at t (diffusers {@code _get_variance}, then ** 0.5 where it applies). */
    float std(long t) {
        long prev = previousTimestep(t);
        float at = schedule.alphaCumprod(t);
        float ap = prev >= 0 ? schedule.alphaCumprod(prev) : 1f;
        float curBeta = 1f - at / ap;
        float variance = Math.max((1f - ap) / (1f - at) * curBeta, 1e-20f);
        return switch (config.varianceType()) {
            case FIXED_SMALL -> sqrt(variance);
            case FIXED_SMALL_LOG -> (float) Math.exp(0.5f * (float) Math.log(variance));
            case FIXED_LARGE -> sqrt(curBeta);
        };
    }

    @Override
    public INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps) {
        return Schedulers.addNoise(schedule, original, noise, timesteps);
    }
}
