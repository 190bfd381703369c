package org.lavie4j.nn.pipeline;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/** The three stages of LaVie's cascade, in the order they run ({@link CascadePipeline}). */
public enum CascadeStage {
    /** Text to video: {@link TextToVideoPipeline} (16 frames at 320×512, 8 fps). */
    BASE("base"),
    /** 16 frames to 61: {@link InterpolationPipeline} (24 fps). */
    INTERPOLATION("interp"),
    /** ×4 in space: {@link SuperResolutionPipeline} (keeps the input's frame rate). */
    SUPER_RESOLUTION("vsr");

    private final String id;

    CascadeStage(String id) { this.id = id; }

    /** The short name used on the command line and in progress lines: base, interp, vsr. */
    public String id() { return id; }

    @Override
    public String toString() { return id; }

    /** The stage named {@code name} ({@link #id()}, or the enum constant's name, any case). */
    public static CascadeStage parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (CascadeStage s : values())
            if (s.id.equals(n) || s.name().toLowerCase(Locale.ROOT).equals(n)) return s;
        if (n.equals("interpolation")) return INTERPOLATION;
        if (n.equals("sr") || n.equals("upscale")) return SUPER_RESOLUTION;
        throw new IllegalArgumentException("unknown stage '" + name + "'; the stages are "
                + Arrays.stream(values()).map(CascadeStage::id).collect(Collectors.joining(", ")));
    }

    /** A comma-separated list of stage names ("base,interp,vsr"), in any order, each at most once. */
    public static Set<CascadeStage> parseList(String names) {
        if (names == null || names.isBlank()) throw new IllegalArgumentException("no stages given; the stages are base, interp, vsr");
        EnumSet<CascadeStage> set = EnumSet.noneOf(CascadeStage.class);
        for (String part : names.split(",")) {
            CascadeStage s = parse(part);
            if (!set.add(s)) throw new IllegalArgumentException("stage '" + s.id + "' is listed twice in '" + names + "'");
        }
        return set;
    }
}
