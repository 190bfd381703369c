package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.nn.schedulers.SchedulerKind;

import java.util.Locale;

/**
 * What a text-to-video model is and how it samples by default: the values a caller (or {@code lavie sample}) uses when
 * it does not choose. Stored as {@code lavie4j.json} in a lavie4j model folder; LaVie's released base model gets
 * {@link #lavieBase()} (16 frames at 320×512, 8 fps, DDPM, 50 steps, guidance 7.5: schedulers-and-pipelines.md §5).
 *
 * @param name          short name shown to users
 * @param description   one line on what the weights are; an untrained model says so here
 * @param trained       false for random weights: such a model produces noise, and tools must say so
 * @param frames        default video length
 * @param height        default height in pixels
 * @param width         default width in pixels
 * @param fps           frame rate of the written video
 * @param steps         default denoising steps
 * @param guidanceScale default classifier-free guidance scale
 * @param scheduler     default sampler
 */
public record ModelInfo(String name, String description, boolean trained, int frames, int height, int width, double fps,
                        int steps, double guidanceScale, SchedulerKind scheduler) {

    /** File name of the info inside a lavie4j model folder. */
    public static final String FILE = "lavie4j.json";

    public ModelInfo {
        if (name == null || name.isBlank()) throw new IllegalArgumentException("ModelInfo: name must not be blank");
        if (description == null) description = "";
        if (frames < 1 || height < 8 || width < 8 || height % 8 != 0 || width % 8 != 0)
            throw new IllegalArgumentException("ModelInfo: frames >= 1 and height, width positive multiples of 8 required, got "
                    + frames + " frames at " + height + "x" + width);
        if (!(fps > 0) || !Double.isFinite(fps)) throw new IllegalArgumentException("ModelInfo: fps must be positive, got " + fps);
        if (steps < 1) throw new IllegalArgumentException("ModelInfo: steps must be >= 1, got " + steps);
        if (!(guidanceScale >= 0) || !Double.isFinite(guidanceScale))
            throw new IllegalArgumentException("ModelInfo: guidance_scale must be finite and >= 0, got " + guidanceScale);
        if (scheduler == null) throw new IllegalArgumentException("ModelInfo: scheduler must not be null");
    }

    /** LaVie's released base model (the original's sample.py defaults). */
    public static ModelInfo lavieBase() {
        return new ModelInfo("lavie-base", "LaVie base text-to-video model (Vchitect), lavie_base.pt with Stable Diffusion v1.4 parts",
                true, 16, 320, 512, 8.0, 50, 7.5, SchedulerKind.DDPM);
    }

    /** A copy with another name and description and the given trained flag. */
    public ModelInfo describedAs(String newName, String newDescription, boolean isTrained) {
        return new ModelInfo(newName, newDescription, isTrained, frames, height, width, fps, steps, guidanceScale, scheduler);
    }

    /** A copy with another default size and length. */
    public ModelInfo withVideo(int newFrames, int newHeight, int newWidth, double newFps) {
        return new ModelInfo(name, description, trained, newFrames, newHeight, newWidth, newFps, steps, guidanceScale, scheduler);
    }

    /** A copy with other sampling defaults. */
    public ModelInfo withSampling(int newSteps, double newGuidance, SchedulerKind newScheduler) {
        return new ModelInfo(name, description, trained, frames, height, width, fps, newSteps, newGuidance, newScheduler);
    }

    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("name", name);
        n.put("description", description);
        n.put("trained", trained);
        n.put("frames", frames);
        n.put("height", height);
        n.put("width", width);
        n.put("fps", fps);
        n.put("steps", steps);
        n.put("guidance_scale", guidanceScale);
        n.put("scheduler", scheduler.className());
        return n;
    }

    /** Reads {@link #toJson()}'s form; every key is required, unknown keys are errors. */
    public static ModelInfo fromJson(JsonNode n) {
        if (n == null || !n.isObject()) throw new IllegalArgumentException("model info must be a JSON object");
        var known = java.util.Set.of("name", "description", "trained", "frames", "height", "width", "fps", "steps",
                "guidance_scale", "scheduler");
        n.fieldNames().forEachRemaining(k -> {
            if (!known.contains(k)) throw new IllegalArgumentException("model info: unknown key '" + k + "' (known: " + new java.util.TreeSet<>(known) + ")");
        });
        for (String k : known)
            if (!n.hasNonNull(k)) throw new IllegalArgumentException("model info: missing key '" + k + "'");
        if (!n.get("trained").isBoolean()) throw new IllegalArgumentException("model info: 'trained' must be true or false, got " + n.get("trained"));
        return new ModelInfo(n.get("name").asText(), n.get("description").asText(), n.get("trained").asBoolean(),
                integer(n, "frames"), integer(n, "height"), integer(n, "width"), number(n, "fps"), integer(n, "steps"),
                number(n, "guidance_scale"), scheduler(n.get("scheduler").asText()));
    }

    /**
     * A sampler by its diffusers class name or its short name ({@code ddpm}, {@code ddim}, {@code euler}, {@code pndm},
     * {@code dpm++} / {@code dpmsolver++}), case-insensitive.
     */
    public static SchedulerKind scheduler(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        return switch (k) {
            case "ddpm" -> SchedulerKind.DDPM;
            case "ddim" -> SchedulerKind.DDIM;
            case "euler", "eulerdiscrete", "euler-discrete" -> SchedulerKind.EULER_DISCRETE;
            case "pndm" -> SchedulerKind.PNDM;
            case "dpm++", "dpmsolver++", "dpm-solver++", "dpmpp" -> SchedulerKind.DPM_SOLVER_MULTISTEP;
            default -> {
                for (SchedulerKind kind : SchedulerKind.values())
                    if (kind.className().equalsIgnoreCase(s.trim())) yield kind;
                throw new IllegalArgumentException("unknown scheduler '" + s + "' (ddpm, ddim, euler, pndm, dpm++)");
            }
        };
    }

    private static int integer(JsonNode n, String k) {
        JsonNode v = n.get(k);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new IllegalArgumentException("model info: '" + k + "' must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(JsonNode n, String k) {
        JsonNode v = n.get(k);
        if (!v.isNumber()) throw new IllegalArgumentException("model info: '" + k + "' must be a number, got " + v);
        return v.asDouble();
    }
}
