package org.lavie4j.train;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.media.Video;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.train.data.SyntheticShapes;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link PromptFollowing#score}: real synthetic clips follow their own captions, and not mirrored or recoloured ones. */
class PromptFollowingTest {
    private final SyntheticShapes.Options options = SyntheticShapes.Options.of(24, 32, 8);
    private final List<Video> videos = new ArrayList<>();
    private final List<ShapeCaption> truth = new ArrayList<>();
    private final List<Long> seeds = new ArrayList<>();

    PromptFollowingTest() {
        for (int k = 0; k < options.count(); k++) {
            videos.add(SyntheticShapes.clip(options, k));
            truth.add(SyntheticShapes.combination(options, k));
            seeds.add((long) k);
        }
    }

    @Test
    void trueCaptionsScoreFull() {
        PromptFollowing.Report r = PromptFollowing.score(truth, seeds, videos);
        assertEquals(24, r.samples().size());
        assertEquals(1.0, r.accuracy());
        assertEquals(1.0, r.colourAccuracy());
        assertEquals(1.0, r.directionAccuracy());
    }

    @Test
    void wrongDirectionsAndColoursAreCounted() {
        List<ShapeCaption> opposite = new ArrayList<>(), recoloured = new ArrayList<>();
        ShapeCaption.Colour[] colours = ShapeCaption.Colour.values();
        for (ShapeCaption c : truth) {
            ShapeCaption.Direction d = switch (c.direction()) {
                case LEFT -> ShapeCaption.Direction.RIGHT;
                case RIGHT -> ShapeCaption.Direction.LEFT;
                case UP -> ShapeCaption.Direction.DOWN;
                case DOWN -> ShapeCaption.Direction.UP;
            };
            opposite.add(new ShapeCaption(c.colour(), c.shape(), d));
            recoloured.add(new ShapeCaption(colours[(c.colour().ordinal() + 1) % colours.length], c.shape(), c.direction()));
        }
        PromptFollowing.Report r = PromptFollowing.score(opposite, seeds, videos);
        assertEquals(0.0, r.directionAccuracy());
        assertEquals(1.0, r.colourAccuracy());
        assertEquals(0.0, r.accuracy());
        PromptFollowing.Report c = PromptFollowing.score(recoloured, seeds, videos);
        assertEquals(0.0, c.colourAccuracy());
        assertEquals(1.0, c.directionAccuracy());
        assertFalse(c.samples().get(0).ok());
    }

    @Test
    void reconstructScoresEveryPromptAndSeedThroughTheVae() {
        var model = org.lavie4j.nn.pipeline.TextToVideoModel.randomTiny(0);
        List<ShapeCaption> prompts = List.of(ShapeCaption.parse("a red circle moving left"), ShapeCaption.parse("a blue square moving up"));
        PromptFollowing.Report r = PromptFollowing.reconstruct(model, prompts, List.of(3L, 4L, 5L), 2, 16, 16, null);
        assertEquals(6, r.samples().size());
        assertEquals(prompts.get(1), r.samples().get(5).prompt());
        assertEquals(5L, r.samples().get(5).seed());
    }

    @Test
    void mismatchedListsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> PromptFollowing.score(truth.subList(0, 3), seeds, videos));
        assertTrue(Double.isNaN(new PromptFollowing.Report(List.of()).accuracy()));
    }
}
