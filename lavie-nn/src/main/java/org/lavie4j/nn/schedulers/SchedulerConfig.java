package org.lavie4j.nn.schedulers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Set;

/**
 * The configuration of one diffusers 0.16 scheduler ({@code scheduler_config.json} / constructor kwargs), typed and
 * validated. Fields a class does not use keep their defaults and are ignored by it (DDPM has no {@code steps_offset}
 * in 0.16; Euler none either).
 *
 * <p>{@link #fromJson} follows diffusers' {@code from_config}: keys the target class accepts are read, missing ones
 * take the class defaults, keys of the other ported classes and the metadata keys ({@code _class_name},
 * {@code _diffusers_version}, {@code class}) are ignored; a key no ported class knows, or a value the port does not
 * implement (thresholding, learned variance, trained betas, Karras sigmas, PRK warm-up, ...), is an error.
 */
public record SchedulerConfig(SchedulerKind kind, int numTrainTimesteps, double betaStart, double betaEnd,
                              BetaSchedule betaSchedule, PredictionType predictionType, VarianceType varianceType,
                              boolean clipSample, double clipSampleRange, boolean setAlphaToOne, int stepsOffset,
                              boolean skipPrkSteps, TimestepSpacing timestepSpacing) {

    /** Keys that are never scheduler arguments. */
    public static final Set<String> IGNORED_KEYS = Set.of("_class_name", "_diffusers_version", "class");

    public SchedulerConfig {
        if (kind == null || betaSchedule == null || predictionType == null || varianceType == null || timestepSpacing == null)
            throw new IllegalArgumentException("scheduler config fields must not be null");
        if (numTrainTimesteps <= 1) throw new IllegalArgumentException("num_train_timesteps must be > 1, got " + numTrainTimesteps);
        if (betaSchedule != BetaSchedule.SQUAREDCOS_CAP_V2 && !(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1))
            throw new IllegalArgumentException("need 0 < beta_start <= beta_end < 1, got " + betaStart + ", " + betaEnd);
        if (stepsOffset < 0) throw new IllegalArgumentException("steps_offset must be >= 0, got " + stepsOffset);
        if (!(clipSampleRange > 0)) throw new IllegalArgumentException("clip_sample_range must be > 0, got " + clipSampleRange);
        TimestepSpacing fixed = kind == SchedulerKind.EULER_DISCRETE || kind == SchedulerKind.DPM_SOLVER_MULTISTEP ? TimestepSpacing.LINSPACE : TimestepSpacing.LEADING;
        if (timestepSpacing != fixed)
            throw new IllegalArgumentException(kind.className() + " in diffusers 0.16 only has '" + fixed.json() + "' timestep spacing, got '" + timestepSpacing.json() + "'");
    }

    /** The 0.16 class defaults of {@code kind} (linear 1e-4..0.02, 1000 steps). */
    public static SchedulerConfig defaults(SchedulerKind kind) {
        boolean clip = kind == SchedulerKind.DDPM || kind == SchedulerKind.DDIM;
        return new SchedulerConfig(kind, 1000, 0.0001, 0.02, BetaSchedule.LINEAR, PredictionType.EPSILON,
                VarianceType.FIXED_SMALL, clip, 1.0, kind == SchedulerKind.DDIM, 0, false,
                kind == SchedulerKind.EULER_DISCRETE || kind == SchedulerKind.DPM_SOLVER_MULTISTEP ? TimestepSpacing.LINSPACE : TimestepSpacing.LEADING);
    }

    /**
     * LaVie base sampling: the SD v1.4 scheduler file loaded into {@code kind} with the linear 1e-4..0.02 override
     * (clip_sample false, set_alpha_to_one false, steps_offset 1, skip_prk_steps true for PNDM).
     */
    public static SchedulerConfig lavieBase(SchedulerKind kind) {
        return new SchedulerConfig(kind, 1000, 0.0001, 0.02, BetaSchedule.LINEAR, PredictionType.EPSILON,
                VarianceType.FIXED_SMALL, false, 1.0, false, 1, kind == SchedulerKind.PNDM,
                kind == SchedulerKind.EULER_DISCRETE || kind == SchedulerKind.DPM_SOLVER_MULTISTEP ? TimestepSpacing.LINSPACE : TimestepSpacing.LEADING);
    }

    /** Stable Diffusion v1.4's scheduler file (scaled_linear 0.00085..0.012) loaded into {@code kind}. */
    public static SchedulerConfig sd14(SchedulerKind kind) {
        SchedulerConfig b = lavieBase(kind);
        return new SchedulerConfig(kind, 1000, 0.00085, 0.012, BetaSchedule.SCALED_LINEAR, b.predictionType(),
                b.varianceType(), false, 1.0, false, 1, b.skipPrkSteps(), b.timestepSpacing());
    }

    /** Copy with another prediction type. */
    public SchedulerConfig withPredictionType(PredictionType p) {
        return new SchedulerConfig(kind, numTrainTimesteps, betaStart, betaEnd, betaSchedule, p, varianceType,
                clipSample, clipSampleRange, setAlphaToOne, stepsOffset, skipPrkSteps, timestepSpacing);
    }

    /**
     * The same schedule for another scheduler class, as loading one {@code scheduler_config.json} into another class
     * does ({@code Kind.from_config}): betas, prediction type and offsets are kept; the fields each class fixes in
     * diffusers 0.16 (timestep spacing; PNDM's PRK warm-up, which the port skips) are set for {@code k}.
     */
    public SchedulerConfig withKind(SchedulerKind k) {
        if (k == kind) return this;
        TimestepSpacing spacing = k == SchedulerKind.EULER_DISCRETE || k == SchedulerKind.DPM_SOLVER_MULTISTEP ? TimestepSpacing.LINSPACE : TimestepSpacing.LEADING;
        return new SchedulerConfig(k, numTrainTimesteps, betaStart, betaEnd, betaSchedule, predictionType, varianceType,
                clipSample, clipSampleRange, setAlphaToOne, stepsOffset, k == SchedulerKind.PNDM || skipPrkSteps, spacing);
    }

    /** This config as a diffusers {@code scheduler_config.json} of its class ({@link #fromJson(String)} reads it back). */
    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("_class_name", kind.className());
        Set<String> args = kind.arguments();
        n.put("num_train_timesteps", numTrainTimesteps);
        n.put("beta_start", betaStart);
        n.put("beta_end", betaEnd);
        n.put("beta_schedule", betaSchedule.json());
        n.put("prediction_type", predictionType.json());
        if (args.contains("variance_type") && kind != SchedulerKind.DPM_SOLVER_MULTISTEP) n.put("variance_type", varianceType.json());
        // every field, as Stable Diffusion's file lists keys of several classes: another class loaded from this file
        // gets the same offsets (see withKind)
        n.put("clip_sample", clipSample);
        n.put("clip_sample_range", clipSampleRange);
        n.put("set_alpha_to_one", setAlphaToOne);
        n.put("steps_offset", stepsOffset);
        n.put("skip_prk_steps", skipPrkSteps);
        return n;
    }

    /** Parses a {@code scheduler_config.json}; the class comes from its {@code _class_name} (or {@code class}). */
    public static SchedulerConfig fromJson(String json) {
        JsonNode n = parse(json);
        String cls = n.path("_class_name").asText(n.path("class").asText(""));
        if (cls.isEmpty()) throw new IllegalArgumentException("scheduler config has no _class_name");
        return fromJson(n, SchedulerKind.fromClassName(cls));
    }

    /** Reads a {@code scheduler_config.json} file into {@code kind} (as {@code Kind.from_pretrained} does). */
    public static SchedulerConfig fromFile(Path file, SchedulerKind kind) throws IOException {
        try {
            return fromJson(parse(Files.readString(file)), kind);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** Builds {@code kind} from a diffusers config object, whatever class the object names. */
    public static SchedulerConfig fromJson(JsonNode n, SchedulerKind kind) {
        if (n == null || !n.isObject()) throw new IllegalArgumentException("scheduler config must be a JSON object");
        Set<String> known = new HashSet<>(IGNORED_KEYS);
        known.add("timestep_spacing");
        for (SchedulerKind k : SchedulerKind.values()) known.addAll(k.arguments());
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!known.contains(key)) throw new IllegalArgumentException("unknown scheduler config key '" + key + "'");
        }
        SchedulerConfig d = defaults(kind);
        Set<String> args = kind.arguments();
        JsonNode tb = n.get("trained_betas");
        if (args.contains("trained_betas") && tb != null && !tb.isNull())
            throw new IllegalArgumentException("trained_betas is not supported (use a beta_schedule)");
        if (args.contains("thresholding") && bool(n, "thresholding", false))
            throw new IllegalArgumentException("thresholding true (dynamic thresholding) is not supported");
        if (args.contains("interpolation_type") && !n.path("interpolation_type").asText("linear").equals("linear"))
            throw new IllegalArgumentException("interpolation_type '" + n.get("interpolation_type").asText() + "' is not supported (linear)");
        if (args.contains("use_karras_sigmas") && bool(n, "use_karras_sigmas", false))
            throw new IllegalArgumentException("use_karras_sigmas true is not supported");
        if (kind == SchedulerKind.PNDM && !bool(n, "skip_prk_steps", false))
            throw new IllegalArgumentException("PNDMScheduler: skip_prk_steps false (Runge-Kutta warm-up) is not implemented");
        if (kind == SchedulerKind.DPM_SOLVER_MULTISTEP) DPMSolverMultistepScheduler.checkSupported(n);
        TimestepSpacing spacing = n.has("timestep_spacing") ? TimestepSpacing.fromJson(n.get("timestep_spacing").asText()) : d.timestepSpacing();
        return new SchedulerConfig(kind,
                args.contains("num_train_timesteps") ? integer(n, "num_train_timesteps", d.numTrainTimesteps()) : d.numTrainTimesteps(),
                number(n, "beta_start", d.betaStart()),
                number(n, "beta_end", d.betaEnd()),
                n.has("beta_schedule") ? BetaSchedule.fromJson(n.get("beta_schedule").asText()) : d.betaSchedule(),
                n.has("prediction_type") ? PredictionType.fromJson(n.get("prediction_type").asText()) : d.predictionType(),
                args.contains("variance_type") && n.has("variance_type") ? VarianceType.fromJson(n.get("variance_type").asText()) : d.varianceType(),
                // present keys are kept even where the class does not take them (diffusers' hidden config, which
                // from_config carries over to another class); each class reads only its own
                bool(n, "clip_sample", d.clipSample()),
                number(n, "clip_sample_range", d.clipSampleRange()),
                bool(n, "set_alpha_to_one", d.setAlphaToOne()),
                integer(n, "steps_offset", d.stepsOffset()),
                kind == SchedulerKind.PNDM || bool(n, "skip_prk_steps", d.skipPrkSteps()),
                spacing);
    }

    private static JsonNode parse(String json) {
        try {
            return new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("scheduler config is not valid JSON: " + e.getMessage(), e);
        }
    }

    private static boolean bool(JsonNode n, String key, boolean dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw new IllegalArgumentException(key + " must be true or false, got " + v);
        return v.asBoolean();
    }

    private static int integer(JsonNode n, String key, int dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.canConvertToInt() || !v.isIntegralNumber()) throw new IllegalArgumentException(key + " must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(JsonNode n, String key, double dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber()) throw new IllegalArgumentException(key + " must be a number, got " + v);
        return v.asDouble();
    }
}
