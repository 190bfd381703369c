package org.lavie4j.nn.layers;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.Views;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.function.UnaryOperator;

/**
 * Memory-bounded inference of the video layers: a layer that treats every frame (or every row) independently is run
 * on slices of the frame (row) axis and its results are written into one output, so that only a slice's
 * temporaries are ever alive; a GroupNorm whose statistics span all frames gets them in two passes over the slices
 * first (the group mean, then the sum of squared deviations from it: the same formula as
 * {@link org.lavie4j.core.NnOps#groupNorm}). Results equal the whole-tensor path up to float rounding (summation
 * order); the whole-tensor path stays the reference ("naive twin") and the tests compare the two.
 *
 * <p>Inputs may be given as channel parts {@code [p0 ‖ p1 ‖ …]} (an up block's current features and skip) which are
 * concatenated slice by slice, never as a whole. Inference only: every method refuses to run while a tape records.
 */
public final class Slices {
    private Slices() {}

    /** The frame axis of a video (B, C, F, H, W): spatial layers are sliced along it. */
    public static final int FRAMES = 2;
    /** The row axis of a video (B, C, F, H, W): layers that only mix frames are sliced along it. */
    public static final int ROWS = 3;

    /** An unrecorded result that release() frees (inputs need no gradient here). */
    static Tensor owned(INDArray fresh) {
        return Ops.record("slices", fresh, null);
    }

    static void checkInference(String what) {
        if (Grad.isRecording())
            throw new IllegalStateException(what + ": sliced execution is for inference; it cannot run while a tape records");
    }

    /** Slice length along {@code axis} (≥ 1) such that a slice holds about as many elements as {@code frames} frames. */
    public static long sliceLength(long[] shape, int axis, int frames) {
        if (frames < 1) throw new IllegalArgumentException("slice frames must be >= 1, got " + frames);
        if (axis == FRAMES) return Math.min(frames, shape[FRAMES]);
        long n = shape[axis];
        return Math.max(1, Math.min(n, (long) Math.ceil((double) n * frames / shape[FRAMES])));
    }

    /** The parts' elements [s0, s1) along {@code axis}, concatenated on channels, as a new C-ordered array. */
    static INDArray gather(INDArray[] parts, int axis, long s0, long s1) {
        if (parts.length == 1) return Views.interval(parts[0], axis, s0, s1).dup('c');
        INDArray[] views = new INDArray[parts.length];
        for (int i = 0; i < parts.length; i++) views[i] = Views.interval(parts[i], axis, s0, s1);
        return Nd4j.concat(1, views);
    }

    /**
     * Applies a layer that is independent along {@code axis} (a per-frame convolution, an up- or down-sampler) slice by
     * slice: {@code x}'s slices of {@code length} are copied, passed to {@code layer} and its results written into one
     * output whose {@code axis} has x's length. x is not released.
     */
    public static Tensor map(Tensor x, int axis, long length, UnaryOperator<Tensor> layer) {
        checkInference("Slices.map");
        INDArray in = x.data(), out = null;
        long n = in.size(axis);
        for (long s0 = 0; s0 < n; s0 += length) {
            long s1 = Math.min(n, s0 + length);
            INDArray slice = Views.interval(in, axis, s0, s1).dup('c');
            Tensor y = layer.apply(Tensor.of(slice));
            Memory.free(slice);
            if (out == null) {
                long[] shape = y.shape().clone();
                if (shape[axis] != s1 - s0)
                    throw new IllegalStateException("Slices.map: the layer changed the length of axis " + axis + " from " + (s1 - s0)
                            + " to " + shape[axis]);
                shape[axis] = n;
                out = Memory.uninitialized(y.data().dataType(), shape);
            }
            Views.interval(out, axis, s0, s1).assign(y.data());
            y.release();
        }
        return owned(out);
    }

