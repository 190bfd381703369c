package org.lavie4j.core;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Swish;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * Differentiable tensor ops: each computes with ND4J and, only while a {@link Tape} records and an input needs a
 * gradient, records a backward rule. Broadcasting follows NumPy/PyTorch rules. Layer-level ops (convolution,
 * normalisation) live in {@link NnOps}, attention in {@link Attention}, named rearranges in {@link Rearrange}.
 */
public final class Ops {
    private Ops() {}

    // ------------------------------------------------------------------ recording

    private static volatile OpListener listener;

    /**
     * Sets (or with null removes) the process-wide {@link OpListener} that sees every op result: a profiling hook,
     * off by default, that does not change what any op computes.
     */
    public static void setListener(OpListener l) { listener = l; }

    /**
     * Wraps an op result: records it when a tape is active and any input needs a gradient. {@code out} must be a
     * fresh array that the op owns (not a view of an input: use the view variant for those).
     */
    public static Tensor record(String op, INDArray out, Backward backward, Tensor... inputs) {
        return record(op, out, out, backward, inputs);
    }

    /**
     * As {@link #record(String, INDArray, Backward, Tensor...)} where {@code out} may be a view (e.g. a reshape) of
     * the fresh array {@code owner}, which is what gets freed.
     */
    public static Tensor record(String op, INDArray out, INDArray owner, Backward backward, Tensor... inputs) {
        OpListener l = listener;
        if (l != null) l.onOp(op, out, inputs);
        Tape tape = Grad.current();
        if (tape != null) {
            for (Tensor t : inputs) {
                if (t != null && t.requiresGrad()) {
                    Node node = new Node(op, inputs, backward);
                    tape.add(node);
                    tape.own(owner);
                    return Tensor.recorded(out, node);
                }
            }
        }
        return Tensor.result(out, owner);
    }

    /** A fresh result of a fast path that skips {@link #record} when nothing records: seen by the listener all the same. */
    private static Tensor unrecorded(String op, INDArray out, Tensor input) {
        OpListener l = listener;
        if (l != null) l.onOp(op, out, new Tensor[]{input});
        return Tensor.result(out);
    }

    /** Like {@link #record} for results that are views of an input (never closed by {@link Tensor#release()}). */
    static Tensor recordView(String op, INDArray view, Backward backward, Tensor input) {
        OpListener l = listener;
        if (l != null) l.onOp(op, view, new Tensor[]{input});
        Tape tape = Grad.current();
        if (tape != null && input.requiresGrad()) {
            Node node = new Node(op, new Tensor[]{input}, backward);
            tape.add(node);
            return Tensor.recorded(view, node);
        }
        return Tensor.viewOf(view, input);
    }

    /** Sums a broadcast gradient back to {@code shape} (the inverse of broadcasting). */
    public static INDArray sumToShape(INDArray g, long[] shape) {
        if (Arrays.equals(g.shape(), shape)) return g;
        int lead = g.rank() - shape.length;
        if (lead < 0) throw new IllegalArgumentException("cannot reduce " + Arrays.toString(g.shape()) + " to " + Arrays.toString(shape));
        INDArray r = g;
        if (lead > 0) r = leadingSum(g, lead);
        int count = 0;
        int[] dims = new int[shape.length];
        for (int i = 0; i < shape.length; i++) if (shape[i] == 1 && r.size(i) != 1) dims[count++] = i;
        if (count > 0) r = r.sum(true, Arrays.copyOf(dims, count));
        return r.reshape(shape);
    }

    /**
     * The sum over the first {@code lead} axes of g, viewed as (rows, rest): shape g.shape() without those axes. For
     * float32 c-contiguous g, each column is summed in double in a Java loop (parallel over column blocks when large)
     * and rounded once; ND4J's reduction along the leading axis walks each column with a stride and rounds every
     * partial sum to float (it was 4% of a tiny training step, for the bias gradients of the Linears). Other inputs
     * (double ones included) use ND4J's sum.
     */
    static INDArray leadingSum(INDArray g, int lead) {
        long[] gs = g.shape();
        long rows = 1;
        for (int i = 0; i < lead; i++) rows *= gs[i];
        if (g.dataType() != DataType.FLOAT || g.ordering() != 'c' || !Shape.hasDefaultStridesForShape(g)
                || g.length() == 0 || g.length() > Integer.MAX_VALUE) {
            int[] dims = new int[lead];
            for (int i = 0; i < lead; i++) dims[i] = i;
            return g.sum(false, dims);
        }
        int n = (int) rows, c = (int) (g.length() / rows);
        float[] sums = new float[c];
        int block = (int) Math.max(64, Math.min(c, (1L << 16) / Math.max(1, n)));
        int tasks = (c + block - 1) / block;
        java.util.stream.IntStream range = java.util.stream.IntStream.range(0, tasks);
        if (tasks > 1 && (long) n * c >= (1 << 18)) range = range.parallel();
        java.nio.FloatBuffer src = g.data().asNio().order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer().position((int) g.offset()).slice();
        range.forEach(k -> {
            int c0 = k * block, w = Math.min(c, c0 + block) - c0;
            float[] row = new float[w];
            double[] sum = new double[w];
            for (int r = 0; r < n; r++) {
                src.get(r * c + c0, row, 0, w);
                for (int j = 0; j < w; j++) sum[j] += row[j];
            }
            for (int j = 0; j < w; j++) sums[c0 + j] = (float) sum[j];
        });
        return Nd4j.createFromArray(sums).reshape(Arrays.copyOfRange(gs, lead, gs.length));
    }

