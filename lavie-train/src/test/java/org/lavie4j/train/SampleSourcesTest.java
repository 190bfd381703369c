package org.lavie4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.train.data.SampleSource;
import org.lavie4j.train.data.SyntheticShapes;
import org.lavie4j.train.data.TrainingSample;
import org.lavie4j.train.data.VideoSampleSource;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** The {@code data} mapping of a training config: manifest, synthetic and random sources, exact seeks, errors naming the key. */
class SampleSourcesTest {
    private static JsonNode yaml(String text) throws Exception { return new ObjectMapper(new YAMLFactory()).readTree(text); }

    private static void assertSameSample(TrainingSample a, TrainingSample b) {
        assertEquals(a.caption(), b.caption());
        assertEquals(a.imageCaptions(), b.imageCaptions());
        assertTrue(Arrays.equals(a.clip().dup('c').data().asFloat(), b.clip().dup('c').data().asFloat()));
        for (int i = 0; i < a.images().size(); i++)
            assertTrue(Arrays.equals(a.images().get(i).dup('c').data().asFloat(), b.images().get(i).dup('c').data().asFloat()));
    }

    @Test void syntheticAndRandomSourcesAreDeterministicAndSeekExactly() throws Exception {
        for (String kind : new String[]{"synthetic", "random"}) {
            JsonNode data = yaml("{source: " + kind + ", frames: 3, height: 16, width: 24, image_count: 2, seed: 4}");
            SampleSource a = SampleSources.fromConfig(data), b = SampleSources.fromConfig(data);
            TrainingSample first = a.next();
            assertArrayEquals(new long[]{3, 3, 16, 24}, first.clip().shape(), kind);
            assertEquals(2, first.images().size());
            assertArrayEquals(new long[]{3, 16, 24}, first.images().get(0).shape());
            assertTrue(first.clip().maxNumber().doubleValue() <= 1 && first.clip().minNumber().doubleValue() >= -1);
            for (int i = 0; i < 4; i++) a.next();
            b.seek(5);
            assertSameSample(a.next(), b.next());
            assertEquals(6, a.position());
            if (kind.equals("synthetic")) assertTrue(first.caption().matches("a \\w+ \\w+ moving \\w+"), first.caption());
        }
    }

    @Test void manifestSourceReadsTheVideoFiles(@TempDir Path tmp) throws Exception {
        SyntheticShapes.Generated g = SyntheticShapes.generate(tmp, SyntheticShapes.Options.of(3, 16, 2).withStills(2));
        JsonNode data = yaml("{source: manifest, videos: '" + g.videoManifest() + "', images: '" + g.imageManifest()
                + "', frames: 2, height: 16, width: 16, image_count: 1, caption_dropout: 0, flip: swap_left_right, workers: 0}");
        try (SampleSource s = SampleSources.fromConfig(data)) {
            assertInstanceOf(VideoSampleSource.class, s);
            TrainingSample x = s.next();
            assertArrayEquals(new long[]{3, 2, 16, 16}, x.clip().shape());
            assertEquals(1, x.images().size());
            assertTrue(x.caption().startsWith("a "), x.caption());
        }
    }

    @Test void badDataNamesTheKey() throws Exception {
        String[][] cases = {
                {"{frames: 2}", "'data.source' is required"},
                {"{source: webdataset}", "'data.source' must be one of [manifest, synthetic, random]"},
                {"{source: random, fps: 3}", "unknown key 'data.fps'"},
                {"{source: random, frames: 0}", "'data.frames' must be an integer >= 1"},
                {"{source: manifest, frames: 2}", "'data.videos' is required"},
                {"{source: manifest, videos: v.csv, flip: sometimes}", "'data.flip' must be one of [none, swap_left_right, keep_caption]"},
                {"{source: manifest, videos: v.csv, caption_dropout: 2}", "'data.caption_dropout'"},
                {"{source: synthetic, height: 15}", "'data' (synthetic)"},
        };
        for (String[] c : cases) {
            String m = assertThrows(IllegalArgumentException.class, () -> SampleSources.fromConfig(yaml(c[0])), c[0]).getMessage();
            assertTrue(m.contains(c[1]), c[0] + " -> " + m);
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SampleSources.fromConfig(null)).getMessage().contains("'data' is required"));
    }
}
