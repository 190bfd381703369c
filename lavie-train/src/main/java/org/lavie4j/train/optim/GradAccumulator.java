package org.lavie4j.train.optim;

import org.lavie4j.core.Parameter;

import java.util.Collection;

/**
 * Gradient accumulation over {@code k} micro-batches: each backward pass adds its gradients into the parameters'
 * {@code grad()} (the tape accumulates into leaves), so after {@code k} passes they hold the sum; with
 * {@link Reduction#MEAN} they are then divided by {@code k}, which equals the gradient of the mean of the {@code k}
 * micro-batch losses (one batch of {@code k}× the size when the losses are means over equal micro-batches).
 * <pre>{@code
 * for (batch : microBatches) {
 *     try (Tape tape = Grad.record()) { tape.backward(loss(batch)); }
 *     if (acc.microBatchDone(params)) { clip; optimizer.step(); optimizer.zeroGrad(); }
 * }
 * }</pre>
 */
public final class GradAccumulator {
    /** How the {@code k} micro-batch gradients are combined. */
    public enum Reduction { SUM, MEAN }

    private final int steps;
    private final Reduction reduction;
    private int pending;

    public GradAccumulator(int steps, Reduction reduction) {
        if (steps < 1) throw new IllegalArgumentException("GradAccumulator: steps must be >= 1, got " + steps);
        if (reduction == null) throw new IllegalArgumentException("GradAccumulator: reduction is null");
        this.steps = steps;
        this.reduction = reduction;
    }

    /** Micro-batches per optimizer step. */
    public int steps() { return steps; }

    public Reduction reduction() { return reduction; }

    /** Micro-batches accumulated since the last completed group (0 at a step boundary). */
    public int pending() { return pending; }

    /**
     * Records that one more micro-batch's backward has run. Returns true when it completes a group of {@code k}: the
     * gradients of {@code params} are then reduced (divided by {@code k} for MEAN) and ready for the optimizer step;
     * the caller zeroes them after the step.
     */
    public boolean microBatchDone(Collection<Parameter> params) {
        pending++;
        if (pending < steps) return false;
        pending = 0;
        if (reduction == Reduction.MEAN && steps > 1) {
            for (Parameter p : params) if (p.grad() != null) p.grad().divi(steps);
        }
        return true;
    }
}
