package org.lavie4j.nn.clip;

import org.lavie4j.core.Init;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * transformers 4.28.1 {@code CLIPTextEmbeddings}: {@code token_embedding[ids] + position_embedding[position_ids[:, :L]]}.
 * {@code position_ids} is the persistent int64 buffer {@code [1, max_positions]} (= 0..max−1) of 4.28 checkpoints;
 * it stays int64 on load (Module.load converts to the buffer's own dtype).
 */
public final class CLIPTextEmbeddings extends Module {
    /** torch.nn.Embedding: weight {@code [num, dim]}, initialised N(0, 0.02²) as CLIP's {@code _init_weights}. */
    static final class Embedding extends Module {
        final Parameter weight;

        Embedding(int num, int dim) {
            weight = parameter("weight", Init.normal(0.02, num, dim));
        }
    }

    private final Embedding tokenEmbedding, positionEmbedding;
    private final Parameter positionIds;
    private final int vocabSize, maxPositions;

    public CLIPTextEmbeddings(CLIPTextConfig config) {
        vocabSize = config.vocabSize();
        maxPositions = config.maxPositionEmbeddings();
        tokenEmbedding = child("token_embedding", new Embedding(vocabSize, config.hiddenSize()));
        positionEmbedding = child("position_embedding", new Embedding(maxPositions, config.hiddenSize()));
        positionIds = buffer("position_ids", Nd4j.arange(0, maxPositions).castTo(DataType.LONG).reshape('c', 1, maxPositions));
    }

    /** input_ids (B, L) integers in [0, vocab), 1 ≤ L ≤ max_position_embeddings -> (B, L, D). */
    public Tensor forward(Tensor inputIds) {
        INDArray ids = inputIds.data();
        check(ids);
        long l = ids.size(1);
        Tensor tokenTable = tokenEmbedding.weight.tensor(), positionTable = positionEmbedding.weight.tensor();
        Tensor tokens = Ops.embedding(tokenTable, ids);                                       // (b, l, d)
        INDArray pos = positionIds.data().get(NDArrayIndex.all(), NDArrayIndex.interval(0, l)); // (1, l)
        Tensor positions = Ops.embedding(positionTable, pos);                                 // (1, l, d)
        Tensor out = Ops.add(tokens, positions);                                              // (b, l, d)
        Tensor.release(tokens, positions, tokenTable, positionTable);   // tables: FLOAT copies of half-stored ones
        return out;
    }

    /** Rejects ids of the wrong rank, length, range or a non-integral value, naming the offending position. */
    private void check(INDArray ids) {
        if (ids.rank() != 2 || ids.size(0) < 1 || ids.size(1) < 1)
            throw new IllegalArgumentException("CLIPTextModel: input_ids must be (batch, length) with batch, length >= 1, got " + Arrays.toString(ids.shape()));
        long b = ids.size(0), l = ids.size(1);
        if (l > maxPositions)
            throw new IllegalArgumentException("CLIPTextModel: input_ids " + Arrays.toString(ids.shape()) + " has length " + l
                    + " > max_position_embeddings " + maxPositions + " (truncate in the tokenizer)");
        double[] v = ids.castTo(DataType.DOUBLE).reshape(b * l).toDoubleVector();
        for (int i = 0; i < v.length; i++) {
            if (v[i] != Math.rint(v[i]) || v[i] < 0 || v[i] >= vocabSize)
                throw new IllegalArgumentException("CLIPTextModel: input_ids[" + i / l + ", " + i % l + "] = " + (v[i] == Math.rint(v[i]) ? Long.toString((long) v[i]) : Double.toString(v[i]))
                        + " is not a token id of the vocabulary [0, " + vocabSize + ")");
        }
    }
}
