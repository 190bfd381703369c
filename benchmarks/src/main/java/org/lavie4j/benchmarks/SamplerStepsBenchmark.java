package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.nn.schedulers.DPMSolverMultistepScheduler;
import org.lavie4j.nn.schedulers.NoiseSchedule;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.schedulers.StepOutput;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.BiFunction;

/**
 * How few DPM-Solver++(2M) steps give the result of DDIM 50: a plain {@code main} (not JMH: it measures accuracy; the
 * times are single runs). On the tiny UNet ({@link UNetConfig#tiny()}, random weights from a fixed Nd4j seed), fixed
 * random text states (1, 77, 32) and fixed initial noise (1, 4, 4 frames, 8, 8), it runs {@link TextToVideoPipeline}
 * to {@link OutputType#LATENTS} with LaVie's scheduler config ({@link SchedulerConfig#lavieBase}: linear 1e-4..0.02,
 * DDIM with steps_offset 1 and set_alpha_to_one false) at guidance 7.5 and 1.0.
 *
 * <p>Measure: the relative error ‖x − x_ref‖ / ‖x_ref‖ (Frobenius norms, = relative RMSE) of the final latents against
 * a reference solution of the probability-flow ODE from t = 999 to ᾱ[0]: DPM++ 2M at {@code referenceSteps} (default
 * 500). Its own accuracy is printed as the error of DPM++ at half as many steps against it (second order: the
 * reference's error is about a third of that). "The result of DDIM 50" = the fewest DPM++ steps whose error is at most
 * DDIM 50's. DDIM's leading spacing starts DDIM 50 at t = 981, not 999, so its error is also given against the ODE
 * solved from t = 981 (its discretization error alone), with the DPM++ count that matches that. Each DPM++ count runs
 * as diffusers 0.16 (second-order last step from 15 steps on) and, where it differs (n &ge; 15), with
 * {@code eulerAtFinal} (first-order last step, diffusers &ge; 0.22). A last section repeats the comparison on an
 * analytic Gaussian problem with an exact denoiser and exact ODE solution (no UNet; {@code toy} runs only that).
 * <pre>OMP_NUM_THREADS=1 java -cp benchmarks/target/benchmarks.jar org.lavie4j.benchmarks.SamplerStepsBenchmark [noiseSeed [referenceSteps] | toy]</pre>
 */
public final class SamplerStepsBenchmark {
    private static final long WEIGHT_SEED = 20261125L, TEXT_SEED = 7L;
    private static final int FRAMES = 4, LATENT = 8, TEXT_LENGTH = 77;
    private static final int[] DDIM_STEPS = {10, 15, 20, 25, 50};
    private static final int[] DPM_STEPS = {5, 8, 10, 12, 14, 15, 20, 25, 30, 40, 50};
    /** eulerAtFinal differs from 0.16 only from 15 steps on; it is run at these. */
    private static final int[] EULER_AT_FINAL_STEPS = {15, 20, 25};
    private static final String DDIM = "ddim", DPM = "dpm++2m (0.16)", DPM_EULER = "dpm++2m eulerAtFinal";

    private record Row(String sampler, int steps, double relErr, double seconds) {}

    private final UNet3DConditionModel unet;
    private final AutoencoderKL vae;
    private final INDArray cond, uncond, noise;

    private SamplerStepsBenchmark(long noiseSeed) {
        UNetConfig config = UNetConfig.tiny();
        Nd4j.getRandom().setSeed(WEIGHT_SEED);
        Init.seed(WEIGHT_SEED);
        unet = new UNet3DConditionModel(config);
        unet.eval();
        vae = new AutoencoderKL(VaeConfig.tiny());   // required by the pipeline, unused: the runs stop at the latents
        Nd4j.getRandom().setSeed(TEXT_SEED);
        Init.seed(TEXT_SEED);
        cond = Nd4j.randn(DataType.FLOAT, 1, TEXT_LENGTH, config.crossAttentionDim());
        uncond = Nd4j.randn(DataType.FLOAT, 1, TEXT_LENGTH, config.crossAttentionDim());
        Nd4j.getRandom().setSeed(noiseSeed);
        Init.seed(noiseSeed);
        noise = Nd4j.randn(DataType.FLOAT, 1, config.inChannels(), FRAMES, LATENT, LATENT);
    }

