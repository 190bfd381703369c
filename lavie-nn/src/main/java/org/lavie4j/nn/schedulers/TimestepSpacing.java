package org.lavie4j.nn.schedulers;

/**
 * How inference timesteps are spread over the training timesteps. diffusers 0.16 has no option for it: DDPM, DDIM and
 * PNDM always use {@link #LEADING} ({@code arange(n) * (T // n)} reversed, plus {@code steps_offset} for DDIM/PNDM),
 * Euler discrete always {@link #LINSPACE} ({@code linspace(0, T-1, n)} reversed, float64).
 */
public enum TimestepSpacing {
    LEADING("leading"),
    LINSPACE("linspace");

    private final String json;

    TimestepSpacing(String json) { this.json = json; }

    public String json() { return json; }

    public static TimestepSpacing fromJson(String s) {
        for (TimestepSpacing t : values()) if (t.json.equals(s)) return t;
        throw new IllegalArgumentException("unsupported timestep_spacing '" + s + "' (supported: leading, linspace)");
    }

    /** The 0.16 leading schedule: {@code (arange(n) * (T // n))[::-1] + offset}. */
    static long[] leading(int numTrainTimesteps, int n, int offset) {
        Schedulers.checkSteps(numTrainTimesteps, n);
        long ratio = numTrainTimesteps / n;
        long[] ts = new long[n];
        for (int i = 0; i < n; i++) ts[i] = (n - 1 - i) * ratio + offset;
        return ts;
    }

    /** numpy {@code linspace(0, T-1, n)[::-1]} bit for bit ({@code i * step + 0}, last element set to the stop). */
    static double[] linspace(int numTrainTimesteps, int n) {
        Schedulers.checkSteps(numTrainTimesteps, n);
        double stop = numTrainTimesteps - 1;
        double[] y = new double[n];
        if (n == 1) {
            y[0] = 0.0;
            return y;
        }
        double step = stop / (n - 1);
        for (int i = 0; i < n; i++) y[i] = i * step;
        y[n - 1] = stop;
        double[] r = new double[n];
        for (int i = 0; i < n; i++) r[i] = y[n - 1 - i];
        return r;
    }
}
