package org.lavie4j.nn.schedulers;

/** What the denoising model predicts (diffusers {@code prediction_type}). */
public enum PredictionType {
    /** The added noise epsilon. */
    EPSILON("epsilon"),
    /** The velocity v = sqrt(a)·eps − sqrt(1−a)·x0 (Imagen Video §2.4). */
    V_PREDICTION("v_prediction"),
    /** The clean sample x0 directly. */
    SAMPLE("sample");

    private final String json;

    PredictionType(String json) { this.json = json; }

    public String json() { return json; }

    public static PredictionType fromJson(String s) {
        for (PredictionType p : values()) if (p.json.equals(s)) return p;
        throw new IllegalArgumentException("unknown prediction_type '" + s + "' (supported: epsilon, v_prediction, sample)");
    }
}
