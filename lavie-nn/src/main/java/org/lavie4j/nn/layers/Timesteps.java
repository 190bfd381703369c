package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * diffusers 0.16 {@code Timesteps} / {@code get_timestep_embedding}: the sinusoidal projection of scalar timesteps,
 * {@code half = dim/2}, {@code freq[i] = exp(−ln(10000)·i / (half − downscale_freq_shift))},
 * {@code arg = t·freq}, output {@code [sin(arg) | cos(arg)]}, or {@code [cos | sin]} with {@code flip_sin_to_cos}
 * (LaVie: flip true, shift 0). An odd {@code dim} gets a zero last column. No parameters.
 *
 * <p>Computed in float32 step by step as the reference does (each intermediate rounded to float): with timesteps
 * near 1000 the rounding of {@code arg} is visible in the output, so a double-precision formula would not match.
 */
public final class Timesteps extends Module {
    private static final double MAX_PERIOD = 10000;
    private final int numChannels;
    private final boolean flipSinToCos;
    private final double downscaleFreqShift;
    private final float[] freq;

    public Timesteps(int numChannels, boolean flipSinToCos, double downscaleFreqShift) {
        int half = numChannels / 2;
        if (half < 1 || !(half - downscaleFreqShift != 0))
            throw new IllegalArgumentException("Timesteps: num_channels " + numChannels + " with downscale_freq_shift "
                    + downscaleFreqShift + " gives no valid frequencies");
        this.numChannels = numChannels;
        this.flipSinToCos = flipSinToCos;
        this.downscaleFreqShift = downscaleFreqShift;
        // exponent = -log(max_period) * arange(half, float32); exponent / (half - shift); exp   (all float32)
        float minusLog = (float) -Math.log(MAX_PERIOD);
        float denominator = (float) (half - downscaleFreqShift);
        freq = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (minusLog * (float) i) / denominator;
            freq[i] = (float) Math.exp(exponent);
        }
    }

    /** timesteps: (N) of any numeric dtype (integer steps, or fractional ones for Euler) -> (N, num_channels) FLOAT. */
    public Tensor forward(Tensor timesteps) {
        if (timesteps.rank() != 1)
            throw new IllegalArgumentException("Timesteps: timesteps must be 1-D (N), got " + Arrays.toString(timesteps.shape()));
        INDArray t = timesteps.data();
        int n = (int) t.length(), half = freq.length;
        float[] out = new float[n * numChannels];
        for (int r = 0; r < n; r++) {
            float tf = t.getFloat(r);                             // timesteps[:, None].float()
            int sinAt = r * numChannels + (flipSinToCos ? half : 0), cosAt = r * numChannels + (flipSinToCos ? 0 : half);
            for (int i = 0; i < half; i++) {
                float arg = tf * freq[i];                         // float32 product
                out[sinAt + i] = (float) Math.sin(arg);
                out[cosAt + i] = (float) Math.cos(arg);
            }
        }
        return Tensor.of(Nd4j.create(out, new long[]{n, numChannels}, DataType.FLOAT));
    }

    public int numChannels() { return numChannels; }

    public boolean flipSinToCos() { return flipSinToCos; }

    public double downscaleFreqShift() { return downscaleFreqShift; }
}
