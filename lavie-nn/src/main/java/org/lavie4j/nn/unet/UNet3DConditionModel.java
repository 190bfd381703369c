package org.lavie4j.nn.unet;

import org.lavie4j.core.Module;
import org.lavie4j.core.ModuleList;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.attention.CrossAttention;
import org.lavie4j.nn.attention.FrameLayout;
import org.lavie4j.nn.attention.RotaryEmbedding;
import org.lavie4j.nn.attention.TemporalAttention;
import org.lavie4j.nn.layers.GroupNorm;
import org.lavie4j.nn.layers.InflatedConv3d;
import org.lavie4j.nn.layers.TimestepEmbedding;
import org.lavie4j.nn.layers.Timesteps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/**
 * LaVie's text-to-video UNet ({@code UNet3DConditionModel}, base/models/unet.py): Stable Diffusion 1.4's UNet
 * with convolutions applied per frame and a temporal attention (RoPE + relative position bias) in every transformer
 * block. The interpolation variant ({@link BlockVariant#INTERPOLATION}, interpolation/models/unet.py) has the same
 * topology with 8 input channels ([noisy latents ‖ conditioning latents], concatenated by the caller), sparse-causal
 * {@code attn1}, the feed-forward before a temporal attention without positional information, and no RoPE module
 * (interpolation-unet.md §1). Forward (base-unet.md §10):
 * <pre>
 * emb = time_embedding(time_proj(t)); x = conv_in(x); skips = [x]
 * down blocks (pushing skips) -> mid block -> up blocks (popping skips, current features first)
 * out = conv_out(silu(conv_norm_out(x)))           predicted noise (B, out_channels, F, H, W)
 * </pre>
 * In the base variant one {@link RotaryEmbedding}(32) is shared by every temporal attention (its {@code freqs} buffer
 * appears under each).
 * Deviations: joint image-video layout is an explicit {@link FrameLayout} (the reference's training-mode
 * {@code use_image_num} path cannot run); H and W must be divisible by 2^(levels − 1) (the reference's
 * odd-size upsample path is not supported).
 */
public final class UNet3DConditionModel extends Module {
    private final InflatedConv3d convIn;
    private final Timesteps timeProj;
    private final TimestepEmbedding timeEmbedding;
    private final ModuleList<UNetBlocks.DownBlock> downBlocks;
    private final ModuleList<UNetBlocks.UpBlock> upBlocks;
    private final UNetBlocks.MidBlock midBlock;
    private final GroupNorm convNormOut;
    private final InflatedConv3d convOut;
    private final RotaryEmbedding rotary;
    private final UNetConfig config;
    private boolean gradientCheckpointing;

    public UNet3DConditionModel(UNetConfig config) {
        this.config = config;
        List<Integer> channels = config.blockOutChannels();
        int levels = channels.size(), temb = config.timeEmbedDim(), groups = config.normNumGroups();
        double eps = config.normEps();
        BlockVariant variant = config.variant();
        rotary = variant == BlockVariant.BASE ? new RotaryEmbedding(32) : null;
        boolean sparse = config.useFirstFrame();
        int positions = config.framePositionEmbeddings();          // 0 = LaVie (no absolute frame positions)

        convIn = child("conv_in", new InflatedConv3d(config.inChannels(), channels.get(0), 3, 1, 1));
        timeProj = new Timesteps(channels.get(0), config.flipSinToCos(), config.freqShift());   // no weights
        timeEmbedding = child("time_embedding", new TimestepEmbedding(channels.get(0), temb));

        List<UNetBlocks.DownBlock> down = new ArrayList<>();
        int out = channels.get(0);
        for (int i = 0; i < levels; i++) {
            int in = out;
            out = channels.get(i);
            UNetBlocks.AttentionSpec attention = config.downBlockTypes().get(i).hasAttention()
                    ? new UNetBlocks.AttentionSpec(config.attentionHeadDim().get(i), config.crossAttentionDim(), groups, variant, rotary, sparse, positions) : null;
            down.add(new UNetBlocks.DownBlock(in, out, temb, config.layersPerBlock(), groups, eps, attention, i < levels - 1, config.downsamplePadding()));
        }
        downBlocks = child("down_blocks", new ModuleList<>(down));

        int last = channels.get(levels - 1);
        midBlock = child("mid_block", new UNetBlocks.MidBlock(last, temb, groups, eps, config.midBlockScaleFactor(),
                new UNetBlocks.AttentionSpec(config.attentionHeadDim().get(levels - 1), config.crossAttentionDim(), groups, variant, rotary, sparse, positions)));

        List<UNetBlocks.UpBlock> up = new ArrayList<>();
        out = channels.get(levels - 1);
        for (int i = 0; i < levels; i++) {
            int prevOut = out;
            out = channels.get(levels - 1 - i);
            int in = channels.get(Math.max(levels - 2 - i, 0));
            UNetBlocks.AttentionSpec attention = config.upBlockTypes().get(i).hasAttention()
                    ? new UNetBlocks.AttentionSpec(config.attentionHeadDim().get(levels - 1 - i), config.crossAttentionDim(), groups, variant, rotary, sparse, positions) : null;
            up.add(new UNetBlocks.UpBlock(in, prevOut, out, temb, config.layersPerBlock() + 1, groups, eps, attention, i < levels - 1));
        }
        upBlocks = child("up_blocks", new ModuleList<>(up));

        convNormOut = child("conv_norm_out", new GroupNorm(groups, channels.get(0), eps));
        convOut = child("conv_out", new InflatedConv3d(channels.get(0), config.outChannels(), 3, 1, 1));
    }

