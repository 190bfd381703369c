package org.lavie4j.nn.unet;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.CrossAttention;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.TemporalAttention;
import org.lavie4j.nn.attention.VsrTransformerBlock;
import org.lavie4j.nn.layers.Embedding;
import org.lavie4j.nn.layers.GroupNorm;
import org.lavie4j.nn.layers.InflatedConv3d;
import org.lavie4j.nn.layers.Slices;
import org.lavie4j.nn.layers.TemporalConvModule;
import org.lavie4j.nn.layers.TimestepEmbedding;
import org.lavie4j.nn.layers.Timesteps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/**
 * LaVie's video super-resolution UNet ({@code UNet3DVSRModel}, vsr/models/unet.py; vsr-unet.md §1–2): Stable Diffusion's
 * ×4 upscaler UNet with convolutions applied per frame, a temporal-convolution resnet and a temporal attention in
 * every transformer, a {@link TemporalConvModule} after every block, and the noise level of the low-resolution input
 * as a class embedding. Forward:
 * <pre>
 * x   = conv_in(concat_channels(latents, low_res))        latents first: 4 + 3 = 7 channels
 * emb = time_embedding(time_proj(t)) + class_embedding[noise_level]
 * down blocks (pushing skips; each followed by down_temporal_blocks[i], whose output is NOT a skip)
 * mid block -> mid_temporal_block
 * up blocks (popping skips, current features first; each followed by up_temporal_blocks[i])
 * out = conv_out(silu(conv_norm_out(x)))                  v-prediction (B, out_channels, F, H, W)
 * </pre>
 * One {@link RotaryEmbedding}(32), {@code temporal_rotary_emb}, is shared by every temporal attention (its
 * {@code freqs} buffer appears under the UNet and under each attention). Memory: attention scores are computed in
 * query chunks bounded by {@link #maxScoreBytes(long)}, and without a tape the transformers' feed-forwards run over
 * token chunks bounded by {@link #maxFeedForwardBytes(long)} (at 320×512 latents the cross-only level has 160×256 =
 * 40,960 tokens per frame).
 * Deviations: H and W must be divisible by 2^(levels − 1) (the reference's forwarded upsample size for other sizes is
 * not supported); {@code video_condition} (a low-res pyramid fed to the temporal modules) is not supported, as LaVie's
 * sampler disables it.
 */
public final class UNet3DVSRModel extends Module {
    private final InflatedConv3d convIn;
    private final Timesteps timeProj;
    private final TimestepEmbedding timeEmbedding;
    private final Embedding classEmbedding;
    private final ModuleList<VsrBlocks.DownBlock> downBlocks;
    private final ModuleList<VsrBlocks.UpBlock> upBlocks;
    private final ModuleList<Module> downTemporalBlocks;
    private final ModuleList<Module> upTemporalBlocks;
    private final RotaryEmbedding temporalRotaryEmb;
    private final VsrBlocks.MidBlock midBlock;
    private final Module midTemporalBlock;
    private final GroupNorm convNormOut;
    private final InflatedConv3d convOut;
    private final VsrConfig config;
    private int sliceFrames;

    /** The reference's {@code EmptyTemporalModule3D}: the identity, no parameters (for levels without a temporal module). */
    static final class EmptyTemporalModule extends Module {}

