package org.lavie4j.nn.attention;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Module;
import org.lavie4j.core.Fused;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * Rotary position embedding as rotary-embedding-torch 0.3.0 {@code RotaryEmbedding(dim)} with its defaults
 * ({@code freqs_for='lang'}, theta 10000, no xpos) and {@code rotate_queries_or_keys(t)} (sequence axis -2, offset 0).
 *
 * <p>Buffer {@code freqs} [dim/2] = {@code 10000^(-2m/dim)} (an {@code nn.Parameter} in the original, never trained:
 * a buffer here, and taken from the checkpoint when loaded, README behaviour 8). The angle of pair m at position p is
 * {@code p·freqs[m]}, computed in the buffer's dtype. Only the first {@code dim} channels rotate; pairs are
 * interleaved ({@code 2m, 2m+1}): {@code x'[2m] = x[2m]cos − x[2m+1]sin}, {@code x'[2m+1] = x[2m+1]cos + x[2m]sin}
 * (rotate_half of the interleaved form). LaVie creates one {@code RotaryEmbedding(32)} and shares it between all
 * temporal attentions, so its key appears under each owner.
 */
public final class RotaryEmbedding extends Module {
    private final Parameter freqs;
    private final int dim;

    public RotaryEmbedding(int dim) {
        if (dim <= 0 || dim % 2 != 0) throw new IllegalArgumentException("RotaryEmbedding dim must be positive and even, got " + dim);
        this.dim = dim;
        this.freqs = buffer("freqs", defaultFreqs(dim));
    }

    /**
     * {@code 1 / 10000^(2m / dim)}, m = 0..dim/2−1, rounded to float32 (the reference evaluates it in float32; a
     * checkpoint's stored copy replaces these values on load).
     */
    static INDArray defaultFreqs(int dim) {
        float[] f = new float[dim / 2];
        for (int m = 0; m < f.length; m++) f[m] = (float) (1.0 / Math.pow(10000.0, (2.0 * m) / dim));
        return Nd4j.createFromArray(f);
    }

    /** Number of rotated channels (32 in LaVie). */
    public int dim() { return dim; }

    public Parameter freqs() { return freqs; }

    /**
     * Rotates the first {@link #dim()} channels of {@code t} (…, L, D) by position along axis -2 (positions 0..L−1).
     * Differentiable in {@code t}; the angle tables are constants.
     */
    public Tensor rotateQueriesOrKeys(Tensor t) {
        return rotate(t, true);
    }

    /**
     * This rotation for sequences of {@code length} positions, as the attention kernel takes it
     * ({@link Attention#scaledDotProduct(Tensor, Tensor, Tensor, Tensor, double, long, Attention.Rotary)}): float32 cos/sin
     * tables, the values {@link #rotateQueriesOrKeys} uses for float32 input, and that method itself for the other paths.
     */
    public Attention.Rotary positions(long length) {
        if (length < 1) throw new IllegalArgumentException("rotary: " + length + " positions");
        INDArray angles = angles(length).castTo(DataType.DOUBLE);           // (L, dim/2)
        float[] cos = Transforms.cos(angles, true).castTo(DataType.FLOAT).dup('c').data().asFloat();
        float[] sin = Transforms.sin(angles, true).castTo(DataType.FLOAT).dup('c').data().asFloat();
        return new Attention.Rotary(cos, sin, dim, length, this::rotateQueriesOrKeys);
    }

    /**
     * The naive twin of {@link #rotateQueriesOrKeys}: the same rotation composed from {@link Ops} (slices, products,
     * concatenations), whatever the dtype. Float32 input to {@link #rotateQueriesOrKeys} takes
     * {@link Fused#rotaryInterleaved} instead, which gives these floats and this gradient bit for bit (tested).
     */
    public Tensor rotateQueriesOrKeysComposed(Tensor t) {
        return rotate(t, false);
    }

    private Tensor rotate(Tensor t, boolean fusedIfFloat) {
        int r = t.rank();
        if (r < 2) throw new IllegalArgumentException("rotary: expected (..., L, D), got " + Arrays.toString(t.shape()));
        long length = t.size(-2), d = t.size(-1);
        if (d < dim)
            throw new IllegalArgumentException("rotary: feature dim " + d + " of " + Arrays.toString(t.shape()) + " is smaller than the rotary dim " + dim);
        int half = dim / 2;

        long[] pairShape = Arrays.copyOf(t.shape(), r + 1);                 // (..., L, dim/2, 2)
        pairShape[r - 1] = half;
        pairShape[r] = 2;
        long[] tableShape = new long[r + 1];                                // (1, ..., 1, L, dim/2, 1)
        Arrays.fill(tableShape, 1);
        tableShape[r - 2] = length;
        tableShape[r - 1] = half;
        // angles rounded in the dtype of freqs as in the reference; cos/sin in double, then rounded to t's dtype
        // (the reference's float32 cos/sin may differ by an ulp: deliberate, it keeps double runs exact)
        INDArray angles = angles(length).castTo(DataType.DOUBLE);           // (L, dim/2)
        INDArray cosTable = Transforms.cos(angles, true).castTo(t.dtype()), sinTable = Transforms.sin(angles, true).castTo(t.dtype());
        if (fusedIfFloat && t.dtype() == DataType.FLOAT) {                  // one pass, the same floats and gradient
            Tensor fused = Fused.rotaryInterleaved(t, cosTable.dup('c').data().asFloat(), sinTable.dup('c').data().asFloat(), dim);
            if (fused != null) return fused;
        }
        Tensor cos = Tensor.of(cosTable.reshape('c', tableShape));
        Tensor sin = Tensor.of(sinTable.reshape('c', tableShape));

        Tensor rot = Ops.contiguous(Ops.slice(t, -1, 0, dim));              // (..., L, dim)
        Tensor pairs = Ops.reshape(rot, pairShape);                         // (..., L, dim/2, 2), a view of rot
        Tensor a = Ops.slice(pairs, -1, 0, 1);                              // x[2m]:   (..., L, dim/2, 1)
        Tensor b = Ops.slice(pairs, -1, 1, 2);                              // x[2m+1]: (..., L, dim/2, 1)
        Tensor ac = Ops.mul(a, cos), bs = Ops.mul(b, sin), bc = Ops.mul(b, cos), as = Ops.mul(a, sin);
        Tensor ra = Ops.sub(ac, bs);                                        // a·cos − b·sin
        Tensor rb = Ops.add(bc, as);                                        // b·cos + a·sin
        Tensor joined = Ops.concat(-1, ra, rb);                             // (..., L, dim/2, 2)
        Tensor rotated = Ops.reshape(joined, rot.shape());                  // (..., L, dim), pairs interleaved again
        Tensor.release(ac, bs, bc, as, ra, rb, rot);                        // no-op while recording
        if (d == dim) return rotated;
        Tensor out = Ops.concat(-1, rotated, Ops.slice(t, -1, dim, d));     // channels dim..D-1 pass unchanged
        joined.release();
        return out;
    }

    /** {@code φ[p, m] = p · freqs[m]} for p = 0..length−1, in the dtype of {@code freqs}: (length, dim/2). */
    INDArray angles(long length) {
        INDArray f = freqs.data();
        INDArray positions = Nd4j.arange(0, length).castTo(f.dataType()).reshape('c', length, 1);
        return positions.mmul(f.reshape('c', 1, f.length()));              // outer product: one rounding per entry
    }
}