    public UNetConfig config() { return config; }

    /** The rotary module shared by all temporal attentions (base variant); null in the interpolation variant. */
    public RotaryEmbedding rotary() { return rotary; }

    /**
     * Sets the byte budget of one attention score block in every attention layer (default
     * {@link org.lavie4j.core.Attention#DEFAULT_MAX_SCORE_BYTES}): queries are processed in chunks so that no larger
     * block of scores is ever materialised. Returns this.
     */
    public UNet3DConditionModel maxScoreBytes(long bytes) {
        setBudget(this, bytes);
        return this;
    }

    private static void setBudget(Module m, long bytes) {
        if (m instanceof CrossAttention a) a.maxScoreBytes(bytes);
        if (m instanceof TemporalAttention a) a.maxScoreBytes(bytes);
        for (Module c : m.children().values()) setBudget(c, bytes);
    }

    /**
     * Gradient checkpointing per block (diffusers' {@code enable_gradient_checkpointing}): while gradients are recorded,
     * every resnet and every transformer of every level runs under {@link org.lavie4j.core.Checkpoint}, so the tape keeps
     * only the blocks' inputs and outputs and backward re-runs one block at a time. The same loss and gradients (to float
     * rounding in the order input gradients are summed) for one extra forward per step. No effect without a tape.
     * Returns this.
     */
    public UNet3DConditionModel gradientCheckpointing(boolean on) {
        this.gradientCheckpointing = on;
        return this;
    }

    /** True when {@link #gradientCheckpointing(boolean)} is on. */
    public boolean isGradientCheckpointing() { return gradientCheckpointing; }

    /** Inference on a plain video: {@code layout = FrameLayout.video(F)}. */
    public Tensor forward(Tensor sample, Tensor timestep, Tensor context) {
        return forward(sample, timestep, context, FrameLayout.video(Math.toIntExact(sample.size(2))));
    }

    /**
     * sample: (B, in_channels, F, H, W) noisy latents (interpolation: noisy latents then conditioning latents on
     * channels); timestep: one value or one per sample (any numeric dtype);
     * context: text states (B, L, cross_attention_dim), or (B, 1 + imageCount, L, D) in joint layout
     * -> predicted noise (B, out_channels, F, H, W).
     */
    public Tensor forward(Tensor sample, Tensor timestep, Tensor context, FrameLayout layout) {
        long[] s = sample.shape();
        if (s.length != 5 || s[1] != config.inChannels())
            throw new IllegalArgumentException("UNet3DConditionModel: sample must be (B, " + config.inChannels() + ", F, H, W), got " + Arrays.toString(s));
        if (s[0] < 1 || s[2] < 1) throw new IllegalArgumentException("UNet3DConditionModel: sample " + Arrays.toString(s) + " has no samples or no frames");
        layout.check(s[2], "sample " + Arrays.toString(s));
        if (layout.imageCount() > 0 && config.variant() != BlockVariant.BASE)
            throw new IllegalArgumentException("UNet3DConditionModel (" + config.variant() + "): joint image-video layout " + layout + " exists only in the base variant");
        int factor = 1 << (config.blockOutChannels().size() - 1);
        if (s[3] % factor != 0 || s[4] % factor != 0)
            throw new IllegalArgumentException("UNet3DConditionModel: latent height and width must be divisible by " + factor + " (" + factor
                    + " × 8 pixels), got " + s[3] + " × " + s[4]);
        Tensor x = sample;
        if (config.centerInputSample()) x = Ops.addScalar(Ops.scale(x, 2.0), -1.0);

        Tensor t = timeProj.forward(timesteps(timestep, s[0]));                 // (b, c0), float32
        if (t.dtype() != sample.dtype()) t = Ops.cast(t, sample.dtype());
        Tensor emb = timeEmbedding.forward(t);                                   // (b, 4·c0)

        Deque<Tensor> skips = UNetBlocks.stack();
        Tensor h = convIn.forward(x);                                            // (b, c0, f, h, w)
        skips.push(h);
        boolean checkpoint = gradientCheckpointing;
        for (UNetBlocks.DownBlock block : downBlocks) h = block.forward(h, emb, context, layout, skips, checkpoint);
        h = midBlock.forward(h, emb, context, layout, checkpoint);
        for (UNetBlocks.UpBlock block : upBlocks) h = block.forward(h, emb, context, layout, skips, checkpoint);

        Tensor n = convNormOut.forward(h);                                       // statistics over all frames
        h.release();
        Tensor a = Ops.silu(n);
        n.release();
        Tensor out = convOut.forward(a);                                         // (b, out_channels, f, h, w)
        a.release();
        return out;
    }

    /** The timestep(s) as a 1-D tensor of {@code batch} values (a single value is broadcast, as timesteps.expand). */
    private static Tensor timesteps(Tensor timestep, long batch) {
        INDArray t = timestep.data();
        if (t.length() == batch) return Tensor.of(t.reshape(batch));
        if (t.length() == 1) return Tensor.of(t.reshape(1).repeat(0, batch).castTo(t.dataType() == DataType.LONG ? DataType.LONG : t.dataType()));
        throw new IllegalArgumentException("timestep must have one value or one per sample (" + batch + "), got shape " + Arrays.toString(t.shape()));
    }
}
