package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.random.RandomGenerator;

import static org.lavie4j.nn.schedulers.Schedulers.sqrt;

/**
 * Euler discrete sampler (Karras et al. 2022 Alg. 2 with s_churn = 0; diffusers 0.16
 * {@code scheduling_euler_discrete.py}). σ_k = √((1−ᾱ_k)/ᾱ_k) in float32; timesteps {@code linspace(0, T−1, n)}
 * reversed (float64, fractional: the UNet gets them as they are); σ_i by numpy-style linear interpolation in double,
 * rounded to float32, with a final σ = 0. The model input is x/√(σ²+1). {@link #initNoiseSigma()} is the largest
 * training σ (set at construction, as in 0.16). 0.16 has no {@code steps_offset} here and no s_churn noise is used
 * (the reference draws a tensor and multiplies it by 0), so no generator is needed.
 */
public final class EulerDiscreteScheduler implements Scheduler {
    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final float[] trainSigmas; // σ_k, k = 0..T−1 (float32)
    private final float initNoiseSigma;
    private double[] timesteps;
    private float[] sigmas; // one per timestep, plus a final 0

    public EulerDiscreteScheduler(SchedulerConfig config) {
        if (config.kind() != SchedulerKind.EULER_DISCRETE)
            throw new IllegalArgumentException("EulerDiscreteScheduler needs an EULER_DISCRETE config, got " + config.kind());
        this.config = config;
        this.schedule = NoiseSchedule.of(config);
        int T = config.numTrainTimesteps();
        float[] ac = schedule.alphasCumprod();
        trainSigmas = new float[T];
        for (int k = 0; k < T; k++) trainSigmas[k] = sqrt((1f - ac[k]) / ac[k]);
        timesteps = new double[T];
        sigmas = new float[T + 1];
        float max = 0f;
        for (int i = 0; i < T; i++) {
            timesteps[i] = T - 1 - i;
            sigmas[i] = trainSigmas[T - 1 - i];
            max = Math.max(max, sigmas[i]);
        }
        initNoiseSigma = max;
    }

    @Override public SchedulerConfig config() { return config; }
    @Override public NoiseSchedule schedule() { return schedule; }
    @Override public float initNoiseSigma() { return initNoiseSigma; }
    @Override public INDArray timesteps() { return Nd4j.createFromArray(timesteps.clone()); }

    /** The σ of each timestep followed by 0, float32 [n + 1]. */
    public INDArray sigmas() { return Nd4j.createFromArray(sigmas.clone()); }

    @Override
    public void setTimesteps(int n) {
        double[] ts = TimestepSpacing.linspace(config.numTrainTimesteps(), n);
        float[] s = new float[n + 1];
        for (int i = 0; i < n; i++) s[i] = (float) interp(ts[i]);
        timesteps = ts;
        sigmas = s;
    }

    /** numpy {@code interp(x, arange(T), trainSigmas)}: exact at grid points, slope·(x − x_j) + y_j between them. */
    private double interp(double x) {
        int last = trainSigmas.length - 1;
        if (x <= 0) return trainSigmas[0];
        if (x >= last) return trainSigmas[last];
        int j = (int) Math.floor(x);
        if (x == j) return trainSigmas[j];
        double slope = ((double) trainSigmas[j + 1] - trainSigmas[j]) / 1.0;
        return slope * (x - j) + trainSigmas[j];
    }

    private int index(double t) {
        for (int i = 0; i < timesteps.length; i++) if (timesteps[i] == t || (float) timesteps[i] == (float) t) return i; // exact, or as a float32 copy
        throw new IllegalArgumentException("timestep " + t + " is not one of this scheduler's timesteps (call setTimesteps and pass one of timesteps())");
    }

    /** x / √(σ² + 1). */
    @Override
    public INDArray scaleModelInput(INDArray sample, double t) {
        float sigma = sigmas[index(t)];
        return sample.div(sqrt(sigma * sigma + 1f));
    }

    /** Euler step x_{i+1} = x + ((x − x0)/σ_i)·(σ_{i+1} − σ_i); the generator is not used (s_churn = 0). */
    @Override
    public StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator) {
        return step(modelOutput, t, sample);
    }

    /** Euler step (s_churn = 0, so σ̂ = σ). */
    public StepOutput step(INDArray modelOutput, double t, INDArray sample) {
        Schedulers.sameShape(modelOutput, "model output", sample, "sample");
        int i = index(t);
        float sigma = sigmas[i];
        float sigmaHat = sigma * (0f + 1f);
        INDArray x0 = switch (config.predictionType()) {
            case SAMPLE -> modelOutput.dup();
            case EPSILON -> sample.sub(modelOutput.mul(sigmaHat));
            case V_PREDICTION -> modelOutput.mul(-sigma / sqrt(sigma * sigma + 1f)).addi(sample.div(sigma * sigma + 1f));
        };
        INDArray derivative = sample.sub(x0).divi(sigmaHat);
        float dt = sigmas[i + 1] - sigmaHat;
        INDArray prev = sample.add(derivative.muli(dt));
        return new StepOutput(prev, x0);
    }

    /** x0 + σ_t·ε, σ of each given timestep (which must be one of {@link #timesteps()}). */
    @Override
    public INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps) {
        Schedulers.sameShape(original, "original samples", noise, "noise");
        long batch = original.size(0);
        if (timesteps.length() != 1 && timesteps.length() != batch)
            throw new IllegalArgumentException(timesteps.length() + " timesteps for a batch of " + batch);
        INDArray flat = timesteps.reshape(timesteps.length());
        float[] one = new float[(int) timesteps.length()], s = new float[one.length];
        for (int b = 0; b < one.length; b++) {
            one[b] = 1f;
            s[b] = sigmas[index(flat.getDouble(b))];
        }
        return Schedulers.perBatch(original, one, noise, s);
    }
}
