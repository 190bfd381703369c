package org.lavie4j.train;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.nn.schedulers.NoiseSchedule;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.train.data.SyntheticShapes;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Does a text-to-video model use its prompt where it matters? For synthetic clips of given captions: encode the clip
 * (VAE posterior mean, scaled), noise it at step t, and measure the mean squared error of the clean latents the UNet's
 * prediction implies ({@code x0 = (x_t − √(1−ᾱ)·ε̂)/√ᾱ} for epsilon, {@code √ᾱ·x_t − √(1−ᾱ)·v̂} for v-prediction) with the
 * right caption, the empty caption, another clip's caption and the right caption with the opposite direction ("left"
 * for "right"). A model that reads the prompt has a clearly larger error with the wrong caption at the noisy steps where
 * a sampler settles colours and layout (t ≳ 600); only a model that reads the direction word, and renders it as motion
 * across frames, has a larger error with the opposite direction. How large its x0 error is there at all shows how much
 * weight its training objective gave those steps (training/README.md).
 */
public final class CaptionProbe {
    private CaptionProbe() {}

    /**
     * Mean x0 MSE over the clips at one step: with the right caption, the empty one, the next clip's caption, and the
     * right caption with the opposite direction.
     */
    public record Row(int timestep, double right, double empty, double wrong, double opposite) {
        /** How much worse the wrong caption is than the right one, relative ({@code (wrong − right)/right}). */
        public double wrongPenalty() { return (wrong - right) / right; }

        /** How much worse the opposite direction is than the right one, relative. */
        public double oppositePenalty() { return (opposite - right) / right; }
    }

    /**
     * Probes {@code model} with one synthetic clip per caption (geometry and noise drawn from {@code seed}), at each of
     * {@code timesteps}. At least two captions (the "wrong" caption of clip i is caption i+1). Clips are the model's
     * default frames and size.
     */
    public static List<Row> probe(TextToVideoModel model, List<ShapeCaption> captions, int[] timesteps, long seed) {
        return probe(model, captions, timesteps, seed, SyntheticShapes.Options.TRAVEL_MIN, SyntheticShapes.Options.TRAVEL_MAX);
    }

    /**
     * {@link #probe(TextToVideoModel, List, int[], long)} with clips whose shapes cover {@code travelMin .. travelMax} of
     * the free length (the travel of the data the model was trained on: {@code lavie synthetic-data --travel}).
     */
    public static List<Row> probe(TextToVideoModel model, List<ShapeCaption> captions, int[] timesteps, long seed, double travelMin,
                                  double travelMax) {
        if (captions.size() < 2) throw new IllegalArgumentException("CaptionProbe: need at least two captions, got " + captions.size());
        if (timesteps.length == 0) throw new IllegalArgumentException("CaptionProbe: no timesteps");
        NoiseSchedule schedule = NoiseSchedule.of(model.schedulerConfig());
        for (int t : timesteps)
            if (t < 0 || t >= model.schedulerConfig().numTrainTimesteps())
                throw new IllegalArgumentException("CaptionProbe: timestep " + t + " outside [0, " + model.schedulerConfig().numTrainTimesteps() + ")");
        PredictionType type = model.schedulerConfig().predictionType();
        if (type != PredictionType.EPSILON && type != PredictionType.V_PREDICTION)
            throw new IllegalArgumentException("CaptionProbe: prediction type " + type.json() + " is not supported (epsilon, v_prediction)");
        TextToVideoPipeline pipeline = model.pipeline();
        int frames = model.info().frames(), height = model.info().height(), width = model.info().width();
        double[][] sums = new double[timesteps.length][4];
        SplittableRandom rng = new SplittableRandom(seed);
        try (Tape off = Grad.disabled()) {
            int n = captions.size();
            INDArray[] states = new INDArray[2 * n + 1];
            for (int i = 0; i < n; i++) {
                ShapeCaption c = captions.get(i);
                states[i] = pipeline.encodePrompt(c.caption());
                states[n + 1 + i] = pipeline.encodePrompt(new ShapeCaption(c.colour(), c.shape(), c.direction().opposite()).caption());
            }
            states[n] = pipeline.encodePrompt("");
            for (int i = 0; i < captions.size(); i++) {
                Video clip = SyntheticShapes.clip(captions.get(i), height, width, frames, model.info().fps(), travelMin, travelMax, rng);
                INDArray pixels = clip.toTensor().reshape(1, 3, frames, height, width);
                DiagonalGaussian posterior = model.vae().encodeVideo(Tensor.of(pixels), frames);
                INDArray z = posterior.mean().data().mul(model.vae().config().scalingFactor());
                posterior.release();
                INDArray noise = StepRandom.randn(rng, z.shape());
                INDArray[] text = {states[i], states[n], states[(i + 1) % n], states[n + 1 + i]};
                for (int k = 0; k < timesteps.length; k++) {
                    double ab = schedule.alphaCumprod(timesteps[k]), a = Math.sqrt(ab), s = Math.sqrt(1 - ab);
                    INDArray noisy = z.mul(a).addi(noise.mul(s));
                    INDArray ts = Nd4j.createFromArray(new long[]{timesteps[k]});
                    for (int j = 0; j < text.length; j++) {
                        INDArray out = model.unet().forward(Tensor.of(noisy), Tensor.of(ts), Tensor.of(text[j])).data();
                        INDArray x0 = type == PredictionType.V_PREDICTION ? noisy.mul(a).subi(out.mul(s)) : noisy.sub(out.mul(s)).divi(a);
                        double e = x0.subi(z).norm2Number().doubleValue();
                        sums[k][j] += e * e / z.length() / n;
                        Memory.free(out, x0);
                    }
                    Memory.free(noisy, ts);
                }
                Memory.free(pixels, z, noise);
            }
            for (INDArray st : states) Memory.free(st);
        }
        List<Row> rows = new ArrayList<>(timesteps.length);
        for (int k = 0; k < timesteps.length; k++) rows.add(new Row(timesteps[k], sums[k][0], sums[k][1], sums[k][2], sums[k][3]));
        return rows;
    }
}
