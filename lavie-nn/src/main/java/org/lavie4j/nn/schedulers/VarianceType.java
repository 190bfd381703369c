package org.lavie4j.nn.schedulers;

/** DDPM {@code variance_type}: the variance of the noise added in a reverse step (learned variants unsupported). */
public enum VarianceType {
    /** beta~_t = (1 − ā_{t−1}) / (1 − ā_t) · beta_t, clamped at 1e-20 (DDPM eq. 7; Stable Diffusion). */
    FIXED_SMALL("fixed_small"),
    /** The same, through log and exp(0.5·log): used directly as the standard deviation. */
    FIXED_SMALL_LOG("fixed_small_log"),
    /** beta_t. */
    FIXED_LARGE("fixed_large");

    private final String json;

    VarianceType(String json) { this.json = json; }

    public String json() { return json; }

    public static VarianceType fromJson(String s) {
        for (VarianceType v : values()) if (v.json.equals(s)) return v;
        throw new IllegalArgumentException("unsupported variance_type '" + s
                + "' (supported: fixed_small, fixed_small_log, fixed_large; learned, learned_range and fixed_large_log are not)");
    }
}
