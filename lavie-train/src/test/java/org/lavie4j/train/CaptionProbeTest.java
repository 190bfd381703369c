package org.lavie4j.train;

import org.junit.jupiter.api.Test;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.train.data.ShapeCaption;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link CaptionProbe} on the random tiny model: shape of the result, determinism, and bad input. */
class CaptionProbeTest {
    private static final List<ShapeCaption> CAPTIONS = List.of(ShapeCaption.parse("a red circle moving left"),
            ShapeCaption.parse("a blue square moving up"));

    @Test void oneRowPerTimestepRepeatablyAndTheCaptionMatters() {
        TextToVideoModel m = TextToVideoModel.randomTiny(0);
        List<CaptionProbe.Row> a = CaptionProbe.probe(m, CAPTIONS, new int[]{100, 900}, 3);
        assertEquals(2, a.size());
        assertEquals(100, a.get(0).timestep());
        assertEquals(900, a.get(1).timestep());
        for (CaptionProbe.Row r : a) {
            assertTrue(r.right() > 0 && Double.isFinite(r.right()) && r.empty() > 0 && r.wrong() > 0 && r.opposite() > 0, r.toString());
            assertNotEquals(r.right(), r.wrong(), "the random UNet's cross-attention makes its output depend on the caption");
            assertNotEquals(r.right(), r.opposite(), "and on the direction word");
        }
        // an epsilon model's implied x0 error grows with the noise: (1 - abar)/abar amplifies the epsilon error
        assertTrue(a.get(1).right() > 10 * a.get(0).right(), a.toString());
        assertEquals(a, CaptionProbe.probe(m, CAPTIONS, new int[]{100, 900}, 3), "same seed, same clips and noise");
        assertNotEquals(a, CaptionProbe.probe(m, CAPTIONS, new int[]{100, 900}, 4));
        assertEquals((a.get(0).wrong() - a.get(0).right()) / a.get(0).right(), a.get(0).wrongPenalty(), 1e-12);
        assertEquals((a.get(1).opposite() - a.get(1).right()) / a.get(1).right(), a.get(1).oppositePenalty(), 1e-12);
        // the default travel is the data's default; other travel, other clips
        assertEquals(a, CaptionProbe.probe(m, CAPTIONS, new int[]{100, 900}, 3, 0.55, 0.85));
        assertNotEquals(a, CaptionProbe.probe(m, CAPTIONS, new int[]{100, 900}, 3, 1, 1));
    }

    @Test void badInputIsNamed() {
        TextToVideoModel m = TextToVideoModel.randomTiny(0);
        var e = assertThrows(IllegalArgumentException.class, () -> CaptionProbe.probe(m, CAPTIONS.subList(0, 1), new int[]{100}, 0));
        assertTrue(e.getMessage().contains("at least two captions"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CaptionProbe.probe(m, CAPTIONS, new int[]{1000}, 0));
        assertTrue(e.getMessage().contains("timestep 1000 outside [0, 1000)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CaptionProbe.probe(m, CAPTIONS, new int[0], 0));
        assertTrue(e.getMessage().contains("no timesteps"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CaptionProbe.probe(m, CAPTIONS, new int[]{100}, 0, 0.5, 1.5));
        assertTrue(e.getMessage().contains("0 < min <= max <= 1"), e.getMessage());
    }
}
