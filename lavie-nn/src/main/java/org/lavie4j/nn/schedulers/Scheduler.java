package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.random.RandomGenerator;

/**
 * A diffusion sampler as a small algorithm object (diffusers 0.16 semantics): {@link #setTimesteps}, then for each
 * {@code t} of {@link #timesteps()} the loop calls {@link #scaleModelInput}, the model, and {@link #step}. Tensors are
 * float32 INDArrays; randomness enters only through an explicit noise tensor or an explicit seeded generator.
 * Instances are mutable (timesteps, PNDM's history) and not thread-safe: one per denoising loop.
 * {@link RespacedDDIMScheduler} (the interpolation stage's guided-diffusion sampler) is not a diffusers class and is
 * built directly, not by {@link #create}.
 */
public sealed interface Scheduler permits DDPMScheduler, DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler,
        DPMSolverMultistepScheduler, RespacedDDIMScheduler {

    /** A fresh scheduler of the config's class. */
    static Scheduler create(SchedulerConfig config) {
        return switch (config.kind()) {
            case DDPM -> new DDPMScheduler(config);
            case DDIM -> new DDIMScheduler(config);
            case EULER_DISCRETE -> new EulerDiscreteScheduler(config);
            case PNDM -> new PNDMScheduler(config);
            case DPM_SOLVER_MULTISTEP -> new DPMSolverMultistepScheduler(config);
        };
    }

    SchedulerConfig config();

    /** The training schedule (betas, ᾱ). */
    NoiseSchedule schedule();

    /** Chooses {@code n} inference steps; {@code 0 < n <= num_train_timesteps}. Resets any multistep state. */
    void setTimesteps(int n);

    /** The current timesteps, in loop order: INT64 for DDPM/DDIM/PNDM, FLOAT64 (fractional) for Euler. */
    INDArray timesteps();

    /** The scale of the initial noise (1 except for Euler). */
    float initNoiseSigma();

    /** The model input for timestep {@code t} (identity except for Euler). */
    INDArray scaleModelInput(INDArray sample, double t);

    /**
     * One reverse step from {@code t}; {@code generator} is used only where the scheduler draws noise (DDPM for t > 0)
     * and may be null otherwise.
     */
    StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator);

    /** The forward process q(x_t | x0) with the given noise; {@code timesteps}: one per batch element, or one. */
    INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps);

    /** The v-prediction target √ᾱ_t·ε − √(1−ᾱ_t)·x0 for training; {@code timesteps} as in {@link #addNoise}. */
    default INDArray getVelocity(INDArray sample, INDArray noise, INDArray timesteps) {
        return Schedulers.velocity(schedule(), sample, noise, timesteps);
    }

    /** A discrete timestep given as a double. */
    static long discrete(double t) {
        if (t != Math.rint(t) || Double.isInfinite(t))
            throw new IllegalArgumentException("timestep " + t + " is not an integer timestep of this scheduler");
        return (long) t;
    }
}
