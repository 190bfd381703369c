package org.lavie4j.train.optim;

import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An exponential moving average of a model's weights (the {@code "ema"} weights LaVie releases): after each
 * optimizer step, for every trainable parameter {@code ema = ema − (1 − d)·(ema − param)}, i.e.
 * {@code d·ema + (1 − d)·param}; frozen parameters and buffers are copied. The decay {@code d} is fixed, or with
 * warm-up {@code min(decay, (1 + n)/(10 + n))} where {@code n} is the number of updates made before this one (the
 * TensorFlow {@code ExponentialMovingAverage(num_updates)} form), so early averages follow the model closely.
 *
 * <p>{@link #stateDict()} has the model's own keys (aliases included): it loads into a fresh model like any
 * checkpoint. {@link #updates()} is the rest of the state.
 */
public final class Ema {
    private final Module model;
    private final double decay;
    private final boolean warmup;
    private final LinkedHashMap<String, Parameter> entries;
    private final IdentityHashMap<Parameter, INDArray> shadow = new IdentityHashMap<>();
    private long updates;

    /** Starts the average at the model's current weights. {@code decay} in [0, 1]. */
    public Ema(Module model, double decay, boolean warmup) {
        if (!(decay >= 0 && decay <= 1)) throw new IllegalArgumentException("Ema: decay must be in [0, 1], got " + decay);
        this.model = model;
        this.decay = decay;
        this.warmup = warmup;
        this.entries = model.namedEntries();
        for (Parameter p : entries.values()) shadow.computeIfAbsent(p, q -> q.data().dup('c'));
    }

    public double decay() { return decay; }

    public boolean warmup() { return warmup; }

    /** Updates made so far. */
    public long updates() { return updates; }

    /** The decay the next {@link #update()} uses. */
    public double currentDecay() {
        return warmup ? Math.min(decay, (1.0 + updates) / (10.0 + updates)) : decay;
    }

    /** Moves the average towards the model's current weights (call after each optimizer step). */
    public void update() {
        double d = currentDecay();
        IdentityHashMap<Parameter, Boolean> seen = new IdentityHashMap<>();
        for (Parameter p : entries.values()) {
            if (seen.put(p, Boolean.TRUE) != null) continue;
            INDArray s = shadow.get(p), w = p.data();
            if (!Arrays.equals(s.shape(), w.shape()))
                throw new IllegalStateException("Ema: parameter " + keyOf(p) + " changed shape from " + Arrays.toString(s.shape()) + " to " + Arrays.toString(w.shape()));
            if (!p.isTrainable()) {
                s.assign(w);
                continue;
            }
            INDArray delta = s.sub(w.dataType() == s.dataType() ? w : w.castTo(s.dataType())).muli(1 - d);
            s.subi(delta);
            Memory.free(delta);
        }
        updates++;
    }

    /** The averaged weights under every key of the model (arrays shared with this object: copy before mutating). */
    public StateDict stateDict() {
        StateDict sd = new StateDict("EMA of " + model.getClass().getSimpleName());
        entries.forEach((k, p) -> sd.put(k, shadow.get(p)));
        return sd;
    }

    /** Copies the averaged weights into {@code target} (a model of the same architecture, e.g. for evaluation). */
    public void copyTo(Module target) {
        target.load(stateDict());
    }

    /** Replaces the average by {@code weights} (the model's keys; all checked first) and the update count. */
    public void load(StateDict weights, long updates) {
        if (updates < 0) throw new IllegalArgumentException("Ema: updates must be >= 0, got " + updates);
        List<String> problems = new ArrayList<>();
        Map<Parameter, INDArray> values = new IdentityHashMap<>();
        for (Map.Entry<String, Parameter> e : entries.entrySet()) {
            if (!weights.contains(e.getKey())) {
                problems.add("missing key " + e.getKey());
                continue;
            }
            long[] found = weights.get(e.getKey()).shape();
            if (!Arrays.equals(found, e.getValue().shape()))
                problems.add(e.getKey() + ": model has shape " + Arrays.toString(e.getValue().shape()) + ", EMA state has " + Arrays.toString(found));
            else values.putIfAbsent(e.getValue(), weights.get(e.getKey()).load(shadow.get(e.getValue()).dataType()));
        }
        for (String k : weights.keys()) if (!entries.containsKey(k)) problems.add("unexpected key " + k);
        if (!problems.isEmpty())
            throw new IllegalArgumentException("Ema: cannot load " + weights.origin() + ":\n  " + String.join("\n  ", problems));
        values.forEach((p, v) -> shadow.get(p).assign(v));
        this.updates = updates;
    }

    private String keyOf(Parameter p) {
        for (Map.Entry<String, Parameter> e : entries.entrySet()) if (e.getValue() == p) return e.getKey();
        return "?";
    }
}
