package org.lavie4j.nn.layers;

import org.lavie4j.core.Init;
import org.lavie4j.core.Module;
import org.lavie4j.core.Fused;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * torch.nn.Conv2d (groups 1, dilation 1): weight {@code [out, in, k, k]}, optional bias {@code [out]}; input
 * (N, C, H, W). Initialised like PyTorch (Kaiming-uniform bound 1/√fan_in) from a seeded generator.
 */
public class Conv2d extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final int inChannels, outChannels, kernel, stride, padding;

    public Conv2d(int inChannels, int outChannels, int kernel, int stride, int padding, boolean bias) {
        if (inChannels <= 0 || outChannels <= 0 || kernel <= 0 || stride <= 0 || padding < 0)
            throw new IllegalArgumentException("invalid Conv2d(in=" + inChannels + ", out=" + outChannels + ", kernel=" + kernel
                    + ", stride=" + stride + ", padding=" + padding + ")");
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
        double bound = 1.0 / Math.sqrt((double) inChannels * kernel * kernel);
        this.weight = parameter("weight", uniform(bound, outChannels, inChannels, kernel, kernel));
        this.bias = bias ? parameter("bias", uniform(bound, outChannels)) : null;
    }

    /** Conv2d with bias. */
    public Conv2d(int inChannels, int outChannels, int kernel, int stride, int padding) {
        this(inChannels, outChannels, kernel, stride, padding, true);
    }

    static org.nd4j.linalg.api.ndarray.INDArray uniform(double bound, long... shape) {
        return Init.uniform(bound, shape);
    }

    /** x: (N, C_in, H, W) -> (N, C_out, H', W'). */
    public Tensor forward(Tensor x) { return conv(x); }

    /** The 2-D convolution itself: (N, C_in, H, W) -> (N, C_out, H', W'). */
    protected final Tensor conv(Tensor x) {
        if (x.rank() != 4 || x.size(1) != inChannels)
            throw new IllegalArgumentException(getClass().getSimpleName() + "(in=" + inChannels + "): expected input (N, "
                    + inChannels + ", H, W), got " + Arrays.toString(x.shape()));
        Tensor w = weight.tensor(), b = bias == null ? null : bias.tensor();
        Tensor y = !isTraining() && kernel == 1 && stride == 1 && padding == 0
                ? Fused.pointwiseConv(x, w, b)                     // inference: one GEMM per image (~2x ND4J's 1x1 conv)
                : NnOps.conv2d(x, w, b, stride, padding);
        Tensor.release(w, b);                               // frees FLOAT copies of half-stored weights; no-op otherwise
        return y;
    }

    public Parameter weight() { return weight; }

    public Parameter bias() { return bias; }

    public int inChannels() { return inChannels; }

    public int outChannels() { return outChannels; }

    public int kernel() { return kernel; }

    public int stride() { return stride; }

    public int padding() { return padding; }
}
