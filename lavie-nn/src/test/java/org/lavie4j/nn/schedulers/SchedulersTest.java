package org.lavie4j.nn.schedulers;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Property tests of the diffusers 0.16 scheduler port (the numbers themselves are checked by the golden case). */
class SchedulersTest {

    private static INDArray randn(long seed, long... shape) {
        Random r = new Random(seed);
        float[] v = new float[(int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return Nd4j.createFromArray(v).reshape(shape);
    }

    @Test void timestepsMatchTheReferenceSpacing() {
        Scheduler ddpm = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDPM));
        ddpm.setTimesteps(50);
        assertEquals(980, ddpm.timesteps().getLong(0));
        assertEquals(0, ddpm.timesteps().getLong(49));
        Scheduler ddim = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDIM));
        ddim.setTimesteps(50);
        assertEquals(981, ddim.timesteps().getLong(0));
        assertEquals(1, ddim.timesteps().getLong(49));
        Scheduler pndm = Scheduler.create(SchedulerConfig.sd14(SchedulerKind.PNDM));
        pndm.setTimesteps(7);
        assertArrayEquals(new long[] {853, 711, 711, 569, 427, 285, 143, 1}, pndm.timesteps().toLongVector());
        Scheduler euler = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.EULER_DISCRETE));
        euler.setTimesteps(50);
        assertEquals(999.0, euler.timesteps().getDouble(0));
        assertEquals(0.0, euler.timesteps().getDouble(49));
        assertEquals(157.40723f, euler.initNoiseSigma(), 1e-3f);
    }

    @Test void timestepsDecreaseMonotonically() {
        for (SchedulerKind k : SchedulerKind.values()) {
            for (int n : new int[] {1, 7, 50, 999, 1000}) {
                Scheduler s = Scheduler.create(SchedulerConfig.lavieBase(k));
                if (k == SchedulerKind.DDIM && n == 1000) continue; // offset 1 reaches t = 1000, as in diffusers
                s.setTimesteps(n);
                double[] t = s.timesteps().castTo(DataType.DOUBLE).toDoubleVector();
                for (int i = 1; i < t.length; i++) {
                    boolean pndmRepeat = k == SchedulerKind.PNDM && i == 2;
                    assertTrue(pndmRepeat ? t[i] <= t[i - 1] : t[i] < t[i - 1], k + " n=" + n + " at " + i);
                }
            }
        }
    }

    @Test void alphasCumprodMatchReferenceValues() {
        float[] ac = NoiseSchedule.of(SchedulerConfig.lavieBase(SchedulerKind.DDPM)).alphasCumprod();
        assertEquals(0.9999f, ac[0], 1e-7f);
        assertEquals(0.99978006f, ac[1], 1e-7f);
        assertEquals(0.99373525f, ac[20], 1e-7f);
        assertEquals(5.787796e-05f, ac[981], 1e-10f);
        assertEquals(4.0358325e-05f, ac[999], 1e-10f);
        float[] cos = NoiseSchedule.of(BetaSchedule.SQUAREDCOS_CAP_V2, 1000, 0, 0).alphasCumprod();
        for (int i = 1; i < cos.length; i++) assertTrue(cos[i] < cos[i - 1]);
    }

    @Test void ddimEtaZeroIsDeterministic() {
        INDArray x = randn(1, 1, 4, 2, 3, 3), m = randn(2, 1, 4, 2, 3, 3);
        INDArray[] runs = new INDArray[2];
        for (int r = 0; r < 2; r++) {
            Scheduler s = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDIM));
            s.setTimesteps(10);
            INDArray cur = x;
            for (double t : s.timesteps().castTo(DataType.DOUBLE).toDoubleVector())
                cur = s.step(m, t, cur, r == 0 ? null : new Random(r)).prevSample();
            runs[r] = cur;
        }
        assertEquals(runs[0], runs[1]);
    }

    @Test void addNoiseThenExactNoiseRecoversX0() {
        INDArray x0 = randn(3, 2, 4, 2, 3, 3), eps = randn(4, 2, 4, 2, 3, 3);
        for (SchedulerKind k : new SchedulerKind[] {SchedulerKind.DDPM, SchedulerKind.DDIM, SchedulerKind.PNDM}) {
            Scheduler s = Scheduler.create(SchedulerConfig.lavieBase(k));
            for (long t : new long[] {0, 250, 999}) {
                INDArray xt = s.addNoise(x0, eps, Nd4j.createFromArray(t, t));
                float ac = s.schedule().alphaCumprod(t);
                INDArray rec = xt.sub(eps.mul(Math.sqrt(1 - ac))).div(Math.sqrt(ac));
                assertTrue(rec.equalsWithEps(x0, 2e-3), k + " t=" + t);
                // and the DDIM/DDPM x0 prediction from the exact noise is the same recovery
                if (k != SchedulerKind.PNDM && t > 0) {
                    s.setTimesteps(1000 / (k == SchedulerKind.DDIM ? 2 : 1));
                    INDArray pred = s.step(eps, t, xt, new Random(0)).predOriginalSample();
                    assertTrue(pred.equalsWithEps(x0, 2e-3), k + " pred t=" + t);
                }
            }
        }
    }

    @Test void addNoiseUsesOneTimestepPerBatchElement() {
        INDArray x0 = randn(5, 2, 3), eps = randn(6, 2, 3);
        Scheduler s = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.DDPM));
        INDArray both = s.addNoise(x0, eps, Nd4j.createFromArray(10L, 900L));
        INDArray first = s.addNoise(x0.slice(0).reshape(1, 3), eps.slice(0).reshape(1, 3), Nd4j.createFromArray(10L));
        INDArray second = s.addNoise(x0.slice(1).reshape(1, 3), eps.slice(1).reshape(1, 3), Nd4j.createFromArray(900L));
        assertEquals(first.reshape(3), both.slice(0));
        assertEquals(second.reshape(3), both.slice(1));
    }

    @Test void velocityIsTheVPredictionTarget() {
        INDArray x0 = randn(7, 1, 4, 3), eps = randn(8, 1, 4, 3);
        SchedulerConfig v = SchedulerConfig.lavieBase(SchedulerKind.DDIM).withPredictionType(PredictionType.V_PREDICTION);
        DDIMScheduler s = new DDIMScheduler(v);
        s.setTimesteps(50);
        INDArray t = Nd4j.createFromArray(501L);
        INDArray xt = s.addNoise(x0, eps, t);
        INDArray vel = s.getVelocity(x0, eps, t);
        StepOutput r = s.step(vel, 501L, xt);
        assertTrue(r.predOriginalSample().equalsWithEps(x0, 1e-4));
    }

    @Test void ddpmNeedsNoiseOnlyAboveZero() {
        DDPMScheduler s = new DDPMScheduler(SchedulerConfig.lavieBase(SchedulerKind.DDPM));
        s.setTimesteps(50);
        INDArray x = randn(9, 1, 4), m = randn(10, 1, 4);
        assertThrows(IllegalArgumentException.class, () -> s.step(m, 20L, x, (INDArray) null));
        StepOutput last = s.step(m, 0L, x, (INDArray) null);
        assertTrue(last.prevSample().equalsWithEps(last.predOriginalSample(), 1e-6)); // ᾱ_prev = 1: x_{-1} = x0
        INDArray a = s.step(m, 20.0, x, new Random(42)).prevSample();
        INDArray b = s.step(m, 20.0, x, new Random(42)).prevSample();
        assertEquals(a, b);
    }

    @Test void pndmHasNoX0AndResets() {
        PNDMScheduler s = new PNDMScheduler(SchedulerConfig.sd14(SchedulerKind.PNDM));
        s.setTimesteps(7);
        INDArray x = randn(11, 1, 4), m = randn(12, 1, 4);
        StepOutput r = s.step(m, 853L, x);
        assertNull(r.predOriginalSample());
        assertEquals(1, s.counter());
        s.setTimesteps(7);
        assertEquals(0, s.counter());
        assertEquals(r.prevSample(), s.step(m, 853L, x).prevSample());
    }

    @Test void badOptionsGiveClearErrors() {
        for (SchedulerKind k : SchedulerKind.values()) {
            Scheduler s = Scheduler.create(SchedulerConfig.lavieBase(k));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0));
            assertTrue(e.getMessage().contains("must be > 0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(1001));
            assertTrue(e.getMessage().contains("cannot be larger than num_train_timesteps 1000"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.fromJson("{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"quadratic\"}"));
        assertTrue(e.getMessage().contains("unknown beta_schedule 'quadratic'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BetaSchedule.fromJson("sigmoid"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromJson("{\"_class_name\": \"LMSDiscreteScheduler\"}"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromJson("{\"_class_name\": \"DDIMScheduler\", \"betaStart\": 1}"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromJson("{\"_class_name\": \"DDPMScheduler\", \"variance_type\": \"learned\"}"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromJson("{\"_class_name\": \"DDIMScheduler\", \"thresholding\": true}"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromJson("{\"_class_name\": \"PNDMScheduler\", \"skip_prk_steps\": false}"));
        assertThrows(IllegalStateException.class, () -> new DDIMScheduler(SchedulerConfig.lavieBase(SchedulerKind.DDIM)).step(randn(1, 2), 1L, randn(2, 2)));
        Scheduler euler = Scheduler.create(SchedulerConfig.lavieBase(SchedulerKind.EULER_DISCRETE));
        euler.setTimesteps(7);
        assertThrows(IllegalArgumentException.class, () -> euler.scaleModelInput(randn(1, 2), 500.0));
    }

    @Test void sd14ConfigParsesLikeDiffusers() {
        String json = "{\"_class_name\": \"PNDMScheduler\", \"_diffusers_version\": \"0.7.0.dev0\", \"beta_end\": 0.012,"
                + " \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"num_train_timesteps\": 1000,"
                + " \"set_alpha_to_one\": false, \"skip_prk_steps\": true, \"steps_offset\": 1, \"trained_betas\": null,"
                + " \"clip_sample\": false}";
        assertEquals(SchedulerConfig.sd14(SchedulerKind.PNDM), SchedulerConfig.fromJson(json));
        SchedulerConfig ddim = SchedulerConfig.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().valueToTree(
                java.util.Map.of("steps_offset", 1, "set_alpha_to_one", false, "clip_sample", false)), SchedulerKind.DDIM);
        assertEquals(SchedulerConfig.lavieBase(SchedulerKind.DDIM), ddim);
        SchedulerConfig ddpm = SchedulerConfig.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().valueToTree(
                java.util.Map.of("steps_offset", 1, "clip_sample", false)), SchedulerKind.DDPM);
        // not a 0.16 DDPM argument: unused by DDPM, but kept as hidden config (from_config registers it), so that
        // another class built from this config gets it
        assertEquals(1, ddpm.stepsOffset());
        assertEquals(SchedulerConfig.lavieBase(SchedulerKind.DDIM).withKind(SchedulerKind.DDPM).withKind(SchedulerKind.DDIM),
                SchedulerConfig.lavieBase(SchedulerKind.DDIM));
    }
}
