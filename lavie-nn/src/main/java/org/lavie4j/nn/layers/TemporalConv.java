package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.NnOps;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;

import java.util.Arrays;

/**
 * torch.nn.Conv3d with kernel (k, 1, 1), stride 1, padding ((k − 1)/2, 0, 0): a 1-D convolution along frames at every
 * pixel, zero-padded at the clip's borders (LaVie vsr/models/resnet.py {@code ResnetBlock3DCNN.conv1/conv2}). Keys
 * {@code weight} [out, in, k, 1, 1] and {@code bias} [out]; initialised like PyTorch (uniform, bound 1/√(in·k)).
 */
public final class TemporalConv extends Module {
    private final Parameter weight, bias;
    private final int inChannels, outChannels, kernel;

    /** @param kernel the temporal kernel size, odd (3 or 5 in LaVie) */
    public TemporalConv(int inChannels, int outChannels, int kernel) {
        if (inChannels <= 0 || outChannels <= 0 || kernel <= 0 || kernel % 2 == 0)
            throw new IllegalArgumentException("invalid TemporalConv(in=" + inChannels + ", out=" + outChannels + ", kernel=" + kernel
                    + "): channels must be positive and the kernel odd");
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernel = kernel;
        double bound = 1.0 / Math.sqrt((double) inChannels * kernel);
        weight = parameter("weight", Conv2d.uniform(bound, outChannels, inChannels, kernel, 1, 1));
        bias = parameter("bias", Conv2d.uniform(bound, outChannels));
    }

    /** x: (B, C_in, F, H, W) -> (B, C_out, F, H, W). */
    public Tensor forward(Tensor x) {
        if (x.rank() != 5 || x.size(1) != inChannels)
            throw new IllegalArgumentException("TemporalConv(in=" + inChannels + "): expected a video (B, " + inChannels
                    + ", F, H, W), got " + Arrays.toString(x.shape()));
        Tensor w = weight.tensor(), b = bias.tensor();
        Tensor y = NnOps.conv3dTemporal(x, w, b, (kernel - 1) / 2);
        Tensor.release(w, b);                               // frees FLOAT copies of half-stored weights; no-op otherwise
        return y;
    }

    public Parameter weight() { return weight; }

    public Parameter bias() { return bias; }

    public int kernel() { return kernel; }

    public int inChannels() { return inChannels; }

    public int outChannels() { return outChannels; }
}
