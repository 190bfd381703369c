package org.lavie4j.benchmarks;

import org.lavie4j.core.Module;
import org.lavie4j.core.OpListener;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Per-layer timing of one forward through lavie-core's off-by-default {@link OpListener} hook: every op result is
 * stamped with {@code System.nanoTime()}, and the time since the previous op (the op's own compute, plus the Java glue,
 * frees and views between the two) is charged to it, so the rows add up to the whole forward. ND4J's CPU ops are
 * synchronous, so an op's time ends when its result is wrapped.
 *
 * <p>An op is attributed to a layer through its weight: an op whose input is a parameter of the model (conv, linear,
 * norm) belongs to that parameter's module; a weightless op (attention products, activations, residual adds, copies)
 * to the module around the last weighted op before it (e.g. {@code attn1}'s products follow its {@code to_v}). Keys
 * are module paths with the block and layer indices removed ({@code down_blocks.0.resnets.1.conv1 -> resnets.conv1}),
 * so every UNet level adds into one row; a second table groups the ops into kinds. Multiply-adds are counted from the
 * op's own shapes (conv, linear, matmul, attention products).
 */
final class OpProfile implements OpListener {
    /** A row of the profile. */
    static final class Row {
        final String key;
        long calls, nanos;
        double macs;

        Row(String key) { this.key = key; }
    }

    private static final Set<String> LISTS = Set.of("down_blocks", "up_blocks", "resnets", "attentions", "transformer_blocks",
            "downsamplers", "upsamplers", "down_temporal_blocks", "up_temporal_blocks");
    private static final Set<String> DROPPED = Set.of("down_blocks", "up_blocks", "mid_block", "transformer_blocks");

    private final IdentityHashMap<INDArray, String> owners = new IdentityHashMap<>();
    private final Map<String, Row> layers = new LinkedHashMap<>(), kinds = new LinkedHashMap<>();
    private String context = "";
    private long last, start, end;

    /** A profile of {@code model}'s ops (parameters identified by their arrays: take it after any weight loading). */
    OpProfile(Module model) {
        for (Map.Entry<String, Parameter> e : model.namedEntries().entrySet()) {
            String key = e.getKey();
            owners.putIfAbsent(e.getValue().data(), key.substring(0, Math.max(0, key.lastIndexOf('.'))));
        }
    }

    /** Starts the clock (call right before the forward). */
    void start() {
        start = last = System.nanoTime();
    }

    /** Stops the clock: the time after the last op goes to a row of its own. */
    void stop() {
        end = System.nanoTime();
        add(layers, "(after the last op)", end - last, 0);
        add(kinds, "other", end - last, 0);
    }

    double seconds() { return (end - start) / 1e9; }

    @Override
    public void onOp(String op, INDArray out, Tensor[] inputs) {
        long now = System.nanoTime(), dt = now - last;
        String owner = null;
        for (Tensor t : inputs) {
            if (t == null) continue;
            owner = owners.get(t.data());
            if (owner != null) break;
        }
        String layer;
        if (owner != null) {
            context = parent(owner);
            layer = shortPath(owner) + " " + op;
        } else {
            layer = shortPath(context) + " · " + op;
        }
        double macs = macs(op, out, inputs);
        add(layers, layer, dt, macs);
        add(kinds, kind(op, inputs, owner == null ? context : owner), dt, macs);
        last = System.nanoTime();          // the listener's own bookkeeping is not charged to the next op
    }

    private static void add(Map<String, Row> rows, String key, long nanos, double macs) {
        Row r = rows.computeIfAbsent(key, Row::new);
        r.calls++;
        r.nanos += nanos;
        r.macs += macs;
    }

    /** Multiply-adds of an op from its shapes: conv2d, linear, matmul, attention products; 0 for the rest. */
    static double macs(String op, INDArray out, Tensor[] in) {
        switch (op) {
            case "conv2d" -> {
                long[] w = in[1].shape();                                   // (o, c, kh, kw)
                return (double) out.length() * w[1] * w[2] * w[3];
            }
            case "linear" -> {
                return (double) out.length() * in[1].size(1);              // weight (out, in)
            }
            case "matmul" -> {
                long n = out.size(-1);
                return (double) in[0].numel() * n;                          // out.length · K = (batch·M·K) · N
            }
            case "scaledDotProduct" -> {
                long[] q = in[0].shape(), k = in[1].shape(), v = in[2].shape();   // (b, h, lq, d), (b, h, lk, d), (b, h, lk, dv)
                return (double) q[0] * q[1] * q[2] * k[2] * (q[3] + v[3]);
            }
            default -> {
                return 0;
            }
        }
    }

    /** The coarse kind of an op, for the second table. */
    private static String kind(String op, Tensor[] in, String path) {
        return switch (op) {
            case "conv2d" -> "conv " + in[1].size(2) + "x" + in[1].size(3);
            case "linear" -> path.contains(".ff.") ? "linear: feed-forward" : path.contains("attn") ? "linear: attention projections" : "linear: other";
            case "scaledDotProduct" -> "attention products: " + (path.endsWith("attn1") ? "spatial (attn1)" : path.endsWith("attn2")
                    ? "cross (attn2)" : path.contains("attn_temp") ? "temporal (attn_temp)" : path);
            case "groupNorm", "groupNormPerFrame" -> "GroupNorm";
            case "layerNorm" -> "LayerNorm";
            case "silu", "gelu", "mul", "add", "scale", "addScalar", "sin", "cos", "exp", "sub", "neg", "sigmoid", "tanh", "quickGelu" -> "elementwise (" + op + ")";
            case "reshape", "permute", "contiguous", "concat", "repeat", "slice", "cast" -> "copies and views (" + op + ")";
            default -> "other (" + op + ")";
        };
    }

    /** {@code down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q} -> {@code attentions.attn1.to_q}. */
    static String shortPath(String path) {
        if (path.isEmpty()) return "(unet)";
        String[] parts = path.split("\\.");
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            boolean index = i > 0 && LISTS.contains(parts[i - 1]) && parts[i].chars().allMatch(Character::isDigit);
            if (!index && !DROPPED.contains(parts[i])) kept.add(parts[i]);
        }
        return kept.isEmpty() ? "(unet)" : String.join(".", kept);
    }

    private static String parent(String path) {
        int dot = path.lastIndexOf('.');
        return dot < 0 ? "" : path.substring(0, dot);
    }

    /** The two tables: by kind, then by layer (rows of at least {@code minShare} of the time; the rest summed). */
    String table(double peakGflops, double minShare) {
        StringBuilder sb = new StringBuilder();
        double total = (end - start) / 1e9;
        sb.append(String.format(Locale.ROOT, "forward %.2f s; %.3f TMAC counted from op shapes; %.1f GFLOP/s (%.1f%% of %.0f GFLOPS peak)%n",
                total, sumMacs() / 1e12, 2 * sumMacs() / total / 1e9, 100 * 2 * sumMacs() / total / 1e9 / peakGflops, peakGflops));
        sb.append("\nby kind\n");
        rows(sb, kinds, total, peakGflops, 0);
        sb.append("\nby layer (module path without block indices; '·' = weightless op inside that module)\n");
        rows(sb, layers, total, peakGflops, minShare);
        return sb.toString();
    }

    double sumMacs() {
        double m = 0;
        for (Row r : kinds.values()) m += r.macs;
        return m;
    }

    private static void rows(StringBuilder sb, Map<String, Row> rows, double total, double peak, double minShare) {
        sb.append(String.format(Locale.ROOT, "%-52s | %7s | %9s | %6s | %10s | %9s | %s%n", "layer kind", "calls", "seconds", "share", "GMAC", "GFLOP/s", "% peak"));
        List<Row> sorted = new ArrayList<>(rows.values());
        sorted.sort((a, b) -> Long.compare(b.nanos, a.nanos));
        Row rest = new Row("(rows under " + String.format(Locale.ROOT, "%.1f%%", 100 * minShare) + ")");
        for (Row r : sorted) {
            double s = r.nanos / 1e9;
            if (s / total < minShare) {
                rest.calls += r.calls;
                rest.nanos += r.nanos;
                rest.macs += r.macs;
                continue;
            }
            line(sb, r, total, peak);
        }
        if (rest.calls > 0) line(sb, rest, total, peak);
    }

    private static void line(StringBuilder sb, Row r, double total, double peak) {
        double s = r.nanos / 1e9, gflops = r.macs > 0 ? 2 * r.macs / s / 1e9 : 0;
        sb.append(String.format(Locale.ROOT, "%-52s | %7d | %9.3f | %5.1f%% | %10.1f | %9s | %s%n", r.key, r.calls, s, 100 * s / total,
                r.macs / 1e9, r.macs > 0 ? String.format(Locale.ROOT, "%.1f", gflops) : "-",
                r.macs > 0 ? String.format(Locale.ROOT, "%.1f%%", 100 * gflops / peak) : "-"));
    }
}
