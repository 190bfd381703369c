package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Fused;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * torch.nn.GroupNorm(groups, channels, eps, affine=True). On a 5-D video (B, C, F, H, W) the statistics span
 * {@code C/G × F × H × W}, i.e. all frames, exactly as PyTorch does when LaVie applies it to the 5-D tensor;
 * {@link #forwardPerFrame} normalises each frame separately (Transformer3DModel's entrance).
 */
public final class GroupNorm extends Module {
    private final Parameter weight, bias;
    private final int groups, channels;
    private final double eps;

    public GroupNorm(int groups, int channels, double eps) {
        if (groups <= 0 || channels % groups != 0)
            throw new IllegalArgumentException("GroupNorm: " + channels + " channels not divisible into " + groups + " groups");
        this.groups = groups;
        this.channels = channels;
        this.eps = eps;
        this.weight = parameter("weight", Nd4j.ones(DataType.FLOAT, channels));
        this.bias = parameter("bias", Nd4j.zeros(DataType.FLOAT, channels));
    }

    /** x: (N, C, ...) with statistics over each group's channels and all remaining dims. */
    public Tensor forward(Tensor x) {
        checkChannels(x);
        Tensor w = weight.tensor(), b = bias.tensor();
        Tensor y = isTraining() ? NnOps.groupNorm(x, groups, w, b, eps) : Fused.groupNorm(x, groups, w, b, eps);
        Tensor.release(w, b);                               // frees FLOAT copies of half-stored weights; no-op otherwise
        return y;
    }

    /**
     * {@code silu(forward(x))}: in inference one pass that writes the activated rows (the same floats as the two ops,
     * {@link Fused#groupNormSilu}); in training the two recorded ops.
     */
    public Tensor forwardSilu(Tensor x) {
        if (isTraining()) {
            Tensor n = forward(x);
            Tensor y = Ops.silu(n);
            n.release();
            return y;
        }
        checkChannels(x);
        Tensor w = weight.tensor(), b = bias.tensor();
        Tensor y = Fused.groupNormSilu(x, groups, w, b, eps);
        Tensor.release(w, b);
        return y;
    }

    /** x: (B, C, F, H, W) normalised frame by frame (statistics over C/G × H × W). */
    public Tensor forwardPerFrame(Tensor x) {
        checkChannels(x);
        Tensor w = weight.tensor(), b = bias.tensor();
        Tensor y = isTraining() ? NnOps.groupNormPerFrame(x, groups, w, b, eps) : Fused.groupNormPerFrame(x, groups, w, b, eps);
        Tensor.release(w, b);
        return y;
    }

    private void checkChannels(Tensor x) {
        if (x.rank() < 3 || x.size(1) != channels)
            throw new IllegalArgumentException("GroupNorm(" + groups + ", " + channels + "): input " + java.util.Arrays.toString(x.shape())
                    + " does not have " + channels + " channels in dim 1");
    }

    public int groups() { return groups; }

    public int channels() { return channels; }

    /** γ, (C). */
    public Parameter weight() { return weight; }

    /** β, (C). */
    public Parameter bias() { return bias; }

    public double eps() { return eps; }
}
