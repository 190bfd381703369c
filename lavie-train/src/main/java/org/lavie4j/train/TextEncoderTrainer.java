package org.lavie4j.train;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Init;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.layers.Linear;
import org.lavie4j.train.optim.AdamW;
import org.lavie4j.train.optim.GradClip;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Trains a CLIP text encoder on captions alone: the stage before the UNet when a model starts from a random text tower
 * (the tiny models of the synthetic domain, which have no pretrained CLIP to start from; LaVie starts from Stable
 * Diffusion's). A random tower keeps the words of a caption apart only weakly, and least where the UNet reads most:
 * the end-of-text and padding states, which a causal tower computes from the whole caption, change by a few percent
 * when one word changes (in the tiny tower "moving left" and "moving right" differ by 5.8% of the prompt's state). A
 * UNet cannot learn to draw a difference it can hardly see. This objective makes every state say which caption tokens it
 * has read:
 * <pre>
 * ids = tokenize(batch_size captions, drawn with replacement; the empty caption is one of them)      (B, L)
 * S   = text_encoder(ids)                                                                          (B, L, D)
 * ŷ   = head(S), a linear layer over the V distinct tokens of the captions (discarded afterwards)    (B, L, V)
 * y[b, p, v] = 1 when token v occurs in caption b at a position in 1..p, else 0 (positions from the end-of-text
 *              token on have read the whole caption)
 * L   = mean((ŷ − y)²); backward; clip to grad_clip; AdamW (no weight decay)
 * </pre>
 * so that the caption's content is linearly readable, word by word, from every state at and after the end of the text.
 * A bag-of-tokens stand-in for CLIP's contrastive pretraining: with captions made of attribute words, knowing which
 * words occur is what a denoiser needs from the text.
 */
public final class TextEncoderTrainer {

    /**
     * @param batchSize captions per step
     * @param lr        AdamW learning rate (constant; no weight decay)
     * @param gradClip  max global gradient norm (0: no clipping)
     * @param seed      seeds the caption draws and the head's initialisation
     */
    public record Config(int batchSize, double lr, double gradClip, long seed) {
        public Config {
            if (batchSize < 1) throw new IllegalArgumentException("TextEncoderTrainer: batch size must be >= 1, got " + batchSize);
            if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("TextEncoderTrainer: lr must be > 0, got " + lr);
            if (!(gradClip >= 0) || Double.isInfinite(gradClip))
                throw new IllegalArgumentException("TextEncoderTrainer: grad clip must be >= 0, got " + gradClip);
        }

        /** Batch 32, lr 1e-3, clip 1.0, seed 0. */
        public static Config defaults() { return new Config(32, 1e-3, 1.0, 0); }
    }

    /** One step's loss and the gradient's global norm before clipping. */
    public record StepLoss(double loss, double gradNorm) {}

    private final CLIPTextModel encoder;
    private final CLIPTokenizer tokenizer;
    private final List<String> captions;
    private final Config config;
    private final Map<Long, Integer> vocabulary;                    // token id -> head column
    private final Linear head;
    private final LinkedHashMap<String, Parameter> parameters;
    private final AdamW optimizer;
    private long step;

    /**
     * A trainer of every parameter of {@code encoder} (switched to training mode) on {@code captions} (distinct ones;
     * the empty caption is added, as the unconditional prompt of classifier-free guidance).
     *
     * @throws IllegalArgumentException no non-empty caption, or one longer than the tokenizer's length (named)
     */
    public TextEncoderTrainer(CLIPTextModel encoder, CLIPTokenizer tokenizer, List<String> captions, Config config) {
        this.encoder = Objects.requireNonNull(encoder, "encoder");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.config = Objects.requireNonNull(config, "config");
        List<String> distinct = new ArrayList<>(new java.util.LinkedHashSet<>(Objects.requireNonNull(captions, "captions")));
        distinct.removeIf(String::isBlank);
        if (distinct.isEmpty()) throw new IllegalArgumentException("TextEncoderTrainer: no non-empty caption to train on");
        int room = tokenizer.maxLength() - 2;                       // start and end of text
        for (String c : distinct) {
            int n = tokenizer.tokenize(c).size();
            if (n > room)
                throw new IllegalArgumentException("TextEncoderTrainer: caption \"" + c + "\" has " + n + " tokens; at most " + room
                        + " fit the tokenizer's length " + tokenizer.maxLength());
        }
        distinct.add("");
        this.captions = List.copyOf(distinct);
        TreeMap<Long, Integer> vocab = new TreeMap<>();
        for (String c : this.captions)
            for (long id : tokenizer.convertTokensToIds(tokenizer.tokenize(c))) vocab.putIfAbsent(id, 0);
        int i = 0;
        for (Map.Entry<Long, Integer> e : vocab.entrySet()) e.setValue(i++);
        this.vocabulary = vocab;
        Init.seed(config.seed());
        int width = encoder.config().hiddenSize();
        head = new Linear(width, vocab.size());
        DataType type = encoder.namedEntries().values().stream().filter(p -> !p.isBuffer()).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("TextEncoderTrainer: the encoder has no weights")).computeType();
        if (type != DataType.FLOAT) head.to(type);
        encoder.train(true);
        encoder.setTrainable(true);
        parameters = new LinkedHashMap<>();
        encoder.namedParameters().forEach((k, p) -> parameters.put("text_encoder." + k, p));
        head.namedParameters().forEach((k, p) -> parameters.put("head." + k, p));
        optimizer = new AdamW(parameters, new AdamW.Config(config.lr(), 0.9, 0.999, 1e-8, 0.0));
    }

    /** Steps done. */
    public long steps() { return step; }

    /** The distinct captions trained on, the empty one last. */
    public List<String> captions() { return captions; }

    /** The number of distinct caption tokens (the head's outputs). */
    public int vocabularySize() { return vocabulary.size(); }

    /** One optimizer step on the next {@code batchSize} captions. */
    public StepLoss trainStep() {
        SplittableRandom g = StepRandom.forMicroBatch(config.seed(), step);
        List<String> batch = new ArrayList<>(config.batchSize());
        for (int i = 0; i < config.batchSize(); i++) batch.add(captions.get(g.nextInt(captions.size())));
        long[][] ids = tokenizer.encode(batch).inputIds();
        INDArray idArray = Nd4j.createFromArray(ids);
        INDArray target = targets(ids);
        double total;
        try (Tape tape = Grad.record()) {
            Tensor states = encoder.forward(Tensor.of(idArray));                               // (b, L, D)
            Tensor predicted = head.forward(states);                                            // (b, L, V)
            Tensor loss = Ops.mseLoss(predicted, Tensor.of(target.castTo(predicted.dtype())));
            total = loss.item();
            tape.backward(loss);
            Memory.free(loss.data());
        }
        Memory.free(idArray);
        Memory.free(target);
        double norm = GradClip.clipOrMeasure(parameters.values(), config.gradClip());
        if (Double.isFinite(norm) && Double.isFinite(total)) optimizer.step();
        optimizer.zeroGrad();
        step++;
        return new StepLoss(total, norm);
    }

    /** y[b, p, v] = 1 when the caption's token v is at a position in 1..p (before the end of text), as (b, L, V) float. */
    INDArray targets(long[][] ids) {
        int b = ids.length, length = ids[0].length, v = vocabulary.size();
        float[] y = new float[b * length * v];
        long bos = tokenizer.bosTokenId(), eos = tokenizer.eosTokenId();
        for (int i = 0; i < b; i++) {
            boolean ended = false;
            float[] seen = new float[v];
            for (int p = 0; p < length; p++) {
                long id = ids[i][p];
                if (!ended && id == eos && p > 0) ended = true;
                if (!ended && id != bos) {
                    Integer col = vocabulary.get(id);
                    if (col != null) seen[col] = 1f;
                }
                System.arraycopy(seen, 0, y, (i * length + p) * v, v);
            }
        }
        return Nd4j.create(y, new long[]{b, length, v}, 'c');
    }

    /**
     * The fraction of the captions (the empty one included) whose token set the head reads back exactly (every output
     * on the right side of ½) from the state at the last position; no gradients. 1.0 when every caption's content is
     * linearly readable where the UNet reads most.
     */
    public double readBackAccuracy() {
        encoder.eval();
        try (Tape off = Grad.disabled()) {
            long[][] ids = tokenizer.encode(captions).inputIds();
            INDArray idArray = Nd4j.createFromArray(ids);
            INDArray predicted = head.forward(encoder.forward(Tensor.of(idArray))).data();       // (n, L, V)
            INDArray target = targets(ids);
            int n = ids.length, last = ids[0].length - 1, right = 0;
            for (int i = 0; i < n; i++) {
                boolean all = true;
                for (int v = 0; v < vocabulary.size() && all; v++)
                    all = (predicted.getDouble(i, last, v) > 0.5) == (target.getDouble(i, last, v) > 0.5);
                if (all) right++;
            }
            Memory.free(idArray);
            Memory.free(target);
            return right / (double) n;
        } finally {
            encoder.train(true);
        }
    }
}
