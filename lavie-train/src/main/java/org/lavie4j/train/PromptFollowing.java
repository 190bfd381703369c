package org.lavie4j.train;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.lavie4j.train.data.ShapeDescriber;
import org.lavie4j.train.data.SyntheticShapes;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;

/**
 * Prompt following on the synthetic domain: generate a video for each synthetic-shapes prompt ("a red circle moving
 * left") and seed, read back what it shows with {@link ShapeDescriber} (pixel statistics alone), and count how often the
 * colour and the direction of motion agree with the prompt (the criterion; the shape is reported too, it is
 * the least robust reading). Measured on combinations held out from training, this is how far a model generalises
 * what it learnt about colours and directions.
 */
public final class PromptFollowing {
    private PromptFollowing() {}

    /** One generated video: its prompt and seed, and what the describer saw. */
    public record Sample(ShapeCaption prompt, long seed, ShapeDescriber.Description seen) {
        public Sample {
            Objects.requireNonNull(prompt, "prompt");
            Objects.requireNonNull(seen, "seen");
        }

        public boolean colourOk() { return seen.colour() == prompt.colour(); }

        public boolean directionOk() { return seen.direction() == prompt.direction(); }

        public boolean shapeOk() { return seen.shape() == prompt.shape(); }

        /** Colour and direction both right ({@link ShapeDescriber.Description#matches}). */
        public boolean ok() { return seen.matches(prompt); }
    }

    /** The samples of one evaluation and their accuracies (fractions in [0, 1]; NaN when there are none). */
    public record Report(List<Sample> samples) {
        public Report {
            samples = List.copyOf(samples);
        }

        public double colourAccuracy() { return share(Sample::colourOk); }

        public double directionAccuracy() { return share(Sample::directionOk); }

        public double shapeAccuracy() { return share(Sample::shapeOk); }

        /** Colour and direction both right. */
        public double accuracy() { return share(Sample::ok); }

        private double share(java.util.function.Predicate<Sample> p) {
            if (samples.isEmpty()) return Double.NaN;
            return samples.stream().filter(p).count() / (double) samples.size();
        }
    }

    /** Describes {@code videos[i]}, generated for {@code prompts[i]} with {@code seeds[i]}. */
    public static Report score(List<ShapeCaption> prompts, List<Long> seeds, List<Video> videos) {
        if (prompts.size() != videos.size() || seeds.size() != videos.size())
            throw new IllegalArgumentException("PromptFollowing: " + prompts.size() + " prompts, " + seeds.size() + " seeds and "
                    + videos.size() + " videos must be as many");
        List<Sample> out = new ArrayList<>(videos.size());
        for (int i = 0; i < videos.size(); i++) out.add(new Sample(prompts.get(i), seeds.get(i), ShapeDescriber.describe(videos.get(i))));
        return new Report(out);
    }

    /** Prompts generated together in one batch by {@link #evaluate} (twice as many UNet rows with guidance). */
    public static final int BATCH = 16;

    /**
     * Generates every prompt with every seed ({@code base} gives frames, size, steps and guidance; its prompt and seed
     * are replaced) and scores the videos. {@code each} sees every sample with its video (may be null), in order:
     * prompt by prompt, seeds within a prompt. For each seed, up to {@link #BATCH} prompts are generated in one batch
     * from that seed's initial noise ({@link TextToVideoPipeline#initialNoise}), the start one call per prompt would
     * take: the same videos up to float rounding, an order of magnitude faster for tiny models.
     */
    public static Report evaluate(TextToVideoModel model, List<ShapeCaption> prompts, List<Long> seeds, GenerateOptions base,
                                  BiConsumer<Sample, Video> each) {
        TextToVideoPipeline pipeline = model.pipeline();
        Sample[][] samples = new Sample[prompts.size()][seeds.size()];
        Video[][] videos = each == null ? null : new Video[prompts.size()][seeds.size()];
        try (Tape off = Grad.disabled()) {
            INDArray[] text = new INDArray[prompts.size()];
            for (int i = 0; i < prompts.size(); i++) text[i] = pipeline.encodePrompt(prompts.get(i).caption());
            INDArray negative = pipeline.encodePrompt(base.negativePrompt());
            for (int s = 0; s < seeds.size(); s++) {
                INDArray noise = pipeline.initialNoise(seeds.get(s), base.frames(), base.height(), base.width());
                for (int i0 = 0; i0 < prompts.size(); i0 += BATCH) {
                    int i1 = Math.min(prompts.size(), i0 + BATCH), n = i1 - i0;
                    INDArray cond = Nd4j.concat(0, java.util.Arrays.copyOfRange(text, i0, i1));
                    INDArray uncond = negative.repeat(0, n), start = noise.repeat(0, n);          // (n, ...) copies
                    GenerateOptions o = GenerateOptions.builder().embeddings(cond, uncond).latents(start).frames(base.frames())
                            .size(base.height(), base.width()).steps(base.steps()).guidanceScale(base.guidanceScale())
                            .scheduler(base.scheduler()).seed(seeds.get(s)).build();
                    GenerateResult r = pipeline.generate(o);
                    Memory.free(r.latents(), cond, uncond, start);
                    for (int k = 0; k < n; k++) {
                        INDArray one = r.video().get(NDArrayIndex.interval(k, k + 1)).dup('c');
                        Video v = Video.fromTensor(one, model.info().fps());
                        Memory.free(one);
                        samples[i0 + k][s] = new Sample(prompts.get(i0 + k), seeds.get(s), ShapeDescriber.describe(v));
                        if (videos != null) videos[i0 + k][s] = v;
                    }
                    Memory.free(r.video());
                }
                Memory.free(noise);
            }
            Memory.free(text);
            Memory.free(negative);
        }
        List<Sample> out = new ArrayList<>(prompts.size() * seeds.size());
        for (int i = 0; i < prompts.size(); i++)
            for (int s = 0; s < seeds.size(); s++) {
                out.add(samples[i][s]);
                if (each != null) each.accept(samples[i][s], videos[i][s]);
            }
        return new Report(out);
    }

    /**
     * The VAE's ceiling: for every prompt and seed, renders the synthetic clip ({@link SyntheticShapes#clip(ShapeCaption,
     * int, int, int, double, SplittableRandom)}, generator seeded with the seed), passes it through the model's VAE
     * (posterior mean, decode) and scores what comes back. A generated video can follow its prompt no better than this.
     */
    public static Report reconstruct(TextToVideoModel model, List<ShapeCaption> prompts, List<Long> seeds, int frames, int height, int width,
                                     BiConsumer<Sample, Video> each) {
        AutoencoderKL vae = model.vae();
        List<Sample> out = new ArrayList<>(prompts.size() * seeds.size());
        try (Tape off = Grad.disabled()) {
            for (ShapeCaption prompt : prompts) {
                for (long seed : seeds) {
                    Video clip = SyntheticShapes.clip(prompt, height, width, frames, model.info().fps(), new SplittableRandom(seed));
                    INDArray x = clip.toTensor().castTo(DataType.FLOAT).reshape(1, 3, frames, height, width);   // (1, 3, F, H, W)
                    DiagonalGaussian q = vae.encodeVideo(Tensor.of(x), frames);
                    Tensor y = vae.decodeVideo(q.mean(), frames);
                    q.release();
                    Video v = Video.fromTensor(y.data(), model.info().fps());
                    y.release();
                    Memory.free(x);
                    Sample s = new Sample(prompt, seed, ShapeDescriber.describe(v));
                    out.add(s);
                    if (each != null) each.accept(s, v);
                }
            }
        }
        return new Report(out);
    }
}