    public UNet3DVSRModel(VsrConfig config) {
        this.config = config;
        List<Integer> channels = config.blockOutChannels();
        int levels = channels.size(), temb = config.timeEmbedDim(), groups = config.normNumGroups();
        double eps = config.normEps();
        // registration order as the reference's state dict (mid_block is registered after temporal_rotary_emb there)
        convIn = child("conv_in", new InflatedConv3d(config.inChannels(), channels.get(0), 3, 1, 1));
        timeProj = new Timesteps(channels.get(0), config.flipSinToCos(), config.freqShift());   // no weights
        timeEmbedding = child("time_embedding", new TimestepEmbedding(channels.get(0), temb));
        classEmbedding = config.numClassEmbeds() > 0 ? child("class_embedding", new Embedding(config.numClassEmbeds(), temb)) : null;
        RotaryEmbedding rotary = new RotaryEmbedding(32);

        List<VsrBlocks.DownBlock> down = new ArrayList<>();
        List<Module> downTemporal = new ArrayList<>();
        int out = channels.get(0);
        for (int i = 0; i < levels; i++) {
            int in = out;
            out = channels.get(i);
            VsrBlocks.AttentionSpec attention = config.downBlockTypes().get(i).hasAttention()
                    ? new VsrBlocks.AttentionSpec(config.attentionHeadDim().get(i), config.crossAttentionDim(), groups, config.onlyCrossAttention().get(i), rotary)
                    : null;
            down.add(new VsrBlocks.DownBlock(in, out, temb, config.layersPerBlock(), groups, eps, attention, i < levels - 1, config.downsamplePadding()));
            downTemporal.add(config.downTemporalIdx().contains(i) ? new TemporalConvModule(out, temb) : new EmptyTemporalModule());
        }
        List<VsrBlocks.UpBlock> up = new ArrayList<>();
        List<Module> upTemporal = new ArrayList<>();
        out = channels.get(levels - 1);
        for (int i = 0; i < levels; i++) {
            int prevOut = out;
            out = channels.get(levels - 1 - i);
            int in = channels.get(Math.max(levels - 2 - i, 0));
            VsrBlocks.AttentionSpec attention = config.upBlockTypes().get(i).hasAttention()
                    ? new VsrBlocks.AttentionSpec(config.attentionHeadDim().get(levels - 1 - i), config.crossAttentionDim(), groups,
                    config.upOnlyCrossAttention(i), rotary)
                    : null;
            up.add(new VsrBlocks.UpBlock(in, prevOut, out, temb, config.layersPerBlock() + 1, groups, eps, attention, i < levels - 1));
            upTemporal.add(config.upTemporalIdx().contains(i) ? new TemporalConvModule(out, temb) : new EmptyTemporalModule());
        }
        downBlocks = child("down_blocks", new ModuleList<>(down));
        upBlocks = child("up_blocks", new ModuleList<>(up));
        downTemporalBlocks = child("down_temporal_blocks", new ModuleList<>(downTemporal));
        upTemporalBlocks = child("up_temporal_blocks", new ModuleList<>(upTemporal));
        temporalRotaryEmb = child("temporal_rotary_emb", rotary);

        int last = channels.get(levels - 1);
        midBlock = child("mid_block", new VsrBlocks.MidBlock(last, temb, groups, eps, config.midBlockScaleFactor(),
                new VsrBlocks.AttentionSpec(config.attentionHeadDim().get(levels - 1), config.crossAttentionDim(), groups, false, rotary)));
        midTemporalBlock = child("mid_temporal_block", config.midTemporal() ? new TemporalConvModule(last, temb) : new EmptyTemporalModule());

        convNormOut = child("conv_norm_out", new GroupNorm(groups, channels.get(0), eps));
        convOut = child("conv_out", new InflatedConv3d(channels.get(0), config.outChannels(), 3, 1, 1));
    }

    public VsrConfig config() { return config; }

    /** The rotary module shared by all temporal attentions ({@code temporal_rotary_emb}). */
    public RotaryEmbedding temporalRotaryEmb() { return temporalRotaryEmb; }