    private static void checkBroadcast(String op, Tensor a, Tensor b) {
        long[] x = a.shape(), y = b.shape();
        for (int i = 1; i <= Math.min(x.length, y.length); i++) {
            long p = x[x.length - i], q = y[y.length - i];
            if (p != q && p != 1 && q != 1)
                throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(x) + " and " + Arrays.toString(y) + " do not broadcast");
        }
        if (a.dtype() != b.dtype()) throw new IllegalArgumentException(op + ": dtypes differ (" + a.dtype() + " vs " + b.dtype() + ")");
    }

    // ------------------------------------------------------------------ arithmetic (broadcasting)

    public static Tensor add(Tensor a, Tensor b) {
        checkBroadcast("add", a, b);
        INDArray x = a.data(), y = b.data(), out;
        if (x.dataType() == DataType.FLOAT && Arrays.equals(x.shape(), y.shape()) && x.ordering() == y.ordering()) {
            // ND4J's add(y) into a result laid out as it would allocate it (x's order), from Memory rather than ND4J
            out = x.add(y, Memory.uninitialized(DataType.FLOAT, x.shape(), x.ordering()));
        } else {
            out = x.add(y);
        }
        long[] sa = a.shape(), sb = b.shape();
        return record("add", out, g -> new INDArray[]{sumToShape(g, sa), sumToShape(g, sb)}, a, b);
    }

    /**
     * {@code a + b} written into a's own buffer, returning {@code a} itself, when no tape records a or b and b
     * broadcasts to a's shape; otherwise {@link #add} (a fresh result). For residual connections whose left operand is a
     * fresh intermediate that only the caller holds (an attention or feed-forward output): inference then skips the
     * output allocation, whose fresh pages cost about as much as the add itself. The values are add's floats. Only a
     * c-contiguous {@code a} is written into (otherwise the result's layout would differ from add's). The caller
     * releases {@code a} only when the result is another tensor.
     */
    public static Tensor addInto(Tensor a, Tensor b) {
        checkBroadcast("add", a, b);
        Tape tape = Grad.current();
        boolean recorded = tape != null && (a.requiresGrad() || b.requiresGrad());
        INDArray x = a.data();
        // in place only into a c-contiguous a: add's result is c-contiguous, and so must this be (a permuted view would
        // send the next layers down their strided paths, e.g. GroupNorm's composed twin instead of its fused kernel)
        if (recorded || !Arrays.equals(Shape.broadcastOutputShape(a.shape(), b.shape()), a.shape()) || x.ordering() != 'c'
                || !Shape.hasDefaultStridesForShape(x)) return add(a, b);
        a.data().addi(b.data());
        OpListener l = listener;
        if (l != null) l.onOp("add", a.data(), new Tensor[]{a, b});
        return a;
    }

    public static Tensor sub(Tensor a, Tensor b) {
        checkBroadcast("sub", a, b);
        INDArray out = a.data().sub(b.data());
        long[] sa = a.shape(), sb = b.shape();
        return record("sub", out, g -> new INDArray[]{sumToShape(g, sa), b.requiresGrad() ? sumToShape(g.neg(), sb) : null}, a, b);
    }

    public static Tensor mul(Tensor a, Tensor b) {
        checkBroadcast("mul", a, b);
        INDArray x = a.data(), y = b.data();
        INDArray out = x.mul(y);
        return record("mul", out, g -> new INDArray[]{
                a.requiresGrad() ? sumToShape(g.mul(y), x.shape()) : null,
                b.requiresGrad() ? sumToShape(g.mul(x), y.shape()) : null}, a, b);
    }

    public static Tensor div(Tensor a, Tensor b) {
        checkBroadcast("div", a, b);
        INDArray x = a.data(), y = b.data();
        INDArray out = x.div(y);
        return record("div", out, g -> new INDArray[]{
                a.requiresGrad() ? sumToShape(g.div(y), x.shape()) : null,
                b.requiresGrad() ? sumToShape(g.mul(out).divi(y).negi(), y.shape()) : null}, a, b);
    }

    /** x * s for a scalar s. */
    public static Tensor scale(Tensor x, double s) {
        return record("scale", x.data().mul(s), g -> new INDArray[]{g.mul(s)}, x);
    }

    /**
     * {@code x * s} written into x's own buffer, returning x itself, when no tape records x and x is c-contiguous (a fresh
     * intermediate only the caller holds, e.g. a projection's output); otherwise {@link #scale} (a fresh result). The
     * same floats either way.
     */
    public static Tensor scaleInto(Tensor x, double s) {
        INDArray in = x.data();
        if (!ownedInPlace(x)) return scale(x, s);
        in.muli(s);
        OpListener l = listener;
        if (l != null) l.onOp("scale", in, new Tensor[]{x});
        return x;
    }

    /**
     * Whether an in-place variant may write into x: no tape records it, and it is c-contiguous with default strides (so
     * the result has the layout of the out-of-place op's).
     */
    private static boolean ownedInPlace(Tensor x) {
        INDArray in = x.data();
        return !(Grad.isRecording() && x.requiresGrad()) && in.ordering() == 'c' && Shape.hasDefaultStridesForShape(in);
    }

    /** x + s for a scalar s. */
    public static Tensor addScalar(Tensor x, double s) {
        return record("addScalar", x.data().add(s), g -> new INDArray[]{g}, x);
    }

    public static Tensor neg(Tensor x) { return record("neg", x.data().neg(), g -> new INDArray[]{g.neg()}, x); }

    // ------------------------------------------------------------------ elementwise functions

    public static Tensor exp(Tensor x) {
        INDArray y = Transforms.exp(x.data(), true);
        return record("exp", y, g -> new INDArray[]{g.mul(y)}, x);
    }

    public static Tensor sin(Tensor x) {
        INDArray in = x.data();
        return record("sin", Transforms.sin(in, true), g -> new INDArray[]{g.mul(Transforms.cos(in, true))}, x);
    }

    public static Tensor cos(Tensor x) {
        INDArray in = x.data();
        return record("cos", Transforms.cos(in, true), g -> new INDArray[]{g.mul(Transforms.sin(in, true)).negi()}, x);
    }

    public static Tensor sqrt(Tensor x) {
        INDArray y = Transforms.sqrt(x.data(), true);
        return record("sqrt", y, g -> new INDArray[]{g.div(y).muli(0.5)}, x);
    }

    /** 1/sqrt(x). */
    public static Tensor rsqrt(Tensor x) {
        INDArray in = x.data();
        INDArray y = Transforms.pow(in, -0.5, true);
        return record("rsqrt", y, g -> new INDArray[]{g.mul(y).muli(y).muli(y).muli(-0.5)}, x);
    }

    /** x^p for a scalar exponent p. */
    public static Tensor pow(Tensor x, double p) {
        INDArray in = x.data();
        return record("pow", Transforms.pow(in, p, true), g -> new INDArray[]{g.mul(Transforms.pow(in, p - 1, true)).muli(p)}, x);
    }

    public static Tensor square(Tensor x) {
        INDArray in = x.data();
        return record("square", in.mul(in), g -> new INDArray[]{g.mul(in).muli(2.0)}, x);
    }

    public static Tensor sigmoid(Tensor x) {
        INDArray y = Transforms.sigmoid(x.data(), true);
        return record("sigmoid", y, g -> new INDArray[]{y.rsub(1.0).muli(y).muli(g)}, x);
    }

    public static Tensor tanh(Tensor x) {
        INDArray y = Transforms.tanh(x.data(), true);
        return record("tanh", y, g -> new INDArray[]{y.mul(y).rsubi(1.0).muli(g)}, x);
    }

    /**
     * SiLU / swish: x·σ(x), in one pass; the backward recomputes σ(x) rather than keep it alive. Outside training
     * ({@link Grad#inTraining()}), float32 c-contiguous arrays take a Java Vector API kernel ({@link #vectorElementwise()});
     * otherwise ND4J's {@code Swish} op (bit for bit the float result of sigmoid then multiply).
     */
    public static Tensor silu(Tensor x) {
        INDArray in = x.data();
        INDArray y = siluInto(in, Memory.uninitialized(in.dataType(), in.shape(), in.ordering()));
        if (!Grad.isRecording() || !x.requiresGrad()) return unrecorded("silu", y, x);
        // d/dx = s·(1 + x·(1 − s))
        return record("silu", y, g -> {
            INDArray s = Transforms.sigmoid(in, true);
            INDArray d = s.rsub(1.0).muli(in).addi(1.0).muli(s).muli(g);
            Memory.free(s);
            return new INDArray[]{d};
        }, x);
    }

    /** x·σ(x) of every element of {@code in} written to {@code out} (which may be {@code in}): one pass, see {@link #silu}. */
    public static INDArray siluInto(INDArray in, INDArray out) {
        if (!Arrays.equals(in.shape(), out.shape()))
            throw new IllegalArgumentException("siluInto: out " + Arrays.toString(out.shape()) + " is not the shape of in " + Arrays.toString(in.shape()));
        if (vectorElementwise && !Grad.inTraining() && Kernels.denseFloat(in) && Kernels.denseFloat(out)) {
            VectorElementwise.silu(in, out);
            return out;
        }
        return Nd4j.exec(new Swish(in, out));
    }

    /**
     * {@code silu(x)} written into x's own buffer, returning x itself, when no tape records x and x is c-contiguous (an
     * intermediate that only the caller holds, e.g. a GroupNorm output); otherwise {@link #silu} (a fresh result).
     */
    public static Tensor siluInPlace(Tensor x) {
        INDArray in = x.data();
        if (!ownedInPlace(x)) return silu(x);
        siluInto(in, in);
        OpListener l = listener;
        if (l != null) l.onOp("silu", in, new Tensor[]{x});
        return x;
    }

    private static volatile boolean vectorElementwise = Kernels.VECTOR_API
            && !"nd4j".equalsIgnoreCase(System.getProperty("lavie.elementwise.kernel", "vector"));

    /**
     * Whether inference elementwise functions (SiLU) run on Java Vector API kernels rather than ND4J's scalar transform
     * ops, and {@link #linearAdd} joins the bias and the addend to the product in one pass: true when the JVM has
     * {@code jdk.incubator.vector} (the launcher adds it) and the system property {@code lavie.elementwise.kernel} is not
     * {@code nd4j}. Training always runs ND4J's ops.
     */
    public static boolean vectorElementwise() { return vectorElementwise; }

    /** Turns the elementwise kernels on or off (tests, benchmarks; on needs the module); returns the previous setting. */
    static boolean vectorElementwise(boolean on) {
        if (on && !Kernels.VECTOR_API) throw new IllegalStateException("the elementwise kernels need --add-modules jdk.incubator.vector");
        boolean was = vectorElementwise;
        vectorElementwise = on;
        return was;
    }

    /** Exact GELU 0.5·x·(1 + erf(x/√2)), as torch's default (ND4J's own GELU op is the sigmoid approximation). */
    public static Tensor gelu(Tensor x) {
        INDArray in = x.data();
        INDArray scaled = in.mul(1.0 / Math.sqrt(2.0));
        INDArray cdf = erf(scaled).addi(1.0).muli(0.5); // Φ(x)
        Memory.free(scaled);
        INDArray y = in.mul(cdf);
        if (!Grad.isRecording() || !x.requiresGrad()) {
            Memory.free(cdf);
            return unrecorded("gelu", y, x);
        }
        return record("gelu", y, g -> {
            // Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)
            INDArray d = Transforms.exp(in.mul(in).muli(-0.5), false).muli(1.0 / Math.sqrt(2 * Math.PI));
            d.muli(in).addi(cdf).muli(g);
            Memory.free(cdf);
            return new INDArray[]{d};
        }, x);
    }

    /** quick_gelu x·σ(1.702x) (CLIP ViT-L/14). */
    public static Tensor quickGelu(Tensor x) {
        INDArray in = x.data();
        INDArray s = Transforms.sigmoid(in.mul(1.702), false);
        INDArray y = in.mul(s);
        if (!Grad.isRecording() || !x.requiresGrad()) {
            Memory.free(s);
            return unrecorded("quickGelu", y, x);
        }
        return record("quickGelu", y, g -> {
            INDArray d = s.rsub(1.0).muli(in).muli(1.702).addi(1.0).muli(s).muli(g);
            Memory.free(s);
            return new INDArray[]{d};
        }, x);
    }

    static INDArray erf(INDArray x) {
        INDArray out = x.ulike();
        Nd4j.getExecutioner().exec(new Erf(x, out));
        return out;
    }

    /** Clamps to [min, max]; the gradient passes where min ≤ x ≤ max (as torch.clamp). */
    public static Tensor clamp(Tensor x, double min, double max) {
        if (min > max) throw new IllegalArgumentException("clamp: min " + min + " > max " + max);
        INDArray in = x.data();
        INDArray y = Transforms.min(Transforms.max(in, min, true), max, false);
        return record("clamp", y, g -> {
            INDArray mask = in.gte(min).castTo(in.dataType()).muli(in.lte(max).castTo(in.dataType()));
            return new INDArray[]{g.mul(mask)};
        }, x);
    }

    /** Converts the dtype; the gradient is converted back. */
    public static Tensor cast(Tensor x, DataType type) {
        DataType from = x.dtype();
        if (from == type) return x;
        return record("cast", x.data().castTo(type), g -> new INDArray[]{g.castTo(from)}, x);
    }

    // ------------------------------------------------------------------ reductions

    /** Sum over {@code dims} (all dims when empty). */
    public static Tensor sum(Tensor x, boolean keepDims, int... dims) {
        long[] shape = x.shape();
        int[] d = normDims(dims, shape.length);
        INDArray out = x.data().sum(keepDims, d);
        return record("sum", out, g -> new INDArray[]{broadcastBack(g, shape, d, keepDims, 1.0)}, x);
    }

    /** Mean over {@code dims} (all dims when empty). */
    public static Tensor mean(Tensor x, boolean keepDims, int... dims) {
        long[] shape = x.shape();
        int[] d = normDims(dims, shape.length);
        long n = 1;
        for (int i : d) n *= shape[i];
        double inv = 1.0 / n;
        INDArray out = x.data().mean(keepDims, d);
        return record("mean", out, g -> new INDArray[]{broadcastBack(g, shape, d, keepDims, inv)}, x);
    }

    static int[] normDims(int[] dims, int rank) {
        if (dims == null || dims.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) all[i] = i;
            return all;
        }
        int[] d = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            d[i] = dims[i] < 0 ? dims[i] + rank : dims[i];
            if (d[i] < 0 || d[i] >= rank) throw new IllegalArgumentException("dim " + dims[i] + " out of range for rank " + rank);
        }
        Arrays.sort(d);
        return d;
    }

    static INDArray broadcastBack(INDArray g, long[] shape, int[] dims, boolean keepDims, double factor) {
        long[] kept = shape.clone();
        for (int i : dims) kept[i] = 1;
        INDArray gk = keepDims ? g : g.reshape(kept);
        INDArray out = Nd4j.zeros(g.dataType(), shape).addi(gk);
        return factor == 1.0 ? out : out.muli(factor);
    }

    /** Mean squared error over all elements (torch.nn.functional.mse_loss, reduction "mean"), shape [1]. */
    public static Tensor mseLoss(Tensor prediction, Tensor target) {
        if (!Arrays.equals(prediction.shape(), target.shape()))
            throw new IllegalArgumentException("mseLoss: prediction " + Arrays.toString(prediction.shape()) + " vs target " + Arrays.toString(target.shape()));
        return reshape(mean(square(sub(prediction, target)), false), 1);
    }

    // ------------------------------------------------------------------ linear algebra

    /**
     * Matrix product over the last two dims with optional transposes; leading (batch) dims must be equal
     * (ND4J's matmul does not broadcast them).
     */
    public static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
        INDArray x = a.data(), y = b.data();
        if (x.rank() != y.rank() || x.rank() < 2)
            throw new IllegalArgumentException("matmul: ranks " + x.rank() + " and " + y.rank() + " (shapes " + Arrays.toString(x.shape()) + ", " + Arrays.toString(y.shape()) + ")");
        for (int i = 0; i < x.rank() - 2; i++)
            if (x.size(i) != y.size(i)) throw new IllegalArgumentException("matmul: batch dims differ " + Arrays.toString(x.shape()) + " vs " + Arrays.toString(y.shape()));
        long k1 = transA ? x.size(-2) : x.size(-1), k2 = transB ? y.size(-1) : y.size(-2);
        if (k1 != k2) throw new IllegalArgumentException("matmul: inner dims differ " + Arrays.toString(x.shape()) + (transA ? "^T" : "") + " x " + Arrays.toString(y.shape()) + (transB ? "^T" : ""));
        INDArray out = Nd4j.matmul(x, y, transA, transB, false);
        return record("matmul", out, g -> {
            INDArray ga = null, gb = null;
            if (a.requiresGrad()) {
                // C = op(A)·op(B): dop(A) = G·op(B)^T
                ga = transA ? Nd4j.matmul(y, g, transB, true, false) : Nd4j.matmul(g, y, false, !transB, false);
            }
            if (b.requiresGrad()) {
                gb = transB ? Nd4j.matmul(g, x, true, transA, false) : Nd4j.matmul(x, g, !transA, false, false);
            }
            return new INDArray[]{ga, gb};
        }, a, b);
    }

    public static Tensor matmul(Tensor a, Tensor b) { return matmul(a, b, false, false); }

    /** y = x·Wᵀ + b with W [out, in] (torch.nn.Linear layout); x (..., in) -> (..., out). {@code bias} may be null. */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        long[] xs = x.shape();
        long in = xs[xs.length - 1];
        INDArray w = weight.data();
        if (w.rank() != 2 || w.size(1) != in)
            throw new IllegalArgumentException("linear: weight " + Arrays.toString(w.shape()) + " does not fit input " + Arrays.toString(xs));
        long out = w.size(0);
        if (bias != null && (bias.rank() != 1 || bias.size(0) != out))
            throw new IllegalArgumentException("linear: bias " + Arrays.toString(bias.shape()) + " for weight " + Arrays.toString(w.shape()));
        long rows = x.numel() / in;
        INDArray x2 = x.data().reshape('c', rows, in);
        INDArray y = product(x2, w);
        if (bias != null) y.addiRowVector(bias.data());
        long[] ys = xs.clone();
        ys[ys.length - 1] = out;
        INDArray result = y.reshape('c', ys);
        Tensor[] inputs = bias == null ? new Tensor[]{x, weight} : new Tensor[]{x, weight, bias};
        return record("linear", result, y, g -> {
            INDArray g2 = g.reshape('c', rows, out);
            INDArray gx = x.requiresGrad() ? Nd4j.matmul(g2, w, false, false, false).reshape('c', xs) : null;
            INDArray gw = weight.requiresGrad() ? Nd4j.matmul(g2, x2, true, false, false) : null;
            if (bias == null) return new INDArray[]{gx, gw};
            INDArray gb = bias.requiresGrad() ? leadingSum(g2, 1) : null;
            return new INDArray[]{gx, gw, gb};
        }, inputs);
    }

    /** x2·wᵀ for x2 (rows, in) and w (out, in): into a fresh {@link Memory#uninitialized} array where both are float32. */
    private static INDArray product(INDArray x2, INDArray w) {
        if (x2.dataType() != DataType.FLOAT || w.dataType() != DataType.FLOAT) return Nd4j.matmul(x2, w, false, true, false);
        INDArray y = Memory.uninitialized(DataType.FLOAT, x2.size(0), w.size(0));
        Nd4j.matmul(x2, w, y, false, true, false);
        return y;
    }

    /**
     * {@code add(linear(x, weight, bias), addend)}: an output projection and the residual connection after it (attention's
     * {@code to_out}, the feed-forward's last layer, each added to the block's input). When nothing records, outside
     * training, with the elementwise kernels on ({@link #vectorElementwise()}), a bias, float32 operands and the addend
     * shaped as the output with contiguous rows ({@link Rows}), the bias and the addend join the product in one pass,
     * {@code (y + b) + r} per element: the floats of {@code addiRowVector} then {@link #addInto}, so the composed ops'
     * bits, without their separate passes over the output (read and written for the bias, read again with the addend for
     * the add). The addend is read in place; where it is a permuted view of a whole array (the temporal attention's view
     * of the tokens), the result is laid out like it, so undoing the permutation gives a c-contiguous array again, and
     * otherwise c-contiguous. Otherwise the composed ops themselves ({@link #linear}, then {@link #addInto} into the fresh
     * product).
     */
    public static Tensor linearAdd(Tensor x, Tensor weight, Tensor bias, Tensor addend) {
        INDArray w = weight.data();
        long[] xs = x.shape();
        long in = xs[xs.length - 1];
        long[] ys = xs.clone();
        ys[ys.length - 1] = w.rank() == 2 ? w.size(0) : -1;
        boolean recorded = Grad.isRecording() && (x.requiresGrad() || weight.requiresGrad() || (bias != null && bias.requiresGrad()) || addend.requiresGrad());
        INDArray r = addend.data();
        Rows terms = Rows.of(r);
        if (recorded || Grad.inTraining() || !vectorElementwise || bias == null || !Arrays.equals(ys, addend.shape())
                || terms == null || x.dtype() != DataType.FLOAT || w.dataType() != DataType.FLOAT
                || bias.dtype() != DataType.FLOAT || w.rank() != 2 || w.size(1) != in || bias.rank() != 1 || bias.size(0) != ys[ys.length - 1]) {
            Tensor y = linear(x, weight, bias);
            Tensor sum = addInto(y, addend);
            if (sum != y) y.release();
            return sum;
        }
        long out = w.size(0), rows = x.numel() / in;
        INDArray x2 = x.data().reshape('c', rows, in);
        INDArray y = product(x2, w);
        if (!Kernels.denseFloat(y)) {
            INDArray c = y.dup('c');
            Memory.free(y);
            y = c;
        }
        // the sum into the product itself, or, for a permuted addend, into a fresh array laid out like the addend
        INDArray like = terms.dense() ? null : Rows.likeStrides(r);
        INDArray sum = like == null ? y.reshape('c', ys) : like;
        VectorElementwise.addBiasAndTerm(y, bias.data().dup('c').data().asFloat(), r, terms, sum, Rows.of(sum));
        if (like != null) Memory.free(y);
        OpListener l = listener;
        if (l != null) l.onOp("linear", sum, new Tensor[]{x, weight, bias, addend});
        return Tensor.result(sum);
    }

    // ------------------------------------------------------------------ softmax, embedding

    /** Softmax along {@code dim}. */
    public static Tensor softmax(Tensor x, int dim) {
        int d = dim < 0 ? dim + x.rank() : dim;
        INDArray in = x.data();
        INDArray y = in.ulike();
        Nd4j.getExecutioner().exec(new SoftMax(in.isView() ? in.dup() : in, y, d));
        return record("softmax", y, g -> {
            // dx = y ⊙ (g − Σ g⊙y)
            INDArray gy = g.mul(y);
            INDArray s = gy.sum(true, d);
            INDArray ys = y.mul(s);
            gy.subi(ys);
            Memory.free(ys);
            Memory.free(s);
            return new INDArray[]{gy};
        }, x);
    }

    /** Rows of {@code weight} [V, D] selected by integer {@code ids} (any shape) -> ids.shape + [D]. */
    public static Tensor embedding(Tensor weight, INDArray ids) {
        INDArray w = weight.data();
        long vocab = w.size(0), dim = w.size(1);
        long[] flat = ids.castTo(DataType.LONG).reshape(ids.length()).toLongVector();
        int[] rows = new int[flat.length];
        for (int i = 0; i < flat.length; i++) {
            if (flat[i] < 0 || flat[i] >= vocab)
                throw new IndexOutOfBoundsException("embedding: id " + flat[i] + " at position " + i + " outside vocabulary of " + vocab);
            rows[i] = (int) flat[i];
        }
        INDArray out = Nd4j.pullRows(w, 1, rows);
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = dim;
        return record("embedding", out.reshape('c', shape), out, g -> {
            INDArray g2 = g.reshape('c', rows.length, dim);
            INDArray gw = Nd4j.zeros(w.dataType(), vocab, dim);
            for (int i = 0; i < rows.length; i++) gw.getRow(rows[i]).addi(g2.getRow(i));
            return new INDArray[]{gw};
        }, weight);
    }

    // ------------------------------------------------------------------ shape ops

    /** Reshape (row-major); a view when the layout allows. One dim may be -1. */
    public static Tensor reshape(Tensor x, long... shape) {
        long[] from = x.shape();
        INDArray in = x.data();
        INDArray out = in.reshape('c', shape);
        if (out.length() != in.length()) throw new IllegalArgumentException("reshape " + Arrays.toString(from) + " -> " + Arrays.toString(shape));
        Backward back = g -> new INDArray[]{g.reshape('c', from)};
        // a reshape of a non-contiguous view copies: then the result owns its buffer
        boolean copied = out.data().addressPointer().address() != in.data().addressPointer().address();
        return copied ? record("reshape", out, back, x) : recordView("reshape", out, back, x);
    }

    /** Permutes dims (a view). */
    public static Tensor permute(Tensor x, int... order) {
        if (order.length != x.rank()) throw new IllegalArgumentException("permute: order " + Arrays.toString(order) + " for rank " + x.rank());
        int[] inverse = new int[order.length];
        for (int i = 0; i < order.length; i++) inverse[order[i]] = i;
        return recordView("permute", x.data().permute(order), g -> new INDArray[]{g.permute(inverse)}, x);
    }

    /** Swaps two dims (a view). */
    public static Tensor transpose(Tensor x, int d0, int d1) {
        int r = x.rank();
        int[] order = new int[r];
        for (int i = 0; i < r; i++) order[i] = i;
        int a = d0 < 0 ? d0 + r : d0, b = d1 < 0 ? d1 + r : d1;
        order[a] = b;
        order[b] = a;
        return permute(x, order);
    }

    /** A row-major copy (identity in value; use after permute before reshapes that must not copy twice). */
    public static Tensor contiguous(Tensor x) {
        INDArray in = x.data();
        return record("contiguous", in.dup('c'), g -> new INDArray[]{g}, x);
    }

    /** Elements [start, end) of {@code dim} (a view). */
    public static Tensor slice(Tensor x, int dim, long start, long end) {
        int r = x.rank();
        int d = dim < 0 ? dim + r : dim;
        long n = x.size(d);
        if (start < 0 || end > n || start > end)
            throw new IllegalArgumentException("slice [" + start + ", " + end + ") of dim " + d + " with size " + n);
        INDArray view = Views.interval(x.data(), d, start, end);
        long[] shape = x.shape();
        return recordView("slice", view, g -> {
            INDArray gx = Nd4j.zeros(g.dataType(), shape);
            Views.interval(gx, d, start, end).assign(g);
            return new INDArray[]{gx};
        }, x);
    }

    /** Splits {@code dim} into pieces of the given sizes (views). */
    public static Tensor[] split(Tensor x, int dim, long... sizes) {
        int d = dim < 0 ? dim + x.rank() : dim;
        long total = 0;
        for (long s : sizes) total += s;
        if (total != x.size(d)) throw new IllegalArgumentException("split sizes " + Arrays.toString(sizes) + " do not sum to dim " + d + " size " + x.size(d));
        Tensor[] out = new Tensor[sizes.length];
        long at = 0;
        for (int i = 0; i < sizes.length; i++) {
            out[i] = slice(x, d, at, at + sizes[i]);
            at += sizes[i];
        }
        return out;
    }

    /** Splits {@code dim} into {@code n} equal chunks (torch.chunk for divisible sizes). */
    public static Tensor[] chunk(Tensor x, int n, int dim) {
        int d = dim < 0 ? dim + x.rank() : dim;
        long size = x.size(d);
        if (size % n != 0) throw new IllegalArgumentException("chunk: dim " + d + " of size " + size + " not divisible by " + n);
        long[] sizes = new long[n];
        Arrays.fill(sizes, size / n);
        return split(x, d, sizes);
    }

    /** Concatenates along {@code dim}. */
    public static Tensor concat(int dim, Tensor... xs) {
        if (xs.length == 0) throw new IllegalArgumentException("concat of nothing");
        int d = dim < 0 ? dim + xs[0].rank() : dim;
        INDArray[] arrays = new INDArray[xs.length];
        long[] sizes = new long[xs.length];
        for (int i = 0; i < xs.length; i++) {
            arrays[i] = xs[i].data();
            sizes[i] = xs[i].size(d);
            if (xs[i].rank() != xs[0].rank()) throw new IllegalArgumentException("concat: ranks differ");
            for (int k = 0; k < xs[0].rank(); k++)
                if (k != d && xs[i].size(k) != xs[0].size(k))
                    throw new IllegalArgumentException("concat along " + d + ": shapes " + Arrays.toString(xs[0].shape()) + " and " + Arrays.toString(xs[i].shape()));
        }
        INDArray out = concatInto(d, arrays, sizes);
        return record("concat", out, g -> {
            INDArray[] gs = new INDArray[xs.length];
            long at = 0;
            for (int i = 0; i < xs.length; i++) {
                gs[i] = Views.interval(g, d, at, at + sizes[i]);
                at += sizes[i];
            }
            return gs;
        }, xs);
    }

    /**
     * {@code Nd4j.concat(d, arrays)} for float32 parts: each part copied into its interval of a {@link Memory#uninitialized}
     * array (ND4J's concat allocates through its own allocator, which first writes the whole output once more).
     */
    private static INDArray concatInto(int d, INDArray[] arrays, long[] sizes) {
        for (INDArray a : arrays) if (a.dataType() != DataType.FLOAT) return Nd4j.concat(d, arrays);
        long[] shape = arrays[0].shape().clone();
        shape[d] = 0;
        for (long size : sizes) shape[d] += size;
        INDArray out = Memory.uninitialized(DataType.FLOAT, shape);
        long at = 0;
        for (int i = 0; i < arrays.length; i++) {
            if (sizes[i] > 0) Views.interval(out, d, at, at + sizes[i]).assign(arrays[i]);
            at += sizes[i];
        }
        return out;
    }

    /**
     * The common case of {@link #repeat}, one axis of size 1 repeated (e.g. text states over frames): one strided copy
     * per repetition, the same values as {@code Nd4j.tile}, which walks every element through generic index arithmetic
     * (16 copies of 77 x 768 floats: 2.6 ms against 25 ms, best of 20). Null for any other repetition.
     */
    private static INDArray expandAlongOneAxis(INDArray in, int[] reps) {
        int axis = -1;
        for (int i = 0; i < reps.length; i++) {
            if (reps[i] == 1) continue;
            if (axis >= 0 || in.size(i) != 1) return null;
            axis = i;
        }
        if (axis < 0 || in.isEmpty()) return null;
        long[] shape = in.shape(), outShape = shape.clone();
        outShape[axis] = reps[axis];
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.length; i++) inner *= shape[i];
        INDArray out = Memory.uninitialized(in.dataType(), outShape);
        INDArray src = in.reshape('c', outer, 1, inner), dst = out.reshape('c', outer, reps[axis], inner);
        for (long k = 0; k < reps[axis]; k++) Views.interval(dst, 1, k, k + 1).assign(src);
        if (src.data().addressPointer().address() != in.data().addressPointer().address()) Memory.free(src);   // a copy
        return out;
    }

    /** Repeats the tensor along each dim ({@code torch.Tensor.repeat}). */
    public static Tensor repeat(Tensor x, long... reps) {
        if (reps.length != x.rank()) throw new IllegalArgumentException("repeat: " + reps.length + " factors for rank " + x.rank());
        INDArray in = x.data();
        int[] r = new int[reps.length];
        for (int i = 0; i < r.length; i++) r[i] = Math.toIntExact(reps[i]);
        INDArray out = expandAlongOneAxis(in, r);
        if (out == null) out = Nd4j.tile(in, r);
        long[] shape = in.shape();
        return record("repeat", out, g -> {
            // view g as (r0, s0, r1, s1, ...) and sum the r axes
            long[] split = new long[2 * shape.length];
            int[] sumDims = new int[shape.length];
            for (int i = 0; i < shape.length; i++) {
                split[2 * i] = reps[i];
                split[2 * i + 1] = shape[i];
                sumDims[i] = 2 * i;
            }
            return new INDArray[]{g.reshape('c', split).sum(false, sumDims).reshape('c', shape)};
        }, x);
    }
}
