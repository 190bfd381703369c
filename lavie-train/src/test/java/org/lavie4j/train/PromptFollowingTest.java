package org.lavie4j.train;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.TextToVideoModel;
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

    /**
     * evaluate generates up to BATCH prompts of a seed in one batch: each video is the one a call per prompt makes
     * (the same initial noise; pixels within one level of rounding), in prompt-then-seed order.
     */
    @Test
    void batchedEvaluationMakesTheVideosOfOneCallPerPrompt() {
        TextToVideoModel m = TextToVideoModel.randomTiny(0);
        List<ShapeCaption> prompts = List.of(ShapeCaption.parseCombination("red circle left"),
                ShapeCaption.parseCombination("blue square up"), ShapeCaption.parseCombination("green triangle right"));
        GenerateOptions base = GenerateOptions.builder().prompt("-").frames(3).size(16, 16).steps(3).guidanceScale(5).build();
        List<String> order = new ArrayList<>();
        List<Video> batched = new ArrayList<>();
        PromptFollowing.Report r = PromptFollowing.evaluate(m, prompts, List.of(4L, 9L), base, (s, v) -> {
            order.add(s.prompt().caption() + "/" + s.seed());
            batched.add(v);
        });
        assertEquals(List.of("a red circle moving left/4", "a red circle moving left/9", "a blue square moving up/4",
                "a blue square moving up/9", "a green triangle moving right/4", "a green triangle moving right/9"), order);
        assertEquals(6, r.samples().size());
        int k = 0;
        for (ShapeCaption p : prompts)
            for (long seed : List.of(4L, 9L)) {
                GenerateResult one = m.pipeline().generate(base.toBuilder().prompt(p.caption()).seed(seed).build());
                Video single = Video.fromTensor(one.video(), m.info().fps()), got = batched.get(k++);
                assertEquals(single.frames(), got.frames());
                int worst = 0;
                for (int f = 0; f < single.frames(); f++) {
                    byte[] a = single.rgb(f), b = got.rgb(f);
                    for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] & 255) - (b[i] & 255)));
                }
                assertTrue(worst <= 1, p.caption() + " seed " + seed + ": pixels differ by " + worst);
            }
    }
}
