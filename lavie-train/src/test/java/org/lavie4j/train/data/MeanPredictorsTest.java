package org.lavie4j.train.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The mean-video predictors: each knows more and errs less; knowing everything about identical clips, not at all. */
class MeanPredictorsTest {
    @Test void moreKnowledgeLowerError() {
        MeanPredictors.Errors e = MeanPredictors.of(SyntheticShapes.Options.of(256, 16, 4).withSeed(5));
        System.out.println(e);
        assertEquals(256, e.clips());
        assertTrue(e.unconditional() > e.colourShape() && e.colourShape() > e.colourShapeDirection() && e.colourShapeDirection() > 0, e.toString());
        assertEquals((e.colourShape() - e.colourShapeDirection()) / e.colourShape(), e.directionGain(), 1e-15);
        // edge to edge, the direction fixes where the shape is in each frame: it is worth more
        MeanPredictors.Errors full = MeanPredictors.of(SyntheticShapes.Options.of(256, 16, 4).withSeed(5).withTravel(1, 1));
        assertTrue(full.directionGain() > e.directionGain(), full + " vs " + e);
    }

    @Test void oneClipPerCombinationIsItsOwnMean() {
        // 128 clips = each combination once: the colour+shape+direction mean is the clip itself
        MeanPredictors.Errors e = MeanPredictors.of(SyntheticShapes.Options.of(ShapeCaption.all().size(), 16, 2).withSeed(1));
        assertEquals(0.0, e.colourShapeDirection(), 1e-12);
        assertTrue(e.colourShape() > 0);
    }
}