    /**
     * GroupNorm {@code norm} over the channel concatenation of {@code parts} (each (B, C_i, …), C-ordered), with the
     * statistics of each (sample, group) over its channels and all other axes, as the whole-tensor GroupNorm; the
     * squared deviations are summed slice by slice along {@code axis} (the only full-size temporary of the formula).
     */
    static Normalizer groupNorm(GroupNorm norm, INDArray[] parts, int axis, long length) {
        long b = parts[0].size(0), channels = 0;
        for (INDArray p : parts) channels += p.size(1);
        if (channels != norm.channels())
            throw new IllegalArgumentException("GroupNorm(" + norm.groups() + ", " + norm.channels() + "): the parts have " + channels + " channels");
        int groups = norm.groups();
        long perGroup = channels / groups, len = parts[0].length() / (b * parts[0].size(1));   // elements per channel
        double count = (double) perGroup * len;
        // pass 1: per-channel sums (float, as the whole-tensor op) -> group means
        double[] groupSum = new double[(int) (b * groups)];
        long off = 0;
        for (INDArray p : parts) {
            long c = p.size(1);
            INDArray sums = contiguousRows(p, b * c).sum(1);
            double[] s = sums.toDoubleVector();
            Memory.free(sums);
            for (int n = 0; n < b; n++)
                for (int k = 0; k < c; k++) groupSum[(int) (n * groups + (off + k) / perGroup)] += s[(int) (n * c + k)];
            off += c;
        }
        DataType type = parts[0].dataType();
        boolean single = type != DataType.DOUBLE;                           // round the statistics as the array's type does
        double[] mean = new double[groupSum.length];
        for (int i = 0; i < mean.length; i++) mean[i] = round(groupSum[i] / count, single);
        // pass 2: Σ(x − μ)² per channel, slice by slice
        double[] groupSq = new double[groupSum.length];
        long n0 = parts[0].size(axis);
        off = 0;
        for (INDArray p : parts) {
            long c = p.size(1);
            INDArray meanRows = rows(b, c, off, perGroup, groups, mean, type);
            for (long s0 = 0; s0 < n0; s0 += length) {
                long s1 = Math.min(n0, s0 + length);
                INDArray slice = Views.interval(p, axis, s0, s1).dup('c');
                INDArray centred = slice.reshape('c', b * c, slice.length() / (b * c)).subiColumnVector(meanRows);
                INDArray norms = centred.norm2(1);
                double[] q = norms.toDoubleVector();
                Memory.free(norms, slice);
                for (int n = 0; n < b; n++)
                    for (int k = 0; k < c; k++) {
                        double v = q[(int) (n * c + k)];
                        groupSq[(int) (n * groups + (off + k) / perGroup)] += v * v;
                    }
            }
            Memory.free(meanRows);
            off += c;
        }
        double[] rstd = new double[groupSq.length];
        for (int i = 0; i < rstd.length; i++) rstd[i] = round(1.0 / Math.sqrt(round(groupSq[i] / count, single) + norm.eps()), single);
        return new Normalizer(b, channels, perGroup, groups, mean, rstd, norm, type);
    }

    private static double round(double v, boolean single) {
        return single ? (float) v : v;
    }

    /** (rows, L) view of a C-ordered array (a copy only when it is not C-ordered and contiguous). */
    private static INDArray contiguousRows(INDArray p, long rows) {
        if (!cContiguous(p)) throw new IllegalArgumentException("Slices: a part " + Arrays.toString(p.shape()) + " is not C-contiguous");
        return p.reshape('c', rows, p.length() / rows);
    }

    /** A (b·c, 1) column holding, for channel k of part at offset {@code off}, the value of its group. */
    private static INDArray rows(long b, long c, long off, long perGroup, int groups, double[] perSampleGroup, DataType type) {
        double[] v = new double[(int) (b * c)];
        for (int n = 0; n < b; n++)
            for (int k = 0; k < c; k++) v[(int) (n * c + k)] = perSampleGroup[(int) (n * groups + (off + k) / perGroup)];
        return column(v, type);
    }

    private static INDArray column(double[] v, DataType type) {
        INDArray d = Nd4j.createFromArray(v).reshape('c', v.length, 1);
        if (type == DataType.DOUBLE) return d;
        INDArray t = d.castTo(type);
        Memory.free(d);
        return t;
    }

    /** Applies the statistics and GroupNorm's affine parameters to gathered slices (B, C, …) in place. */
    static final class Normalizer {
        private final INDArray mean, rstd, gamma, beta;     // (b·c, 1) columns
        private final long rowCount;

        Normalizer(long b, long channels, long perGroup, int groups, double[] mean, double[] rstd, GroupNorm norm, DataType type) {
            this.mean = rows(b, channels, 0, perGroup, groups, mean, type);
            this.rstd = rows(b, channels, 0, perGroup, groups, rstd, type);
            double[] g = norm.weight().data().toDoubleVector(), be = norm.bias().data().toDoubleVector();
            double[] gr = new double[(int) (b * channels)], br = new double[gr.length];
            for (int n = 0; n < b; n++) {
                System.arraycopy(g, 0, gr, (int) (n * channels), (int) channels);
                System.arraycopy(be, 0, br, (int) (n * channels), (int) channels);
            }
            this.gamma = column(gr, type);
            this.beta = column(br, type);
            this.rowCount = b * channels;
        }

        /** ((x − μ)·rstd)·γ + β on a C-ordered slice (B, C, …), in place. */
        void apply(INDArray slice) {
            if (!cContiguous(slice) || slice.length() % rowCount != 0)
                throw new IllegalArgumentException("Normalizer: slice " + Arrays.toString(slice.shape()) + " does not have " + rowCount + " rows");
            INDArray x = slice.reshape('c', rowCount, slice.length() / rowCount);
            x.subiColumnVector(mean).muliColumnVector(rstd).muliColumnVector(gamma).addiColumnVector(beta);
        }

        void free() { Memory.free(mean, rstd, gamma, beta); }
    }

