package org.lavie4j.nn.schedulers;

import java.util.Set;

/** The scheduler classes ported from diffusers 0.16, with the constructor arguments each accepts there. */
public enum SchedulerKind {
    DDPM("DDPMScheduler", Set.of("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
            "variance_type", "clip_sample", "prediction_type", "thresholding", "dynamic_thresholding_ratio",
            "clip_sample_range", "sample_max_value")),
    DDIM("DDIMScheduler", Set.of("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
            "clip_sample", "set_alpha_to_one", "steps_offset", "prediction_type", "thresholding",
            "dynamic_thresholding_ratio", "clip_sample_range", "sample_max_value")),
    EULER_DISCRETE("EulerDiscreteScheduler", Set.of("num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
            "trained_betas", "prediction_type", "interpolation_type", "use_karras_sigmas")),
    PNDM("PNDMScheduler", Set.of("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
            "skip_prk_steps", "set_alpha_to_one", "prediction_type", "steps_offset")),
    DPM_SOLVER_MULTISTEP("DPMSolverMultistepScheduler", Set.of("num_train_timesteps", "beta_start", "beta_end",
            "beta_schedule", "trained_betas", "solver_order", "prediction_type", "thresholding",
            "dynamic_thresholding_ratio", "sample_max_value", "algorithm_type", "solver_type", "lower_order_final",
            "use_karras_sigmas", "lambda_min_clipped", "variance_type"));

    private final String className;
    private final Set<String> arguments;

    SchedulerKind(String className, Set<String> arguments) {
        this.className = className;
        this.arguments = arguments;
    }

    /** The diffusers class name ({@code _class_name} in scheduler_config.json). */
    public String className() { return className; }

    /** The keyword arguments the 0.16 constructor accepts; other config keys are dropped, as diffusers does. */
    public Set<String> arguments() { return arguments; }

    public static SchedulerKind fromClassName(String s) {
        for (SchedulerKind k : values()) if (k.className.equals(s)) return k;
        throw new IllegalArgumentException("unsupported scheduler class '" + s
                + "' (supported: DDPMScheduler, DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler, DPMSolverMultistepScheduler)");
    }
}
