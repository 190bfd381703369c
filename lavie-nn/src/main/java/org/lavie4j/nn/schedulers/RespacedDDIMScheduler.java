package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.random.RandomGenerator;

import static org.lavie4j.nn.schedulers.Schedulers.sqrt;

/**
 * The interpolation stage's sampler: OpenAI guided-diffusion's {@code SpacedDiffusion} with {@code ddim_sample}, as in
 * LaVie interpolation/diffusion/{__init__,respace,gaussian_diffusion}.py ({@code create_diffusion(str(n))},
 * {@code ddim_sample_loop}); interpolation-unet.md §4. Not a diffusers scheduler:
 * <ul>
 *   <li>base betas {@code np.linspace(1e-4, 0.02, T)} in float64 (scaled by 1000/T, "linear");</li>
 *   <li>respacing keeps {@code round(k·(T−1)/(n−1))} (the stride accumulated by float64 addition, Python's round) for
 *       k = 0..n−1 ({@link #spaceTimesteps}); the kept original timesteps are {@link #timestepMap()} (0, 20, 41, …, 999 for
 *       n = 50) and the respaced process has β'_k = 1 − ᾱ[t_k]/ᾱ[t_{k−1}], its own float64 cumprod ᾱ'_k and
 *       ᾱ'_prev = (1, ᾱ'_0, …);</li>
 *   <li>the model sees the ORIGINAL timestep ({@link #timesteps()} = the map in loop order, 999 … 0), while the
 *       coefficients are taken at the respaced index k of that timestep;</li>
 *   <li>each step casts its float64 coefficients to float32 and computes in float32 (DDIM eq. 12 with ε re-derived from
 *       x0):</li>
 * </ul>
 * <pre>
 * x0   = f32(√(1/ᾱ'_k))·x − f32(√(1/ᾱ'_k − 1))·ε            (clip_denoised = False)
 * ε'   = (f32(√(1/ᾱ'_k))·x − x0) / f32(√(1/ᾱ'_k − 1))
 * x'   = x0·√a_prev + √(1 − a_prev − σ²)·ε' + [k ≠ 0]·σ·z    a = f32(ᾱ'_k), a_prev = f32(ᾱ'_prev,k), square roots in float32
 * σ    = η·√((1 − a_prev)/(1 − a))·√(1 − a/a_prev)               (η = 0 in LaVie: σ = 0, the last step returns x0 exactly)
 * </pre>
 * The reference evaluates the model twice per step (a failing {@code .sample} access retried by a bare except); a
 * loop over this scheduler calls it once.
 *
 * <p>{@link #schedule()} and {@link #addNoise} use the base (unspaced) process; {@link #config()} is the nearest
 * diffusers description (DDIM over the same betas, final ᾱ = 1, no clipping): {@code Scheduler.create(config())} gives
 * diffusers' DDIM, whose spacing (980 … 0) and float32 tables differ from this respacing.
 */
public final class RespacedDDIMScheduler implements Scheduler {
    private final int numTrainTimesteps;
    private final double[] baseAlphasCumprod;   // float64, the unspaced process
    private final NoiseSchedule schedule;
    private final SchedulerConfig config;
    private long[] timestepMap;                 // kept original timesteps, ascending
    private double[] betas, alphasCumprod, alphasCumprodPrev;   // float64 tables of the respaced process

    /** {@code create_diffusion}'s defaults: 1000 linear steps (β from 1e-4 to 0.02), not yet respaced (all 1000 kept). */
    public RespacedDDIMScheduler() {
        this(1000);
    }

    /** {@code diffusion_steps = T} with the "linear" schedule (β from 1e-4·1000/T to 0.02·1000/T); all T kept until {@link #setTimesteps}. */
    public RespacedDDIMScheduler(int diffusionSteps) {
        if (diffusionSteps <= 1) throw new IllegalArgumentException("diffusion_steps must be > 1, got " + diffusionSteps);
        this.numTrainTimesteps = diffusionSteps;
        double scale = 1000.0 / diffusionSteps;
        double[] base = linspace(scale * 0.0001, scale * 0.02, diffusionSteps);
        if (base[diffusionSteps - 1] >= 1)
            throw new IllegalArgumentException("diffusion_steps " + diffusionSteps + " gives betas >= 1 with the linear schedule");
        this.baseAlphasCumprod = cumprodOfOneMinus(base);
        this.schedule = NoiseSchedule.of(BetaSchedule.LINEAR, diffusionSteps, scale * 0.0001, scale * 0.02);
        this.config = new SchedulerConfig(SchedulerKind.DDIM, diffusionSteps, scale * 0.0001, scale * 0.02, BetaSchedule.LINEAR,
                PredictionType.EPSILON, VarianceType.FIXED_LARGE, false, 1.0, true, 0, false, TimestepSpacing.LEADING);
        respace(spaceTimesteps(diffusionSteps, String.valueOf(diffusionSteps)));
    }

