package org.lavie4j.nn.attention;

import org.lavie4j.core.Init;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * T5-style bucketed relative position bias of LaVie's {@code TemporalAttention} (base/models/attention.py
 * {@code RelativePositionBias}, base-unet.md §8.2): {@code bias[h, i, j] = E[bucket(j − i), h]} with
 * {@code E = relative_attention_bias.weight} [numBuckets, heads]. Always added inside temporal attention (README
 * behaviour 5).
 */
public final class RelativePositionBias extends Module {
    private final Embedding relativeAttentionBias;
    private final int heads, numBuckets, maxDistance;

    public RelativePositionBias(int heads, int numBuckets, int maxDistance) {
        if (heads <= 0 || numBuckets < 4 || numBuckets % 2 != 0 || maxDistance <= numBuckets / 4)
            throw new IllegalArgumentException("invalid RelativePositionBias(heads=" + heads + ", numBuckets=" + numBuckets
                    + ", maxDistance=" + maxDistance + ")");
        this.heads = heads;
        this.numBuckets = numBuckets;
        this.maxDistance = maxDistance;
        relativeAttentionBias = child("relative_attention_bias", new Embedding(numBuckets, heads));
    }

    /** LaVie's temporal attention setting: 32 buckets, max distance 32. */
    public RelativePositionBias(int heads) { this(heads, 32, 32); }

    /** The bias for {@code frames} query and key positions: (heads, frames, frames), differentiable in the table. */
    public Tensor forward(int frames) {
        if (frames <= 0) throw new IllegalArgumentException("RelativePositionBias: frames must be positive, got " + frames);
        INDArray buckets = Nd4j.createFromArray(bucketTable(frames, numBuckets, maxDistance)); // (i, j)
        Tensor table = relativeAttentionBias.weight.tensor();
        Tensor values = Ops.embedding(table, buckets);                                         // (i, j, h)
        table.release();                                    // frees a FLOAT copy of a half-stored table; no-op otherwise
        return Ops.contiguous(Ops.permute(values, 2, 0, 1));                                   // (h, i, j)
    }

    /** {@code table[i][j] = bucket(j − i)} for i, j in 0..frames−1. */
    public static long[][] bucketTable(int frames, int numBuckets, int maxDistance) {
        long[][] t = new long[frames][frames];
        for (int i = 0; i < frames; i++)
            for (int j = 0; j < frames; j++) t[i][j] = bucket(j - i, numBuckets, maxDistance);
        return t;
    }

    /**
     * {@code _relative_position_bucket(r, num_buckets, max_distance)} for r = key − query position: half the buckets
     * for past/current keys (r ≤ 0), the other half (offset numBuckets/2) for future keys; exact below
     * {@code maxExact = numBuckets/4}, logarithmic above, capped at the last bucket of the half. The logarithm is
     * evaluated in float32 as in the reference ({@code log(n.float() / max_exact) / math.log(max_distance /
     * max_exact) * (num_buckets − max_exact)}, then truncated), which matters on exact boundaries such as n = 16.
     */
    public static int bucket(int relativePosition, int numBuckets, int maxDistance) {
        int half = numBuckets / 2;
        int n = -relativePosition;
        int ret = n < 0 ? half : 0;
        n = Math.abs(n);
        int maxExact = half / 2;
        if (n < maxExact) return ret + n;
        float ratio = (float) Math.log((float) n / (float) maxExact);                  // torch.log(float32)
        float divisor = (float) Math.log((double) maxDistance / maxExact);             // python double, cast to float32
        long large = maxExact + (long) (ratio / divisor * (float) (half - maxExact));  // .long() truncates toward 0
        return ret + (int) Math.min(large, half - 1);
    }

    public int heads() { return heads; }

    public int numBuckets() { return numBuckets; }

    public int maxDistance() { return maxDistance; }

    public Parameter weight() { return relativeAttentionBias.weight; }

    /**
     * torch.nn.Embedding's state (one {@code weight} [num, dim], initialised N(0, 1)); the lookup is
     * {@link Ops#embedding}. Kept here until a shared layer exists, so the key reads
     * {@code relative_attention_bias.weight}.
     */
    static final class Embedding extends Module {
        final Parameter weight;

        Embedding(int num, int dim) {
            weight = parameter("weight", Init.normal(1.0, num, dim));
        }
    }
}
