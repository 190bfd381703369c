package org.lavie4j.train;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TextEncoderTrainerTest {
    private static final List<String> CAPTIONS = List.of("a red circle moving left", "a red circle moving right",
            "a blue square moving up", "a blue square moving down", "a green triangle moving left", "a green triangle moving up");

    @Test void targetsSayWhichCaptionTokensEachPositionHasRead() {
        TextToVideoModel m = TextToVideoModel.randomTiny(1);
        CLIPTokenizer tok = m.tokenizer();
        TextEncoderTrainer t = new TextEncoderTrainer(m.textEncoder(), tok, List.of("a red circle", "a blue circle", "a red circle"),
                TextEncoderTrainer.Config.defaults());
        assertEquals(List.of("a red circle", "a blue circle", ""), t.captions(), "distinct captions, then the empty one");
        assertEquals(4, t.vocabularySize(), "a, red, circle, blue");
        long[][] ids = tok.encode(List.of("a red circle", "")).inputIds();
        INDArray y = t.targets(ids);                                             // (2, 77, 4)
        assertArrayEquals(new long[]{2, 77, 4}, y.shape());
        double[] read = new double[77];
        for (int p = 0; p < 77; p++) read[p] = y.get(NDArrayIndex.point(0), NDArrayIndex.point(p), NDArrayIndex.all()).sumNumber().doubleValue();
        assertEquals(0.0, read[0], "the start token has read nothing");
        assertEquals(1.0, read[1]);
        assertEquals(2.0, read[2]);
        assertEquals(3.0, read[3]);
        for (int p = 4; p < 77; p++) assertEquals(3.0, read[p], "from the end of text on, the whole caption (position " + p + ")");
        assertEquals(0.0, y.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all()).sumNumber().doubleValue(), "the empty caption");
    }

    /** Training makes every caption's tokens readable from its last state, and pulls captions that differ in one word apart there. */
    @Test void trainingSeparatesCaptionsThatDifferInOneWord() {
        TextToVideoModel m = TextToVideoModel.randomTiny(2);
        double before = lastStateDifference(m, "a red circle moving left", "a red circle moving right");
        TextEncoderTrainer t = new TextEncoderTrainer(m.textEncoder(), m.tokenizer(), CAPTIONS, new TextEncoderTrainer.Config(8, 3e-3, 1.0, 5));
        double first = t.trainStep().loss(), last = 0;
        for (int i = 1; i < 150; i++) last = t.trainStep().loss();
        assertEquals(150, t.steps());
        assertTrue(last < first / 10, "loss " + first + " -> " + last);
        assertEquals(1.0, t.readBackAccuracy(), 0.0);
        double after = lastStateDifference(m, "a red circle moving left", "a red circle moving right");
        assertTrue(after > 2 * before, "relative difference of the last states: " + before + " -> " + after);
    }

    @Test void badCaptionsAreRefused() {
        TextToVideoModel m = TextToVideoModel.randomTiny(3);
        var none = assertThrows(IllegalArgumentException.class,
                () -> new TextEncoderTrainer(m.textEncoder(), m.tokenizer(), List.of("", " "), TextEncoderTrainer.Config.defaults()));
        assertTrue(none.getMessage().contains("no non-empty caption"), none.getMessage());
        String longCaption = "red ".repeat(80).trim();
        var tooLong = assertThrows(IllegalArgumentException.class,
                () -> new TextEncoderTrainer(m.textEncoder(), m.tokenizer(), List.of(longCaption), TextEncoderTrainer.Config.defaults()));
        assertTrue(tooLong.getMessage().contains("80 tokens"), tooLong.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TextEncoderTrainer.Config(0, 1e-3, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new TextEncoderTrainer.Config(8, 0, 1, 0));
    }

    /** |s(a) − s(b)| / |s(a)| at the last position of the two captions' states. */
    private static double lastStateDifference(TextToVideoModel m, String a, String b) {
        try (Tape off = Grad.disabled()) {
            m.textEncoder().eval();
            INDArray s = m.textEncoder().forward(org.lavie4j.core.Tensor.of(m.tokenizer().encode(List.of(a, b)).inputIdsArray())).data();
            INDArray sa = s.get(NDArrayIndex.point(0), NDArrayIndex.point(76), NDArrayIndex.all());
            INDArray sb = s.get(NDArrayIndex.point(1), NDArrayIndex.point(76), NDArrayIndex.all());
            return sa.sub(sb).norm2Number().doubleValue() / sa.norm2Number().doubleValue();
        } finally {
            m.textEncoder().train(true);
        }
    }
}
