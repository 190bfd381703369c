package org.lavie4j.nn.schedulers;

/** The diffusers {@code beta_schedule} values the 0.16 DDPM/DDIM/Euler/PNDM schedulers share. */
public enum BetaSchedule {
    /** {@code linspace(beta_start, beta_end, N)} in float32. */
    LINEAR("linear"),
    /** {@code linspace(sqrt(beta_start), sqrt(beta_end), N) ** 2} in float32 (Stable Diffusion). */
    SCALED_LINEAR("scaled_linear"),
    /** Glide cosine schedule ({@code betas_for_alpha_bar}, max beta 0.999), float64 then float32. */
    SQUAREDCOS_CAP_V2("squaredcos_cap_v2");

    private final String json;

    BetaSchedule(String json) { this.json = json; }

    /** The diffusers config string. */
    public String json() { return json; }

    /** Maps a diffusers config string; unknown names are an error that lists the known ones. */
    public static BetaSchedule fromJson(String s) {
        for (BetaSchedule b : values()) if (b.json.equals(s)) return b;
        throw new IllegalArgumentException("unknown beta_schedule '" + s + "' (supported: linear, scaled_linear, squaredcos_cap_v2)");
    }
}
