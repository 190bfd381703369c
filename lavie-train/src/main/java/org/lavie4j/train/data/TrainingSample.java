package org.lavie4j.train.data;

import org.lavie4j.nn.attention.FrameLayout;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

/**
 * One joint image-video training sample (LaVie base §11): a clip of F frames with its caption, and {@code imageCount}
 * still images, each with its own caption. Pixels are float32 in [-1, 1]; the clip is (3, F, H, W) and each image
 * (3, H, W), all the same H × W. A caption may be "" (caption dropout for classifier-free guidance happens in the
 * data pipeline, so the sample carries the caption the model is trained on).
 *
 * @param clip          (3, F, H, W) in [-1, 1]
 * @param caption       the clip's caption
 * @param images        still images (3, H, W), possibly empty
 * @param imageCaptions one caption per image
 * @param source        where the clip came from (a file path and frame range), for logs and error messages
 */
public record TrainingSample(INDArray clip, String caption, List<INDArray> images, List<String> imageCaptions, String source) {
    public TrainingSample {
        if (clip == null || clip.rank() != 4 || clip.size(0) != 3)
            throw new IllegalArgumentException("TrainingSample: clip must be (3, F, H, W), got " + (clip == null ? "null" : java.util.Arrays.toString(clip.shape())));
        if (caption == null) throw new IllegalArgumentException("TrainingSample: caption must not be null (use \"\")");
        images = List.copyOf(images == null ? List.of() : images);
        imageCaptions = List.copyOf(imageCaptions == null ? List.of() : imageCaptions);
        if (images.size() != imageCaptions.size())
            throw new IllegalArgumentException("TrainingSample: " + images.size() + " images but " + imageCaptions.size() + " image captions");
        for (INDArray im : images)
            if (im.rank() != 3 || im.size(0) != 3 || im.size(1) != clip.size(2) || im.size(2) != clip.size(3))
                throw new IllegalArgumentException("TrainingSample: images must be (3, " + clip.size(2) + ", " + clip.size(3) + "), got "
                        + java.util.Arrays.toString(im.shape()));
        if (source == null) source = "";
    }

    /** The frame layout of this sample: the clip's frames, then the images. */
    public FrameLayout layout() { return new FrameLayout((int) clip.size(1), images.size()); }
}
