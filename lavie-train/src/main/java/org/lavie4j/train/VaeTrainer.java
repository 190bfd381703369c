package org.lavie4j.train;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.lavie4j.nn.vae.VaeConfig;
import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.TrainingSample;
import org.lavie4j.train.optim.AdamW;
import org.lavie4j.train.optim.GradClip;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Trains a VAE ({@link AutoencoderKL}) on single frames of a {@link SampleSource}'s clips, the stage before the UNet
 * when a model starts from random weights (the tiny models of the synthetic domain). One step:
 * <pre>
 * x      = one frame of each of batch_size clips (frame index ~ g = StepRandom(seed, step))     (B, 3, H, W) in [-1, 1]
 * q(z|x) = encode(x); z = mean + std·ε (ε ~ g); x' = decode(z)
 * L      = mean((x' − x)²) + kl_weight · mean(½(mean² + var − 1 − logvar))
 * backward; clip to grad_clip; AdamW step
 * </pre>
 * This is the reconstruction and KL part of Stable Diffusion's autoencoder objective (Rombach et al. 2022, appendix G),
 * without its perceptual (LPIPS) and adversarial terms, which flat synthetic shapes do not need; losses are means over
 * elements rather than sums, so the KL weight is larger than SD's 1e-6. The latents then have whatever scale the
 * encoder settled on: {@link #latentStd} measures it, and {@link #withScaling} gives the VAE the scaling factor
 * {@code 1 / std} (how SD's 0.18215 was chosen), so the UNet sees latents of unit variance.
 */
public final class VaeTrainer {

    /**
     * @param batchSize frames per step (one from each of that many clips)
     * @param lr        AdamW learning rate (constant; no weight decay)
     * @param klWeight  weight of the KL term
     * @param gradClip  max global gradient norm (0: no clipping)
     * @param seed      seeds the frame choice and the posterior noise
     */
    public record Config(int batchSize, double lr, double klWeight, double gradClip, long seed) {
        public Config {
            if (batchSize < 1) throw new IllegalArgumentException("VaeTrainer: batch size must be >= 1, got " + batchSize);
            if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("VaeTrainer: lr must be > 0, got " + lr);
            if (!(klWeight >= 0) || Double.isInfinite(klWeight))
                throw new IllegalArgumentException("VaeTrainer: kl weight must be >= 0, got " + klWeight);
            if (!(gradClip >= 0) || Double.isInfinite(gradClip))
                throw new IllegalArgumentException("VaeTrainer: grad clip must be >= 0, got " + gradClip);
        }

        /** Batch 8, lr 1e-3, KL weight 1e-4, clip 1.0, seed 0. */
        public static Config defaults() { return new Config(8, 1e-3, 1e-4, 1.0, 0); }
    }

    /** The terms of one step's loss. */
    public record StepLoss(double reconstruction, double kl, double total, double gradNorm) {}

    private final AutoencoderKL vae;
    private final Config config;
    private final SampleSource source;
    private final LinkedHashMap<String, Parameter> parameters;
    private final AdamW optimizer;
    private long step;

    /** A trainer of every parameter of {@code vae}, which is switched to training mode. */
    public VaeTrainer(AutoencoderKL vae, Config config, SampleSource source) {
        this.vae = Objects.requireNonNull(vae, "vae");
        this.config = Objects.requireNonNull(config, "config");
        this.source = Objects.requireNonNull(source, "source");
        vae.train(true);
        vae.setTrainable(true);
        parameters = vae.namedParameters();
        optimizer = new AdamW(parameters, new AdamW.Config(config.lr(), 0.9, 0.999, 1e-8, 0.0));
    }

    /** Steps done. */
    public long steps() { return step; }

    /** One optimizer step on the next {@code batchSize} clips. */
    public StepLoss trainStep() {
        SplittableRandom g = StepRandom.forMicroBatch(config.seed(), step);
        INDArray x = nextFrames(g);                                                         // (b, 3, H, W)
        double recon, kl, total;
        try (Tape tape = Grad.record()) {
            DiagonalGaussian q = vae.encode(Tensor.of(x));
            INDArray eps = StepRandom.randn(g, q.mean().shape());
            Tensor z = q.sample(Tensor.of(eps));
            Tensor out = vae.decode(z);
            Tensor rec = Ops.mseLoss(out, Tensor.of(x));
            // KL(N(mean, var) ‖ N(0, 1)) per element: ½(mean² + var − 1 − logvar)
            Tensor klTerms = Ops.scale(Ops.addScalar(Ops.sub(Ops.add(Ops.square(q.mean()), q.var()), q.logvar()), -1.0), 0.5);
            Tensor klMean = Ops.reshape(Ops.mean(klTerms, false), 1);
            Tensor loss = Ops.add(rec, Ops.scale(klMean, config.klWeight()));
            recon = rec.item();
            kl = klMean.item();
            total = loss.item();
            tape.backward(loss);
            Memory.free(loss.data());
            Memory.free(eps);
        }
        Memory.free(x);
        double norm = GradClip.clipOrMeasure(parameters.values(), config.gradClip());
        if (Double.isFinite(norm) && Double.isFinite(total)) optimizer.step();
        optimizer.zeroGrad();
        step++;
        return new StepLoss(recon, kl, total, norm);
    }

    /** One random frame of each of the next batch_size clips, as (b, 3, H, W) float in [-1, 1]. */
    private INDArray nextFrames(SplittableRandom g) {
        List<INDArray> frames = new ArrayList<>(config.batchSize());
        for (int i = 0; i < config.batchSize(); i++) {
            TrainingSample s = source.next();
            INDArray clip = s.clip();                                                       // (3, F, H, W)
            long f = g.nextLong(clip.size(1));
            frames.add(clip.get(NDArrayIndex.all(), NDArrayIndex.point(f), NDArrayIndex.all(), NDArrayIndex.all())
                    .castTo(DataType.FLOAT).dup('c'));                                      // (3, H, W)
            Memory.free(clip);
            for (INDArray im : s.images()) Memory.free(im);
        }
        INDArray x = Nd4j.stack(0, frames.toArray(INDArray[]::new));                       // (b, 3, H, W)
        for (INDArray f : frames) Memory.free(f);
        return x;
    }

    /**
     * The standard deviation of the posterior means of {@code batches × batchSize} frames drawn from the source (no
     * gradients): the spread of the unscaled latents.
     */
    public double latentStd(int batches) {
        double sum = 0, sumSq = 0;
        long n = 0;
        vae.eval();
        try (Tape off = Grad.disabled()) {
            for (int i = 0; i < batches; i++) {
                INDArray x = nextFrames(StepRandom.forMicroBatch(config.seed() ^ 0x5CA1E, i));
                DiagonalGaussian q = vae.encode(Tensor.of(x));
                INDArray m = q.mean().data();
                sum += m.sumNumber().doubleValue();
                sumSq += m.mul(m).sumNumber().doubleValue();
                n += m.length();
                q.release();
                Memory.free(x);
            }
        } finally {
            vae.train(true);
        }
        double mean = sum / n;
        return Math.sqrt(Math.max(sumSq / n - mean * mean, 1e-12));
    }

    /** A VAE with {@code vae}'s weights (shared, not copied) and scaling factor {@code scaling} (e.g. {@code 1 / latentStd}). */
    public static AutoencoderKL withScaling(AutoencoderKL vae, double scaling) {
        VaeConfig c = vae.config();
        AutoencoderKL out = new AutoencoderKL(new VaeConfig(c.inChannels(), c.outChannels(), c.blockOutChannels(), c.layersPerBlock(),
                c.latentChannels(), c.normNumGroups(), c.sampleSize(), scaling));
        out.load(vae.stateDict());
        out.eval();
        return out;
    }
}
