package org.lavie4j.train.optim;

/**
 * The learning rate as a function of the optimizer step {@code step} = 0, 1, 2, … (the number of steps taken
 * before the one that uses it), as {@code torch.optim.lr_scheduler.LambdaLR} with the multipliers of diffusers'
 * {@code get_scheduler} / U-ViT's {@code customized_lr_scheduler}. With warm-up the first step therefore uses
 * {@code lr = 0}, as in those references.
 */
public sealed interface LrSchedule permits LrSchedule.Constant, LrSchedule.WarmupConstant, LrSchedule.WarmupCosine {

    /** The learning rate of the step after {@code step} completed steps. */
    double lr(long step);

    /** The peak (base) learning rate. */
    double baseLr();

    /** {@code lr} at every step. */
    static Constant constant(double lr) { return new Constant(lr); }

    /** Linear warm-up from 0 to {@code lr} over {@code warmupSteps}, then constant. */
    static WarmupConstant warmupConstant(double lr, long warmupSteps) { return new WarmupConstant(lr, warmupSteps); }

    /** LaVie's U-ViT style schedule: 5,000 linear warm-up steps, then constant. */
    static WarmupConstant lavie(double lr) { return new WarmupConstant(lr, 5000); }

    /** Linear warm-up, then a half cosine from {@code lr} to 0 at {@code totalSteps}. */
    static WarmupCosine warmupCosine(double lr, long warmupSteps, long totalSteps) { return new WarmupCosine(lr, warmupSteps, totalSteps); }

    private static void checkLr(double lr) {
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("LrSchedule: lr must be finite and >= 0, got " + lr);
    }

    private static void checkStep(long step) {
        if (step < 0) throw new IllegalArgumentException("LrSchedule: step must be >= 0, got " + step);
    }

    /** {@code step / warmupSteps} capped at 1 (U-ViT: {@code min(step / warmup_steps, 1)}; 1 without warm-up). */
    private static double warmupFactor(long step, long warmupSteps) {
        return warmupSteps <= 0 ? 1.0 : Math.min((double) step / warmupSteps, 1.0);
    }

    /** A constant learning rate (diffusers {@code constant}). */
    record Constant(double baseLr) implements LrSchedule {
        public Constant { checkLr(baseLr); }

        @Override public double lr(long step) {
            checkStep(step);
            return baseLr;
        }
    }

    /** diffusers {@code constant_with_warmup}: {@code lr·min(step / warmupSteps, 1)}. */
    record WarmupConstant(double baseLr, long warmupSteps) implements LrSchedule {
        public WarmupConstant {
            checkLr(baseLr);
            if (warmupSteps < 0) throw new IllegalArgumentException("LrSchedule: warmupSteps must be >= 0, got " + warmupSteps);
        }

        @Override public double lr(long step) {
            checkStep(step);
            return baseLr * warmupFactor(step, warmupSteps);
        }
    }

    /**
     * transformers/diffusers {@code cosine} ({@code num_cycles = 0.5}): warm-up as above, then
     * {@code lr·½(1 + cos(π·p))} with {@code p = (step − warmup)/(total − warmup)}, and 0 from {@code totalSteps} on
     * (deviation: transformers' formula rises again past the end).
     */
    record WarmupCosine(double baseLr, long warmupSteps, long totalSteps) implements LrSchedule {
        public WarmupCosine {
            checkLr(baseLr);
            if (warmupSteps < 0) throw new IllegalArgumentException("LrSchedule: warmupSteps must be >= 0, got " + warmupSteps);
            if (totalSteps <= warmupSteps)
                throw new IllegalArgumentException("LrSchedule: totalSteps (" + totalSteps + ") must exceed warmupSteps (" + warmupSteps + ")");
        }

        @Override public double lr(long step) {
            checkStep(step);
            if (step < warmupSteps) return baseLr * warmupFactor(step, warmupSteps);
            // progress capped at 1: transformers' formula would rise again after totalSteps
            double progress = Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
            return baseLr * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
        }
    }
}
