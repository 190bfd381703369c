package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.random.RandomGenerator;

/** What the three stage pipelines share: text states of a prompt and seeded Gaussian noise. */
final class PipelineSupport {
    private PipelineSupport() {}

    /**
     * The text encoder's last hidden state for one text: (1, L, D) float32, computed without a tape.
     *
     * @param pipeline names the caller in the error when it has no tokenizer or text encoder
     */
    static INDArray encodePrompt(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, String text, String pipeline) {
        if (tokenizer == null || textEncoder == null)
            throw new IllegalStateException(pipeline + ": no tokenizer/text encoder; pass prompt and negative embeddings instead of text");
        try (Tape off = Grad.disabled()) {
            Tensor y = textEncoder.forward(Tensor.of(tokenizer.encode(text).inputIdsArray()));   // (1, L, D)
            INDArray out = y.data().castTo(DataType.FLOAT).dup('c');
            y.release();
            return out;
        }
    }

    /** Standard normal noise of the given shape from an explicit generator (row-major order), float32. */
    static INDArray randn(RandomGenerator g, long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) g.nextGaussian();
        return Nd4j.createFromArray(v).reshape('c', shape);
    }
}