    /**
     * Sets the byte budget of one attention score block in every attention layer (default
     * {@link org.lavie4j.core.Attention#DEFAULT_MAX_SCORE_BYTES}): queries are processed in chunks so that no larger
     * block of scores is ever materialised (at 320×512 latents the cross-only level attends from 160×256 = 40,960 tokens
     * per frame). Changes memory, never results. Returns this.
     */
    // TODO merge with UNet3DConditionModel.maxScoreBytes (the same walk)
    public UNet3DVSRModel maxScoreBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("maxScoreBytes must be positive, got " + bytes);
        setBudget(this, bytes);
        return this;
    }

    /**
     * Runs the resnets, temporal modules, up/down-samplers and the input and output convolutions {@code frames} frames
     * at a time (temporal convolutions: as many rows) when no tape records, so that a level holds its inputs, its
     * output and one slice's temporaries instead of the whole-video intermediates ({@link Slices}; GroupNorm statistics
     * still span all frames). Changes memory, not results beyond float rounding. 0 (the default) turns it off. At
     * 320×512 latents this cuts the working memory of a chunk from ~3.1 GB to ~1.3-1.5 GB per frame and sample (measured:
     * benchmarks/README.md). Returns this.
     */
    public UNet3DVSRModel sliceFrames(int frames) {
        if (frames < 0) throw new IllegalArgumentException("sliceFrames must be >= 0 (0 = off), got " + frames);
        sliceFrames = frames;
        return this;
    }

    /** The frames per slice of {@link #sliceFrames(int)}; 0 when off. */
    public int sliceFrames() { return sliceFrames; }

    /**
     * Sets the byte budget of the feed-forward intermediates of one token chunk in every transformer block (inference;
     * default {@link VsrTransformerBlock#DEFAULT_MAX_FEED_FORWARD_BYTES}). Returns this.
     */
    public UNet3DVSRModel maxFeedForwardBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("maxFeedForwardBytes must be positive, got " + bytes);
        setFeedForwardBudget(this, bytes);
        return this;
    }

    private static void setFeedForwardBudget(Module m, long bytes) {
        if (m instanceof VsrTransformerBlock b) {
            b.maxFeedForwardBytes(bytes);
            return;
        }
        for (Module c : m.children().values()) setFeedForwardBudget(c, bytes);
    }

    private static void setBudget(Module m, long bytes) {
        if (m instanceof CrossAttention a) a.maxScoreBytes(bytes);
        if (m instanceof TemporalAttention a) a.maxScoreBytes(bytes);
        for (Module c : m.children().values()) setBudget(c, bytes);
    }

    /**
     * sample: (B, C_lat, F, H, W) noisy latents; timestep: one value or one per sample (any numeric dtype);
     * lowRes: (B, in_channels − C_lat, F, H, W) the noise-augmented low-resolution frames (same F, H, W);
     * context: text states (B, L, cross_attention_dim); classLabels: the noise level(s), integers, one value or one per
     * sample, each ≤ max_noise_level (null only for a model without class embedding)
     * -> predicted v (B, out_channels, F, H, W).
     */
    public Tensor forward(Tensor sample, Tensor timestep, Tensor lowRes, Tensor context, Tensor classLabels) {
        long[] s = sample.shape(), l = lowRes.shape();
        if (s.length != 5 || l.length != 5 || s[1] + l[1] != config.inChannels() || s[0] != l[0] || s[2] != l[2] || s[3] != l[3] || s[4] != l[4])
            throw new IllegalArgumentException("UNet3DVSRModel: sample (B, C, F, H, W) and low_res (B, C', F, H, W) must have the same B, F, H, W and C + C' = "
                    + config.inChannels() + " channels together, got sample " + Arrays.toString(s) + " and low_res " + Arrays.toString(l));
        if (s[0] < 1 || s[2] < 1) throw new IllegalArgumentException("UNet3DVSRModel: sample " + Arrays.toString(s) + " has no samples or no frames");
        int factor = 1 << (config.levels() - 1);
        if (s[3] % factor != 0 || s[4] % factor != 0)
            throw new IllegalArgumentException("UNet3DVSRModel: latent height and width must be divisible by " + factor + ", got " + s[3] + " × " + s[4]);
        if (lowRes.dtype() != sample.dtype())
            throw new IllegalArgumentException("UNet3DVSRModel: low_res is " + lowRes.dtype() + " but sample is " + sample.dtype());

        Tensor t = timeProj.forward(timesteps(timestep, s[0]));                 // (b, c0), float32
        if (t.dtype() != sample.dtype()) t = Ops.cast(t, sample.dtype());
        Tensor emb = timeEmbedding.forward(t);                                   // (b, 4·c0)
        if (classEmbedding != null) {
            Tensor c = classEmbedding.forward(classLabels(classLabels, s[0]));  // (b|1, 4·c0)
            if (c.dtype() != emb.dtype()) c = Ops.cast(c, emb.dtype());
            Tensor e = Ops.add(emb, c);
            Tensor.release(emb, c);
            emb = e;
        } else if (classLabels != null) {
            throw new IllegalArgumentException("UNet3DVSRModel: class_labels given but the model has no class embedding (num_class_embeds = None)");
        }

        int slice = Grad.isRecording() ? 0 : sliceFrames;                       // slicing is for inference
        Tensor x = Ops.concat(1, sample, lowRes);                               // (b, 7, f, h, w): latents first
        if (config.centerInputSample()) {
            Tensor centred = Ops.addScalar(Ops.scale(x, 2.0), -1.0);
            x.release();
            x = centred;
        }
        Deque<Tensor> skips = new ArrayDeque<>();
        Tensor h = VsrBlocks.perFrame(convIn::forward, x, slice);               // (b, c0, f, h, w)
        x.release();
        skips.push(h);
        boolean onStack = true;                                                  // whether h is one of the skips
        for (int i = 0; i < downBlocks.size(); i++) {
            Tensor next = downBlocks.get(i).forward(h, emb, context, skips, slice);   // its outputs are skips: kept
            if (!onStack) h.release();
            h = next;
            onStack = !(downTemporalBlocks.get(i) instanceof TemporalConvModule);
            h = temporal(downTemporalBlocks.get(i), h, emb, false, slice);      // the skip stays as the block left it
        }
        Tensor m = midBlock.forward(h, emb, context, slice);
        if (!onStack) h.release();
        h = temporal(midTemporalBlock, m, emb, true, slice);
        for (int i = 0; i < upBlocks.size(); i++) {
            h = upBlocks.get(i).forward(h, emb, context, skips, slice);
            h = temporal(upTemporalBlocks.get(i), h, emb, true, slice);
        }

        Tensor out;
        if (slice > 0) {
            out = Slices.normSiluConv(convNormOut, h, slice, convOut::forward);  // statistics over all frames
            h.release();
        } else {
            Tensor n = convNormOut.forward(h);                                   // statistics over all frames
            h.release();
            Tensor a = Ops.silu(n);
            n.release();
            out = convOut.forward(a);                                            // (b, out_channels, f, h, w)
            a.release();
        }
        emb.release();
        return out;
    }

    /** Runs a temporal module (or the identity); releases its input when {@code releaseInput} and a new tensor came out. */
    private static Tensor temporal(Module module, Tensor x, Tensor emb, boolean releaseInput, int slice) {
        if (!(module instanceof TemporalConvModule t)) return x;
        Tensor y = slice > 0 ? t.forwardSliced(x, emb, slice) : t.forward(x, emb);
        if (releaseInput) x.release();
        return y;
    }

    /** The timestep(s) as a 1-D tensor of {@code batch} values (a single value is broadcast, as timesteps.expand). */
    // TODO merge with UNet3DConditionModel.timesteps (a copy)
    private static Tensor timesteps(Tensor timestep, long batch) {
        INDArray t = timestep.data();
        if (t.length() == batch) return Tensor.of(t.reshape(batch));
        if (t.length() == 1) return Tensor.of(t.reshape(1).repeat(0, batch).castTo(t.dataType() == DataType.LONG ? DataType.LONG : t.dataType()));
        throw new IllegalArgumentException("timestep must have one value or one per sample (" + batch + "), got shape " + Arrays.toString(t.shape()));
    }

    /** The noise levels as integer ids, one or one per sample, checked against max_noise_level as the reference does. */
    private INDArray classLabels(Tensor labels, long batch) {
        if (labels == null) throw new IllegalArgumentException("UNet3DVSRModel: class_labels (the noise level) must be provided when num_class_embeds > 0");
        INDArray d = labels.data();
        if (d.length() != batch && d.length() != 1)
            throw new IllegalArgumentException("class_labels must have one value or one per sample (" + batch + "), got shape " + Arrays.toString(d.shape()));
        double[] v = d.castTo(DataType.DOUBLE).reshape(d.length()).toDoubleVector();
        for (double x : v) {
            if (x != Math.rint(x)) throw new IllegalArgumentException("class_labels must be integers (noise levels), got " + Arrays.toString(v));
            if (x > config.maxNoiseLevel())
                throw new IllegalArgumentException("noise_level has to be <= " + config.maxNoiseLevel() + " but is " + Arrays.toString(v));
            if (x < 0 || x >= config.numClassEmbeds())
                throw new IllegalArgumentException("class_labels " + Arrays.toString(v) + " outside the " + config.numClassEmbeds() + " class embeddings");
        }
        return d.reshape(d.length()).castTo(DataType.LONG);
    }
}
