package org.lavie4j.train.optim;

import org.lavie4j.core.Memory;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam with decoupled weight decay (Loshchilov &amp; Hutter 2019), exactly as {@code torch.optim.AdamW} in torch 1.13
 * ({@code _single_tensor_adamw}, {@code amsgrad=False}, {@code maximize=False}). Per parameter with a gradient:
 * <pre>
 * step += 1
 * p  *= 1 − lr·wd                                   decoupled weight decay, before the moments
 * m   = β1·m + (1 − β1)·g                           exp_avg
 * v   = β2·v + (1 − β2)·g²                          exp_avg_sq
 * p  −= (lr / (1 − β1^step)) · m / (√v / √(1 − β2^step) + ε)      ε outside the square root
 * </pre>
 * Parameters whose gradient is null (frozen, or unused by the loss) are skipped, decay included, as torch skips
 * {@code p.grad is None}. Moments are kept in the parameter's dtype; scalars are computed in double.
 *
 * <p>The state ({@link #stateDict()}) has one entry per tensor, named after the parameter keys given to the
 * constructor: {@code state.<key>.step} (INT64 [1]), {@code state.<key>.exp_avg}, {@code state.<key>.exp_avg_sq}.
 * Saving it and loading it into a fresh optimizer over the same parameters continues bit for bit. The learning rate is
 * not state: a schedule sets it before each step ({@link #setLr}).
 */
public final class AdamW {
    /** Hyperparameters; the defaults are torch's ({@code lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2}). */
    public record Config(double lr, double beta1, double beta2, double eps, double weightDecay) {
        public Config {
            if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("AdamW: lr must be finite and >= 0, got " + lr);
            if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("AdamW: beta1 must be in [0, 1), got " + beta1);
            if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("AdamW: beta2 must be in [0, 1), got " + beta2);
            if (!(eps >= 0) || Double.isInfinite(eps)) throw new IllegalArgumentException("AdamW: eps must be finite and >= 0, got " + eps);
            if (!(weightDecay >= 0) || Double.isInfinite(weightDecay))
                throw new IllegalArgumentException("AdamW: weight_decay must be finite and >= 0, got " + weightDecay);
        }

        public static Config defaults() { return new Config(1e-3, 0.9, 0.999, 1e-8, 1e-2); }

        public Config withLr(double lr) { return new Config(lr, beta1, beta2, eps, weightDecay); }

        public Config withWeightDecay(double wd) { return new Config(lr, beta1, beta2, eps, wd); }
    }

    /** Prefix of every state key. */
    public static final String PREFIX = "state.";

    private static final class State {
        long step;
        INDArray expAvg, expAvgSq;
    }

    private final LinkedHashMap<String, Parameter> params;
    private final Config config;
    private final Map<String, State> state = new LinkedHashMap<>();
    private double lr;

    /**
     * An optimizer over {@code params} (key -> parameter, e.g. {@code module.namedParameters()}); buffers and
     * non-trainable parameters are left out. The keys name the state entries.
     */
    public AdamW(Map<String, Parameter> params, Config config) {
        if (config == null) throw new IllegalArgumentException("AdamW: config is null");
        this.params = new LinkedHashMap<>();
        params.forEach((k, p) -> {
            if (k == null || k.isEmpty()) throw new IllegalArgumentException("AdamW: empty parameter key");
            if (p.isTrainable()) this.params.put(k, p);
        });
        if (this.params.isEmpty()) throw new IllegalArgumentException("AdamW: no trainable parameters");
        this.config = config;
        this.lr = config.lr();
    }

    public Config config() { return config; }

    /** The learning rate the next {@link #step()} uses. */
    public double lr() { return lr; }

    /** Sets the learning rate of the next steps (a schedule calls this before each step). */
    public void setLr(double lr) {
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("AdamW: lr must be finite and >= 0, got " + lr);
        this.lr = lr;
    }

    /** The optimized parameters, in order. */
    public Map<String, Parameter> parameters() { return java.util.Collections.unmodifiableMap(params); }

    /** The number of steps taken for {@code key} (0 before its first gradient). */
    public long step(String key) {
        State s = state.get(key);
        return s == null ? 0 : s.step;
    }

    /** One update of every parameter that has a gradient; gradients are left in place (see {@link #zeroGrad()}). */
    public void step() {
        double b1 = config.beta1(), b2 = config.beta2(), eps = config.eps();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            Parameter p = e.getValue();
            INDArray g = p.grad();
            if (g == null) continue;
            INDArray w = p.data();
            if (!Arrays.equals(g.shape(), w.shape()))
                throw new IllegalStateException("AdamW: gradient of " + e.getKey() + " has shape " + Arrays.toString(g.shape())
                        + ", parameter " + Arrays.toString(w.shape()));
            State s = state.computeIfAbsent(e.getKey(), k -> {
                State n = new State();
                n.expAvg = Nd4j.zeros(w.dataType(), w.shape());
                n.expAvgSq = Nd4j.zeros(w.dataType(), w.shape());
                return n;
            });
            INDArray grad = g.dataType() == w.dataType() ? g : g.castTo(w.dataType());
            s.step++;
            double bias1 = 1 - Math.pow(b1, s.step);
            double bias2Sqrt = Math.sqrt(1 - Math.pow(b2, s.step));
            double stepSize = lr / bias1;

            w.muli(1 - lr * config.weightDecay());
            INDArray t = grad.mul(1 - b1);
            s.expAvg.muli(b1).addi(t);
            t.assign(grad).muli(grad).muli(1 - b2);
            s.expAvgSq.muli(b2).addi(t);
            INDArray denom = Transforms.sqrt(s.expAvgSq, true).divi(bias2Sqrt).addi(eps);
            t.assign(s.expAvg).muli(-stepSize).divi(denom);
            w.addi(t);
            Memory.free(t, denom);
            if (grad != g) Memory.free(grad);
        }
    }

    /** Clears the gradients of the optimized parameters. */
    public void zeroGrad() {
        for (Parameter p : params.values()) p.zeroGrad();
    }

    /** A copy of the state (see the class comment for the keys), in parameter order. */
    public StateDict stateDict() {
        StateDict sd = new StateDict("AdamW state");
        for (Map.Entry<String, State> e : state.entrySet()) {
            String k = PREFIX + e.getKey();
            State s = e.getValue();
            sd.put(k + ".step", Nd4j.createFromArray(s.step));
            sd.put(k + ".exp_avg", s.expAvg.dup('c'));
            sd.put(k + ".exp_avg_sq", s.expAvgSq.dup('c'));
        }
        return sd;
    }

    /**
     * Replaces the state with {@code sd} (copied). Every entry must name an optimized parameter with the three
     * entries present and the parameter's shape; all problems are reported at once and nothing changes then.
     */
    public void loadStateDict(StateDict sd) {
        List<String> problems = new ArrayList<>();
        Map<String, State> loaded = new LinkedHashMap<>();
        for (String key : sd.keys()) {
            String name = paramOf(key);
            if (name == null || !params.containsKey(name)) problems.add("unexpected key " + key);
        }
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            String k = PREFIX + e.getKey();
            boolean any = sd.contains(k + ".step") || sd.contains(k + ".exp_avg") || sd.contains(k + ".exp_avg_sq");
            if (!any) continue;     // no step taken for this parameter yet
            long[] shape = e.getValue().shape();
            State s = new State();
            if (!sd.contains(k + ".step")) problems.add("missing key " + k + ".step");
            else {
                TensorSource src = sd.get(k + ".step");
                if (src.numel() != 1 || src.dtype().isFloatingPoint()) problems.add(k + ".step must be one integer, got " + src);
                else s.step = src.load(DataType.LONG).getLong(0);
                if (s.step < 0) problems.add(k + ".step is negative: " + s.step);
            }
            s.expAvg = moment(sd, k + ".exp_avg", shape, e.getValue().dtype(), problems);
            s.expAvgSq = moment(sd, k + ".exp_avg_sq", shape, e.getValue().dtype(), problems);
            loaded.put(e.getKey(), s);
        }
        if (!problems.isEmpty())
            throw new IllegalArgumentException("AdamW: cannot load optimizer state from " + sd.origin() + ":\n  " + String.join("\n  ", problems));
        for (State s : state.values()) Memory.free(s.expAvg, s.expAvgSq);
        state.clear();
        state.putAll(loaded);
    }

    private static INDArray moment(StateDict sd, String key, long[] shape, DataType type, List<String> problems) {
        if (!sd.contains(key)) {
            problems.add("missing key " + key);
            return null;
        }
        TensorSource src = sd.get(key);
        if (!Arrays.equals(src.shape(), shape)) {
            problems.add(key + ": parameter has shape " + Arrays.toString(shape) + ", state has " + Arrays.toString(src.shape()));
            return null;
        }
        INDArray a = src.load();
        return a.dataType() == type ? a.dup('c') : a.castTo(type);
    }

    private static String paramOf(String stateKey) {
        if (!stateKey.startsWith(PREFIX)) return null;
        for (String suffix : new String[]{".step", ".exp_avg_sq", ".exp_avg"})
            if (stateKey.endsWith(suffix)) return stateKey.substring(PREFIX.length(), stateKey.length() - suffix.length());
        return null;
    }
}
