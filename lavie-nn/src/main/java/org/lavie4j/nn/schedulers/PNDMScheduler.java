package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

import static org.lavie4j.nn.schedulers.Schedulers.sqrt;

/**
 * Pseudo numerical methods (Liu et al. 2022; diffusers 0.16 {@code scheduling_pndm.py}), PLMS only
 * ({@code skip_prk_steps} true). n steps give n + 1 timesteps: the second-largest is repeated, and the first two
 * calls form a second-order warm-up that both move from the first timestep to the second. Stateful: it keeps the
 * last four model outputs, the warm-up sample and a step counter; {@link #setTimesteps} resets them.
 */
public final class PNDMScheduler implements Scheduler {
    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    private final float finalAlphaCumprod;
    private int numInferenceSteps;
    private long[] timesteps = new long[0];
    private final List<INDArray> ets = new ArrayList<>();
    private INDArray curSample;
    private int counter;

    public PNDMScheduler(SchedulerConfig config) {
        if (config.kind() != SchedulerKind.PNDM) throw new IllegalArgumentException("PNDMScheduler needs a PNDM config, got " + config.kind());
        if (!config.skipPrkSteps())
            throw new IllegalArgumentException("PNDMScheduler: skip_prk_steps false (Runge-Kutta warm-up) is not implemented");
        if (config.predictionType() == PredictionType.SAMPLE)
            throw new IllegalArgumentException("PNDMScheduler: prediction_type must be epsilon or v_prediction, got sample");
        this.config = config;
        this.schedule = NoiseSchedule.of(config);
        this.finalAlphaCumprod = config.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
    }

    @Override public SchedulerConfig config() { return config; }
    @Override public NoiseSchedule schedule() { return schedule; }
    @Override public float initNoiseSigma() { return 1f; }
    @Override public INDArray timesteps() { return Nd4j.createFromArray(timesteps.clone()); }
    @Override public INDArray scaleModelInput(INDArray sample, double t) { return sample; }

    /** Number of step calls made since {@link #setTimesteps}. */
    public int counter() { return counter; }

    @Override
    public void setTimesteps(int n) {
        long[] lead = TimestepSpacing.leading(config.numTrainTimesteps(), n, config.stepsOffset()); // descending
        // reverse(concat(_t[:-1], _t[-2:-1], _t[-1:])) with _t ascending: the second-largest appears twice
        long[] ts = new long[n + 1];
        ts[0] = lead[0];
        if (n == 1) {
            ts = new long[] {lead[0]};
        } else {
            ts[1] = lead[1];
            for (int i = 1; i < n; i++) ts[i + 1] = lead[i];
        }
        timesteps = ts;
        numInferenceSteps = n;
        ets.clear();
        curSample = null;
        counter = 0;
    }

    /** PLMS step; the generator is not used. */
    @Override
    public StepOutput step(INDArray modelOutput, double t, INDArray sample, RandomGenerator generator) {
        return step(modelOutput, Scheduler.discrete(t), sample);
    }

    /** One PLMS step (diffusers {@code step_plms}); {@link StepOutput#predOriginalSample()} is null. */
    public StepOutput step(INDArray modelOutput, long t, INDArray sample) {
        if (numInferenceSteps == 0) throw new IllegalStateException("PNDMScheduler: call setTimesteps before step");
        Schedulers.sameShape(modelOutput, "model output", sample, "sample");
        long stepSize = config.numTrainTimesteps() / numInferenceSteps;
        long prevT = t - stepSize;
        if (counter != 1) {
            while (ets.size() > 3) ets.remove(0);
            ets.add(modelOutput);
        } else {
            prevT = t;
            t = t + stepSize;
        }
        int k = ets.size();
        INDArray e;
        if (k == 1 && counter == 0) {
            e = modelOutput;
            curSample = sample;
        } else if (k == 1 && counter == 1) {
            e = modelOutput.add(ets.get(0)).divi(2f);
            sample = curSample;
            curSample = null;
        } else if (k == 2) {
            e = ets.get(1).mul(3f).subi(ets.get(0)).divi(2f);
        } else if (k == 3) {
            e = ets.get(2).mul(23f).subi(ets.get(1).mul(16f)).addi(ets.get(0).mul(5f)).divi(12f);
        } else {
            e = ets.get(3).mul(55f).subi(ets.get(2).mul(59f)).addi(ets.get(1).mul(37f)).subi(ets.get(0).mul(9f))
                    .muli((float) (1.0 / 24));
        }
        INDArray prev = prevSample(sample, t, prevT, e);
        counter++;
        return new StepOutput(prev, null);
    }

    /** PNDM eq. 11: x_prev = √(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·e / (ᾱ_t·√(1−ᾱ_prev) + √(ᾱ_t(1−ᾱ_t)ᾱ_prev)). */
    private INDArray prevSample(INDArray sample, long t, long prevT, INDArray e) {
        float at = schedule.alphaCumprod(t);
        float ap = prevT >= 0 ? schedule.alphaCumprod(prevT) : finalAlphaCumprod;
        float bt = 1f - at;
        float bp = 1f - ap;
        if (config.predictionType() == PredictionType.V_PREDICTION) e = e.mul(sqrt(at)).addi(sample.mul(sqrt(bt)));
        float sampleCoeff = sqrt(ap / at);
        float denom = at * sqrt(bp) + sqrt(at * bt * ap);
        return sample.mul(sampleCoeff).subi(e.mul(ap - at).divi(denom));
    }

    @Override
    public INDArray addNoise(INDArray original, INDArray noise, INDArray timesteps) {
        return Schedulers.addNoise(schedule, original, noise, timesteps);
    }
}