    /** numpy {@code linspace(start, stop, n)} in float64: {@code i·step + start}, the last value exactly {@code stop}. */
    static double[] linspace(double start, double stop, int n) {
        double step = (stop - start) / (n - 1);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = i * step + start;
        out[n - 1] = stop;
        return out;
    }

    /** {@code np.cumprod(1 − betas)} (sequential float64 products). */
    private static double[] cumprodOfOneMinus(double[] betas) {
        double[] out = new double[betas.length];
        double acc = 1.0;
        for (int i = 0; i < betas.length; i++) {
            acc *= 1.0 - betas[i];
            out[i] = acc;
        }
        return out;
    }

    /**
     * guided-diffusion's {@code space_timesteps(T, sectionCounts)}: {@code "50"} or {@code "10,15,20"} (equal sections of
     * the T steps, each strided to its count with float64 accumulation and Python's round-half-to-even) or {@code "ddimN"}
     * (the integer stride giving exactly N steps). Returns the kept timesteps, ascending.
     */
    public static long[] spaceTimesteps(int numTimesteps, String sectionCounts) {
        if (sectionCounts == null || sectionCounts.isBlank()) throw new IllegalArgumentException("timestep respacing is empty");
        TreeSet<Long> kept = new TreeSet<>();
        String spec = sectionCounts.trim();
        if (spec.startsWith("ddim")) {
            int desired = Integer.parseInt(spec.substring(4));
            for (int stride = 1; stride < numTimesteps; stride++) {
                if ((numTimesteps + stride - 1) / stride == desired) {
                    for (long t = 0; t < numTimesteps; t += stride) kept.add(t);
                    return kept.stream().mapToLong(Long::longValue).toArray();
                }
            }
            throw new IllegalArgumentException("cannot create exactly " + desired + " steps of " + numTimesteps + " with an integer stride");
        }
        List<Integer> counts = new ArrayList<>();
        for (String s : spec.split(",")) counts.add(Integer.parseInt(s.trim()));
        int sizePer = numTimesteps / counts.size(), extra = numTimesteps % counts.size();
        long startIdx = 0;
        for (int i = 0; i < counts.size(); i++) {
            int size = sizePer + (i < extra ? 1 : 0), count = counts.get(i);
            if (size < count) throw new IllegalArgumentException("cannot divide a section of " + size + " steps into " + count);
            if (count <= 0) throw new IllegalArgumentException("section count must be positive, got " + count);
            double stride = count <= 1 ? 1 : (double) (size - 1) / (count - 1);
            double cur = 0.0;
            for (int k = 0; k < count; k++) {
                kept.add(startIdx + (long) Math.rint(cur));            // Python round: half to even
                cur += stride;
            }
            startIdx += size;
        }
        return kept.stream().mapToLong(Long::longValue).toArray();
    }

    /** {@code SpacedDiffusion.__init__}: β'_k = 1 − ᾱ[t_k]/ᾱ[t_{k−1}], then the GaussianDiffusion tables of β'. */
    private void respace(long[] use) {
        int n = use.length;
        double[] b = new double[n];
        double last = 1.0;
        for (int k = 0; k < n; k++) {
            double ac = baseAlphasCumprod[(int) use[k]];
            b[k] = 1 - ac / last;
            last = ac;
        }
        double[] ac = cumprodOfOneMinus(b);
        double[] prev = new double[n];
        prev[0] = 1.0;
        System.arraycopy(ac, 0, prev, 1, n - 1);
        timestepMap = use;
        betas = b;
        alphasCumprod = ac;
        alphasCumprodPrev = prev;
    }

    /** Respaces to {@code n} steps ({@code create_diffusion(str(n))}); {@code 0 < n <= T}. */
    @Override
    public void setTimesteps(int n) {
        Schedulers.checkSteps(numTrainTimesteps, n);
        respace(spaceTimesteps(numTrainTimesteps, String.valueOf(n)));
    }

    /** Respaces by a guided-diffusion respacing string ({@code "50"}, {@code "10,15,20"}, {@code "ddim25"}). */
    public void setTimesteps(String respacing) {
        respace(spaceTimesteps(numTrainTimesteps, respacing));
    }

    @Override public SchedulerConfig config() { return config; }
    @Override public NoiseSchedule schedule() { return schedule; }
    @Override public float initNoiseSigma() { return 1f; }
    @Override public INDArray scaleModelInput(INDArray sample, double t) { return sample; }

