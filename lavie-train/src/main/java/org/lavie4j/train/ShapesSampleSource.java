package org.lavie4j.train;

import org.lavie4j.core.media.Video;
import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.SyntheticShapes;
import org.lavie4j.train.data.TrainingSample;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

/**
 * An endless in-memory source of {@link SyntheticShapes} samples (a coloured shape moving across a dark background,
 * "a red circle moving left"), rendered on demand without writing files: sample {@code n} is clip {@code n} of the
 * options' data set, with stills {@code n·I, ..., n·I + I − 1} as its images ("a red circle"). Deterministic and
 * exactly seekable. For tests and quick runs without files ({@code data: {source: synthetic}}); {@code lavie train
 * --synthetic} writes the data set to disk and reads it back through {@link org.lavie4j.train.data.VideoSampleSource}
 * instead, the path real data takes.
 */
public final class ShapesSampleSource implements SampleSource {
    private final SyntheticShapes.Options options;
    private final int imageCount;
    private long position;

    /** @param imageCount still images per sample (joint image-video batches when > 0) */
    public ShapesSampleSource(SyntheticShapes.Options options, int imageCount) {
        if (options == null) throw new IllegalArgumentException("ShapesSampleSource: options are null");
        if (imageCount < 0) throw new IllegalArgumentException("ShapesSampleSource: imageCount must be >= 0, got " + imageCount);
        this.options = options;
        this.imageCount = imageCount;
    }

    @Override
    public TrainingSample next() {
        long n = position++;
        Video clip = SyntheticShapes.clip(options, n);
        List<INDArray> images = new ArrayList<>(imageCount);
        List<String> captions = new ArrayList<>(imageCount);
        for (int i = 0; i < imageCount; i++) {
            long k = n * imageCount + i;
            INDArray still = SyntheticShapes.still(options, k).toTensor();                // (3, 1, H, W)
            images.add(still.reshape(3, options.height(), options.width()));
            captions.add(SyntheticShapes.stillCombination(options, k).stillCaption());
        }
        return new TrainingSample(clip.toTensor(), SyntheticShapes.combination(options, n).caption(), images, captions, "synthetic #" + n);
    }

    @Override
    public long position() { return position; }

    @Override
    public void seek(long p) {
        if (p < 0) throw new IllegalArgumentException("ShapesSampleSource: position must be >= 0, got " + p);
        position = p;
    }
}