    /**
     * {@code conv(silu(norm(x)))} with GroupNorm statistics over all of x, where {@code conv} is independent along
     * {@code axis}: the result is assembled slice by slice (x = the channel concatenation of {@code parts}).
     * {@code after}, when not null, is applied in place to each slice's conv output (e.g. adding the time embedding).
     */
    static INDArray normSiluConv(GroupNorm norm, INDArray[] parts, int axis, long length, UnaryOperator<Tensor> conv,
                                 java.util.function.Consumer<INDArray> after) {
        Normalizer n1 = groupNorm(norm, parts, axis, length);
        INDArray out = null;
        long n = parts[0].size(axis);
        try {
            for (long s0 = 0; s0 < n; s0 += length) {
                long s1 = Math.min(n, s0 + length);
                INDArray in = gather(parts, axis, s0, s1);
                n1.apply(in);
                Ops.siluInto(in, in);                          // silu in place
                Tensor y = conv.apply(Tensor.of(in));
                Memory.free(in);
                INDArray yd = y.data();
                if (after != null) {
                    if (!cContiguous(yd)) {
                        INDArray copy = yd.dup('c');
                        y.release();
                        y = owned(copy);
                        yd = copy;
                    }
                    after.accept(yd);
                }
                if (out == null) {
                    long[] shape = yd.shape().clone();
                    shape[axis] = n;
                    out = Memory.uninitialized(yd.dataType(), shape);
                }
                Views.interval(out, axis, s0, s1).assign(yd);
                y.release();
            }
        } catch (RuntimeException e) {
            Memory.free(out);
            throw e;
        } finally {
            n1.free();
        }
        return out;
    }

    /**
     * A residual block computed slice by slice along {@code axis} (its convolutions must be independent along it):
     * <pre>
     * h   = conv1(silu(norm1(x))) [+ proj]        x = [parts…] on channels; proj (B, C_out) or (1, C_out), may be null
     * h   = conv2(silu(norm2(h)))
     * out = (shortcut(x) + h) · (1 / outputScale)   shortcut null = identity
     * </pre>
     * Holds the parts, one output-sized array (h, overwritten by out slice by slice) and one slice's temporaries.
     */
    static Tensor resnet(INDArray[] parts, int axis, long length, GroupNorm norm1, UnaryOperator<Tensor> conv1, INDArray proj,
                         GroupNorm norm2, UnaryOperator<Tensor> conv2, UnaryOperator<Tensor> shortcut, double outputScale) {
        long b = parts[0].size(0);
        INDArray perSample = proj == null || proj.size(0) == b ? proj : proj.repeat(0, b);
        INDArray h = normSiluConv(norm1, parts, axis, length, conv1, perSample == null ? null : y -> addPerChannel(y, perSample));
        if (perSample != proj) Memory.free(perSample);
        Normalizer n2 = null;
        try {
            n2 = groupNorm(norm2, new INDArray[]{h}, axis, length);
            long n = h.size(axis);
            for (long s0 = 0; s0 < n; s0 += length) {
                long s1 = Math.min(n, s0 + length);
                INDArray hs = Views.interval(h, axis, s0, s1);
                INDArray a = hs.dup('c');
                n2.apply(a);
                Ops.siluInto(a, a);                           // silu in place
                Tensor c2 = conv2.apply(Tensor.of(a));
                Memory.free(a);
                INDArray x = gather(parts, axis, s0, s1);
                Tensor sc = shortcut == null ? null : shortcut.apply(Tensor.of(x));
                INDArray sum = c2.data().addi(sc == null ? x : sc.data());              // shortcut(x) + h
                if (outputScale != 1.0) sum.muli(1.0 / outputScale);
                hs.assign(sum);
                Memory.free(x);
                Tensor.release(c2, sc);
            }
        } catch (RuntimeException e) {
            Memory.free(h);
            throw e;
        } finally {
            if (n2 != null) n2.free();
        }
        return owned(h);
    }

    static boolean cContiguous(INDArray a) {
        return a.ordering() == 'c' && Arrays.equals(a.stride(), Nd4j.getStrides(a.shape(), 'c'));
    }

    /**
     * {@code conv(silu(norm(x)))} for a video x (B, C, F, H, W) and a per-frame {@code conv}, {@code sliceFrames} frames
     * at a time after the GroupNorm statistics over all frames (e.g. a UNet's output head). x is not released.
     */
    public static Tensor normSiluConv(GroupNorm norm, Tensor x, int sliceFrames, UnaryOperator<Tensor> conv) {
        checkInference("Slices.normSiluConv");
        return owned(normSiluConv(norm, new INDArray[]{x.data()}, FRAMES, sliceLength(x.shape(), FRAMES, sliceFrames), conv, null));
    }

    /** Adds a per-(sample, channel) vector v (B, C) to a C-ordered slice (B, C, …) in place. */
    static void addPerChannel(INDArray slice, INDArray v) {
        long rows = v.length();
        slice.reshape('c', rows, slice.length() / rows).addiColumnVector(v.reshape('c', rows, 1));
    }
}