    /** The original timesteps the model receives, in loop order (INT64): the timestep map reversed (999 … 0). */
    @Override
    public INDArray timesteps() {
        long[] t = new long[timestepMap.length];
        for (int i = 0; i < t.length; i++) t[i] = timestepMap[t.length - 1 - i];
        return Nd4j.createFromArray(t);
    }

    /** The kept original timesteps, ascending ({@code SpacedDiffusion.timestep_map}). */
    public long[] timestepMap() { return timestepMap.clone(); }

    /** β' of the respaced process (float64). */
    public double[] betas() { return betas.clone(); }

    /** ᾱ' of the respaced process (float64 cumprod of 1 − β'). */
    public double[] alphasCumprod() { return alphasCumprod.clone(); }

    /** ᾱ'_prev = (1, ᾱ'_0, …, ᾱ'_{n−2}) (float64). */
    public double[] alphasCumprodPrev() { return alphasCumprodPrev.clone(); }

    /** The respaced index of original timestep {@code t}. */
    public int indexOf(long t) {
        int k = Arrays.binarySearch(timestepMap, t);
        if (k < 0)
            throw new IllegalArgumentException("timestep " + t + " is not one of the " + timestepMap.length + " kept timesteps "
                    + (timestepMap.length <= 10 ? Arrays.toString(timestepMap) : "(" + timestepMap[0] + ", …, " + timestepMap[timestepMap.length - 1] + ")"));
        return k;
    }

    /** Deterministic step (eta = 0) from original timestep {@code t}; the generator is not used. */
    @Override
    public StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator) {
        return step(modelOutput, Scheduler.discrete(t), sample, 0.0, null);
    }

    /** Deterministic step (eta = 0) from original timestep {@code t}. */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample) {
        return step(modelOutput, t, sample, 0.0, null);
    }

    /**
     * {@code ddim_sample} from original timestep {@code t} (see the class comment); {@code varianceNoise} z is required
     * when eta > 0 and t is not the last step, and ignored otherwise. Returns x' and x0 ({@code pred_xstart}).
     */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample, double eta, INDArray varianceNoise) {
        if (!(eta >= 0)) throw new IllegalArgumentException("eta must be >= 0, got " + eta);
        Schedulers.sameShape(modelOutput, "model output", sample, "sample");
        int k = indexOf(t);
        float recip = (float) Math.sqrt(1.0 / alphasCumprod[k]);              // _extract_into_tensor(...).float()
        float recipm1 = (float) Math.sqrt(1.0 / alphasCumprod[k] - 1);
        float a = (float) alphasCumprod[k], ap = (float) alphasCumprodPrev[k];
        INDArray x0 = sample.mul(recip).subi(modelOutput.mul(recipm1));         // _predict_xstart_from_eps
        INDArray eps = sample.mul(recip).subi(x0).divi(recipm1);                // _predict_eps_from_xstart
        float sigma = (float) eta * sqrt((1f - ap) / (1f - a)) * sqrt(1f - a / ap);
        INDArray prev = x0.mul(sqrt(ap)).addi(eps.muli(sqrt(1f - ap - sigma * sigma)));   // DDIM eq. 12
        if (sigma != 0 && k != 0) {                                             // nonzero_mask: no noise at the last step
            if (varianceNoise == null) throw new IllegalArgumentException("a step with eta " + eta + " > 0 needs variance noise");
            Schedulers.sameShape(varianceNoise, "variance noise", sample, "sample");
            prev.addi(varianceNoise.mul(sigma));
        }
        return new StepOutput(prev, x0);
    }

    /**
     * q(x_t | x0) of the base (unspaced) process at original timestep(s) t: f32(√ᾱ_t)·x0 + f32(√(1 − ᾱ_t))·ε with ᾱ in
     * float64 ({@code GaussianDiffusion.q_sample} without respacing).
     */
    @Override
    public INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps) {
        Schedulers.sameShape(original, "original samples", noise, "noise");
        long[] ts = Schedulers.timesteps(timesteps, original.size(0));
        float[] a = new float[ts.length], c = new float[ts.length];
        for (int i = 0; i < ts.length; i++) {
            if (ts[i] < 0 || ts[i] >= numTrainTimesteps)
                throw new IllegalArgumentException("timestep " + ts[i] + " is outside [0, " + (numTrainTimesteps - 1) + "]");
            a[i] = (float) Math.sqrt(baseAlphasCumprod[(int) ts[i]]);
            c[i] = (float) Math.sqrt(1.0 - baseAlphasCumprod[(int) ts[i]]);
        }
        return Schedulers.perBatch(original, a, noise, c);
    }
}
