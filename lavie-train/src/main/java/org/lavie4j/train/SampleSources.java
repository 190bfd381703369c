package org.lavie4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.train.data.Manifest;
import org.lavie4j.train.data.SampleOptions;
import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.SyntheticShapes;
import org.lavie4j.train.data.VideoSampleSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Builds the {@link SampleSource} a config's {@code data} mapping describes (the trainer itself takes any source):
 * <pre>{@code
 * data: {source: manifest, videos: data/videos.csv, images: data/images.csv,   # images optional
 *        frames: 16, stride: 3, height: 320, width: 512, image_count: 4,
 *        flip: none, caption_dropout: 0.1, seed: 0, workers: 2, prefetch: 4}   # VideoSampleSource, SampleOptions
 * data: {source: synthetic, frames: 4, height: 32, width: 32, image_count: 1, seed: 0}   # shapes rendered in memory
 * data: {source: random, frames: 2, height: 16, width: 16, image_count: 0, seed: 0}     # noise clips (smoke tests)
 * }</pre>
 * Every key is checked; errors name {@code data.KEY}. Manifest paths are relative to the working directory; the
 * paths inside a manifest are relative to the manifest's folder.
 */
public final class SampleSources {
    private static final Set<String> COMMON = Set.of("source", "frames", "height", "width", "image_count", "seed");
    private static final Set<String> MANIFEST = Set.of("source", "videos", "images", "frames", "stride", "height", "width",
            "image_count", "flip", "caption_dropout", "seed", "workers", "prefetch");

    private SampleSources() {}

    /**
     * The source of {@code data} (the {@code data} mapping of a {@link TrainConfig}).
     *
     * @throws IllegalArgumentException a missing or bad key (named)
     * @throws IOException              a manifest that cannot be read (named by the data package)
     */
    public static SampleSource fromConfig(JsonNode data) throws IOException {
        if (data == null || data.isNull())
            throw ConfigNode.error("data", "is required to train from a config (e.g. data: {source: manifest, videos: videos.csv, frames: 16, height: 320, width: 512})");
        ConfigNode n = new ConfigNode(data, "data");
        if (!data.isObject()) throw ConfigNode.error("data", "must be a mapping of keys to values, got " + data);
        String source = n.choice("source", null, "manifest", "synthetic", "random");
        if (source.equals("manifest")) {
            n.checkKnown(MANIFEST);
            SampleOptions o = new SampleOptions(n.integer32("frames", 16, 1), n.integer32("stride", 1, 1), n.integer32("height", 320, 1),
                    n.integer32("width", 512, 1), n.integer32("image_count", 0, 0),
                    SampleOptions.Flip.valueOf(n.choice("flip", "none", "none", "swap_left_right", "keep_caption").toUpperCase(Locale.ROOT)),
                    n.number("caption_dropout", SampleOptions.DEFAULT_CAPTION_DROPOUT, 0, 1), n.integer("seed", 0, Long.MIN_VALUE),
                    n.integer32("workers", 2, 0), n.integer32("prefetch", 4, 1));
            Manifest videos = Manifest.read(Path.of(n.string("videos", null)));
            String images = n.optionalString("images");
            return VideoSampleSource.of(videos, images == null ? null : Manifest.read(Path.of(images)), o);
        }
        n.checkKnown(COMMON);
        int frames = n.integer32("frames", source.equals("synthetic") ? 4 : 2, 1);
        int height = n.integer32("height", source.equals("synthetic") ? 32 : 16, 1), width = n.integer32("width", source.equals("synthetic") ? 32 : 16, 1);
        int images = n.integer32("image_count", 0, 0);
        long seed = n.integer("seed", 0, Long.MIN_VALUE);
        if (source.equals("random")) return new RandomSampleSource(seed, frames, height, width, images, List.of("a red circle moving left", "a blue square moving up"));
        try {
            return new ShapesSampleSource(new SyntheticShapes.Options(1024, height, width, frames, 8.0, seed, Set.of(), 0), images);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("train config: 'data' (synthetic): " + e.getMessage(), e);
        }
    }
}