    private static Scheduler ddim() { return Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDIM)); }

    private static Scheduler dpm(boolean eulerAtFinal) {
        return new DPMSolverMultistepScheduler(SchedulerConfig.lavieBase(SchedulerKind.DPM_SOLVER_MULTISTEP), eulerAtFinal);
    }

    /** Final latents of one denoising run through the pipeline (a fresh scheduler per run). */
    private INDArray run(Scheduler scheduler, int steps, double guidance) {
        int f = vae.config().spatialFactor();
        GenerateOptions o = GenerateOptions.builder().embeddings(cond, uncond).frames(FRAMES).size(LATENT * f, LATENT * f)
                .steps(steps).guidanceScale(guidance).latents(noise).outputType(OutputType.LATENTS).build();
        return new TextToVideoPipeline(null, null, unet, vae, scheduler).generate(o).latents();
    }

    /** ‖x − ref‖ / ‖ref‖ in double. */
    private static double relErr(INDArray x, INDArray ref) {
        INDArray a = x.castTo(DataType.DOUBLE), r = ref.castTo(DataType.DOUBLE);
        a.subi(r);
        double e = a.norm2Number().doubleValue() / r.norm2Number().doubleValue();
        Memory.free(a, r);
        return e;
    }

    private Row measure(String name, Scheduler scheduler, int steps, double guidance, INDArray ref) {
        long t0 = System.nanoTime();
        INDArray x = run(scheduler, steps, guidance);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Row r = new Row(name, steps, relErr(x, ref), seconds);
        Memory.free(x);
        System.out.printf(Locale.ROOT, "%-22s %5d %10.3e %8.2f %8.0f%n", r.sampler(), r.steps(), r.relErr(), r.seconds(),
                1000 * r.seconds() / r.steps());
        return r;
    }

    /**
     * The ODE solution started at {@code tStart} instead of 999 (DDIM 50 starts at 981: leading spacing + steps_offset):
     * DPM++ 2M on every training timestep <= tStart. Written out because the pipeline's loop always starts at the top
     * of the scheduler's grid; guidance and buffer handling as in {@link TextToVideoPipeline#generate}.
     */
    private INDArray solveFrom(long tStart, double guidance) {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(SchedulerConfig.lavieBase(SchedulerKind.DPM_SOLVER_MULTISTEP));
        s.setTimesteps(999);   // 999, 998, ..., 1, then to 0
        boolean cfg = guidance > 1;
        INDArray ctx = cfg ? Nd4j.concat(0, uncond, cond) : cond;
        INDArray x = noise.dup();
        ArrayDeque<INDArray> x0History = new ArrayDeque<>();   // the scheduler keeps the last two x0 predictions
        try (Tape off = Grad.disabled()) {
            for (long t : s.timesteps().toLongVector()) {
                if (t > tStart) continue;
                INDArray in = cfg ? Nd4j.concat(0, x, x) : x;                                       // (2b, c, F, h, w)
                Tensor out = unet.forward(Tensor.of(in), Tensor.of(Nd4j.createFromArray(t)), Tensor.of(ctx));
                if (in != x) Memory.free(in);
                INDArray e = out.data();
                if (cfg) {
                    INDArray eu = e.get(NDArrayIndex.interval(0, 1)), ec = e.get(NDArrayIndex.interval(1, 2));
                    e = ec.sub(eu).muli(guidance).addi(eu);                                          // e_u + s·(e_c − e_u)
                    out.release();
                }
                StepOutput step = s.step(e, t, x);
                x0History.addLast(step.predOriginalSample());
                if (x0History.size() > 2) Memory.free(x0History.removeFirst());
                if (cfg) Memory.free(e); else out.release();
                Memory.free(x);
                x = step.prevSample();
            }
        }
        if (cfg) Memory.free(ctx);
        x0History.forEach(Memory::free);
        return x;
    }

    /** The fewest steps of {@code rows} with an error at most {@code target}, and the larger counts that miss it. */
    private static String fewest(List<Row> rows, double target) {
        Row first = rows.stream().filter(r -> r.relErr() <= target).findFirst().orElse(null);
        if (first == null) return "none up to " + rows.get(rows.size() - 1).steps();
        String misses = rows.stream().filter(r -> r.steps() > first.steps() && r.relErr() > target)
                .map(r -> String.valueOf(r.steps())).reduce((a, b) -> a + ", " + b).map(m -> "; but not at " + m).orElse("");
        return String.format(Locale.ROOT, "%d (%.3e, %.1fx fewer steps%s)", first.steps(), first.relErr(), 50.0 / first.steps(), misses);
    }

    private void table(double guidance, int referenceSteps) {
        System.out.printf(Locale.ROOT, "%n## guidance %.1f%s%n", guidance, guidance > 1 ? " (classifier-free: UNet batch 2)" : " (none: UNet batch 1)");
        long t0 = System.nanoTime();
        INDArray ref = run(dpm(false), referenceSteps, guidance);
        double refSeconds = (System.nanoTime() - t0) / 1e9;
        INDArray half = run(dpm(false), referenceSteps / 2, guidance);
        double check = relErr(half, ref);
        Memory.free(half);
        System.out.printf(Locale.ROOT, "reference x_ref: ODE from t=999, dpm++2m %d steps (%.0f s), rms %.2f; dpm++2m %d steps against it: %.2e%n",
                referenceSteps, refSeconds, ref.norm2Number().doubleValue() / Math.sqrt(ref.length()), referenceSteps / 2, check);
        System.out.printf(Locale.ROOT, "%-22s %5s %10s %8s %8s%n", "sampler", "steps", "rel.err", "time s", "ms/step");

        List<Row> ddim = new ArrayList<>(), dpm = new ArrayList<>(), dpmEuler = new ArrayList<>();
        for (int n : DDIM_STEPS) ddim.add(measure(DDIM, ddim(), n, guidance, ref));
        for (int n : DPM_STEPS) dpm.add(measure(DPM, dpm(false), n, guidance, ref));
        for (Row r : dpm) if (r.steps() < EULER_AT_FINAL_STEPS[0]) dpmEuler.add(r);   // the same sampler below 15 steps
        for (int n : EULER_AT_FINAL_STEPS) dpmEuler.add(measure(DPM_EULER, dpm(true), n, guidance, ref));

        Row ddim50 = ddim.stream().filter(r -> r.steps() == 50).findFirst().orElseThrow();
        Scheduler d50 = ddim();
        d50.setTimesteps(50);
        long ddimStart = d50.timesteps().getLong(0);
        INDArray own = solveFrom(ddimStart, guidance);
        INDArray x50 = run(ddim(), 50, guidance);
        double ddim50Own = relErr(x50, own), offset = relErr(own, ref);
        Memory.free(x50, own, ref);
        System.out.printf(Locale.ROOT, "ddim 50 starts at t=%d: the ODE from t=%d differs from x_ref by %.3e; ddim 50 against that ODE: %.3e%n",
                ddimStart, ddimStart, offset, ddim50Own);
        System.out.printf(Locale.ROOT, "guidance %.1f: %s steps matching ddim50 (rel.err <= %.3e): %s%n", guidance, DPM, ddim50.relErr(), fewest(dpm, ddim50.relErr()));
        System.out.printf(Locale.ROOT, "guidance %.1f: %s steps matching ddim50 (rel.err <= %.3e): %s%n", guidance, DPM_EULER, ddim50.relErr(), fewest(dpmEuler, ddim50.relErr()));
        System.out.printf(Locale.ROOT, "guidance %.1f: %s steps matching ddim50's error on its own ODE (rel.err <= %.3e): %s%n", guidance, DPM, ddim50Own, fewest(dpm, ddim50Own));
    }

    /**
     * The same comparison where the exact ODE solution is known (the toy of lavie-nn's DPMSolverTest): data
     * x0 ~ N(μ_i, s_i²) per element, i < 4096, and the optimal ε-prediction as the model, for which the probability-flow
     * ODE keeps z = (x_t − α_t μ)/√(α_t² s² + σ_t²) constant. Unlike the random UNet's, its x0 prediction keeps changing
     * down to t = 0: this is where 0.16's second-order last step (from 15 steps on) shows. Errors against the exact
     * solution from each sampler's own first timestep.
     */
    private static void toy() {
        int n = 4096;
        SplittableRandom r = new SplittableRandom(7);
        double[] mu = new double[n], sd = new double[n];
        float[] z = new float[n];
        for (int i = 0; i < n; i++) {
            mu[i] = 2 * r.nextDouble() - 1;
            sd[i] = 0.05 + 0.95 * r.nextDouble();
            z[i] = (float) r.nextGaussian();
        }
        NoiseSchedule sched = NoiseSchedule.of(SchedulerConfig.lavieBase(SchedulerKind.DDIM));
        INDArray noise = Nd4j.createFromArray(z);
        // x_t = α·x0 + σ·ε: E[x0 | x_t] = μ + α s²/(α² s² + σ²)·(x_t − α μ); ε = (x_t − α·E[x0 | x_t])/σ
        BiFunction<INDArray, Long, INDArray> eps = (x, t) -> {
            double ac = sched.alphaCumprod(t), a = Math.sqrt(ac), sg = Math.sqrt(1 - ac);
            double[] xs = x.toDoubleVector();
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                double x0 = mu[i] + a * sd[i] * sd[i] / (a * a * sd[i] * sd[i] + sg * sg) * (xs[i] - a * mu[i]);
                out[i] = (float) ((xs[i] - a * x0) / sg);
            }
            return Nd4j.createFromArray(out);
        };
        BiFunction<Scheduler, Integer, Double> err = (sch, steps) -> {
            sch.setTimesteps(steps);
            long[] ts = sch.timesteps().toLongVector();
            INDArray x = noise.dup();
            for (long t : ts) x = sch.step(eps.apply(x, t), t, x, null).prevSample();
            double aT = Math.sqrt(sched.alphaCumprod(ts[0])), sT = Math.sqrt(1 - sched.alphaCumprod(ts[0]));
            double a0 = Math.sqrt(sched.alphaCumprod(0)), s0 = Math.sqrt(1 - sched.alphaCumprod(0));
            double[] exact = new double[n];
            for (int i = 0; i < n; i++)
                exact[i] = a0 * mu[i] + Math.sqrt(a0 * a0 * sd[i] * sd[i] + s0 * s0) * (z[i] - aT * mu[i]) / Math.sqrt(aT * aT * sd[i] * sd[i] + sT * sT);
            INDArray ex = Nd4j.createFromArray(exact);
            return relErr(x, ex);
        };
        System.out.printf(Locale.ROOT, "%n## analytic Gaussian toy (exact denoiser, %d elements; no UNet)%n%-22s %5s %10s%n", n, "sampler", "steps", "rel.err");
        List<Row> ddim = new ArrayList<>(), dpm = new ArrayList<>(), dpmEuler = new ArrayList<>();
        for (int k : DDIM_STEPS) ddim.add(new Row(DDIM, k, err.apply(ddim(), k), 0));
        for (int k : DPM_STEPS) dpm.add(new Row(DPM, k, err.apply(dpm(false), k), 0));
        for (int k : DPM_STEPS) dpmEuler.add(new Row(DPM_EULER, k, err.apply(dpm(true), k), 0));
        for (List<Row> rows : List.of(ddim, dpm, dpmEuler))
            for (Row row : rows) System.out.printf(Locale.ROOT, "%-22s %5d %10.3e%n", row.sampler(), row.steps(), row.relErr());
        double ddim50 = ddim.get(ddim.size() - 1).relErr();
        System.out.printf(Locale.ROOT, "toy: %s steps matching ddim50 (rel.err <= %.3e): %s%n", DPM, ddim50, fewest(dpm, ddim50));
        System.out.printf(Locale.ROOT, "toy: %s steps matching ddim50 (rel.err <= %.3e): %s%n", DPM_EULER, ddim50, fewest(dpmEuler, ddim50));
    }

    public static void main(String[] args) {
        long noiseSeed = args.length > 0 && !args[0].equals("toy") ? Long.parseLong(args[0]) : 42L;
        int referenceSteps = args.length > 1 ? Integer.parseInt(args[1]) : 500;
        Lavie4j.setup();
        System.out.println("# backend: " + Lavie4j.describeBackend());
        System.out.printf(Locale.ROOT, "# tiny UNet (random weights, Nd4j seed %d), latents 1 x 4 x %d x %d x %d, noise seed %d, text states (1, %d, %d)%n",
                WEIGHT_SEED, FRAMES, LATENT, LATENT, noiseSeed, TEXT_LENGTH, UNetConfig.tiny().crossAttentionDim());
        if (args.length > 0 && args[0].equals("toy")) {
            toy();
            return;
        }
        SamplerStepsBenchmark b = new SamplerStepsBenchmark(noiseSeed);
        b.run(ddim(), 5, 7.5);   // warm-up (JIT, native allocations)
        for (double g : new double[] {7.5, 1.0}) b.table(g, referenceSteps);
        toy();
        System.out.println("# " + ProcessMemory.describe());
    }
}
