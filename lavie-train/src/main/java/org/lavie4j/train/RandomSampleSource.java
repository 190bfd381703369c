package org.lavie4j.train;

import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.TrainingSample;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * An endless source of random samples for tests and smoke runs: sample {@code n} is drawn from a generator seeded with
 * {@code StepRandom.mix(seed, n)}, so the sequence is fixed by the seed and {@link #seek} is exact. Pixels are uniform
 * in [-1, 1]; captions cycle through the given list. Every call returns fresh arrays (the trainer frees them).
 */
public final class RandomSampleSource implements SampleSource {
    private final long seed;
    private final int frames, height, width, imageCount;
    private final List<String> captions;
    private long position;

    /**
     * @param frames     clip length F
     * @param imageCount still images per sample (joint batches when > 0)
     * @param captions   at least one caption
     */
    public RandomSampleSource(long seed, int frames, int height, int width, int imageCount, List<String> captions) {
        if (frames < 1 || height < 1 || width < 1 || imageCount < 0)
            throw new IllegalArgumentException("RandomSampleSource: frames, height, width >= 1 and imageCount >= 0 required, got "
                    + frames + ", " + height + ", " + width + ", " + imageCount);
        if (captions == null || captions.isEmpty()) throw new IllegalArgumentException("RandomSampleSource: at least one caption required");
        this.seed = seed;
        this.frames = frames;
        this.height = height;
        this.width = width;
        this.imageCount = imageCount;
        this.captions = List.copyOf(captions);
    }

    @Override
    public TrainingSample next() {
        long n = position++;
        SplittableRandom g = new SplittableRandom(StepRandom.mix(seed, n));
        INDArray clip = uniform(g, 3, frames, height, width);
        List<INDArray> images = new ArrayList<>();
        List<String> imageCaptions = new ArrayList<>();
        for (int i = 0; i < imageCount; i++) {
            images.add(uniform(g, 3, height, width));
            imageCaptions.add(captions.get((int) ((n + 1 + i) % captions.size())));
        }
        return new TrainingSample(clip, captions.get((int) (n % captions.size())), images, imageCaptions, "random #" + n);
    }

    @Override
    public long position() { return position; }

    @Override
    public void seek(long p) {
        if (p < 0) throw new IllegalArgumentException("RandomSampleSource: position must be >= 0, got " + p);
        position = p;
    }

    private static INDArray uniform(SplittableRandom g, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) (g.nextDouble() * 2 - 1);
        return Nd4j.createFromArray(v).reshape('c', shape);
    }
}
