package org.lavie4j.benchmarks;

import org.lavie4j.core.Module;
import org.lavie4j.nn.attention.BasicTransformerBlock;
import org.lavie4j.nn.attention.CrossAttention;
import org.lavie4j.nn.attention.TemporalAttention;
import org.lavie4j.nn.layers.Conv2d;
import org.lavie4j.nn.layers.Linear;
import org.lavie4j.nn.layers.TemporalConv;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Multiply-adds of one UNet forward ({@code UNet3DConditionModel} base/interpolation or {@code UNet3DVSRModel}), counted
 * from the module tree: every convolution ({@code outC·inC·k² per output position}, temporal convolutions
 * {@code outC·inC·k}), every linear layer ({@code in·out per row}), and the two products of every attention
 * ({@code QKᵀ} and {@code AV}: {@code 2·queries·keys·inner}). Norms, activations, residual adds, copies and the
 * softmax are not multiply-adds and are not counted. Each module's resolution follows from where it sits: level i of
 * the down/up path has {@code (h >> i) × (w >> i)} positions per frame; a down-sampler's conv outputs level i + 1, an
 * up-sampler's level L − 2 − i; the VSR temporal module after down block i works at the block's output level. Rows of
 * {@code time_emb_proj} and the time/class embeddings are the batch, not the positions.
 *
 * <p>Used to extrapolate a timing measured at a reduced size to the real one: {@code t_real ≈ t_measured ·
 * MAC(real) / MAC(measured)}. {@link #uncountedParameters} names any parameterised leaf this count does not understand
 * (expected: none beyond norms and embeddings).
 */
final class MacCount {
    private final long batch, frames, h, w, contextTokens;
    private final int levels;
    private final Set<Module> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    private double convs, linears, attention;
    private long uncounted;

    /** An empty count for modules added one by one ({@link #add}); see {@link #of} for the parameters. */
    MacCount(long batch, long frames, long h, long w, int levels, long contextTokens) {
        this.batch = batch;
        this.frames = frames;
        this.h = h;
        this.w = w;
        this.levels = levels;
        this.contextTokens = contextTokens;
    }

    /**
     * @param unet          the UNet (its module tree)
     * @param levels        its number of resolution levels (block_out_channels.size())
     * @param batch         UNet batch (2 with classifier-free guidance)
     * @param frames        frames per sample
     * @param h             latent height at level 0
     * @param w             latent width at level 0
     * @param contextTokens text tokens (77)
     */
    static MacCount of(Module unet, int levels, long batch, long frames, long h, long w, long contextTokens) {
        MacCount c = new MacCount(batch, frames, h, w, levels, contextTokens);
        for (Map.Entry<String, Module> e : unet.children().entrySet()) c.top(e.getKey(), e.getValue());
        return c;
    }

    /** Adds the multiply-adds of {@code m} run at resolution {@code level} (its children as {@link #of} places them). */
    MacCount add(Module m, int level) {
        walk(m, level, false);
        return this;
    }

    double total() { return convs + linears + attention; }
    double convs() { return convs; }
    double linears() { return linears; }
    double attention() { return attention; }
    /** Parameters of leaves that are neither conv, linear, norm nor embedding (should be 0). */
    long uncountedParameters() { return uncounted; }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%.3f TMAC (convolutions %.3f, linear %.3f, attention products %.3f)",
                total() / 1e12, convs / 1e12, linears / 1e12, attention / 1e12);
    }

    private void top(String name, Module m) {
        switch (name) {
            case "down_blocks", "up_blocks", "down_temporal_blocks", "up_temporal_blocks" -> {
                for (Map.Entry<String, Module> e : m.children().entrySet()) {
                    int i = Integer.parseInt(e.getKey());
                    block(name, i, e.getValue());
                }
            }
            case "mid_block", "mid_temporal_block" -> walk(m, levels - 1, false);
            case "time_embedding", "class_embedding" -> walk(m, -1, false);
            default -> walk(m, 0, false);                          // conv_in, conv_out, conv_norm_out, rotary
        }
    }

    private void block(String list, int i, Module block) {
        switch (list) {
            case "down_blocks" -> {
                for (Map.Entry<String, Module> c : block.children().entrySet())
                    walk(c.getValue(), c.getKey().equals("downsamplers") ? i + 1 : i, false);
            }
            case "up_blocks" -> {
                int level = levels - 1 - i;
                for (Map.Entry<String, Module> c : block.children().entrySet())
                    walk(c.getValue(), c.getKey().equals("upsamplers") ? level - 1 : level, false);
            }
            case "down_temporal_blocks" -> walk(block, Math.min(i + 1, levels - 1), false);   // after block i (down-sampled)
            default -> walk(block, Math.max(levels - 2 - i, 0), false);                       // up_temporal_blocks: after the up-sampler
        }
    }

    /** Positions per frame at a level. */
    private long hw(int level) { return (h >> level) * (w >> level); }

    /** Rows of a per-position layer at a level: batch · frames · positions. */
    private long rows(int level) { return batch * frames * hw(level); }

    /**
     * @param level  resolution level, or -1 for layers on the time embedding (batch rows)
     * @param sparse the parent is a sparse-causal interpolation block (its attn1)
     */
    private void walk(Module m, int level, boolean sparse) {
        if (!seen.add(m)) return;                                   // shared modules (aliases) count once
        if (m instanceof Conv2d c) {
            convs += (double) c.outChannels() * c.inChannels() * c.kernel() * c.kernel() * rows(level);
            return;
        }
        if (m instanceof TemporalConv c) {
            convs += (double) c.outChannels() * c.inChannels() * c.kernel() * rows(level);
            return;
        }
        if (m instanceof Linear l) {
            linears += (double) l.inFeatures() * l.outFeatures() * (level < 0 ? batch : rows(level));
            return;
        }
        if (m instanceof CrossAttention a) {
            attention(a, level, sparse);
            return;
        }
        if (m instanceof TemporalAttention a) {
            long inner = (long) a.heads() * a.dimHead();
            attention += 2.0 * batch * hw(level) * frames * frames * inner;
            for (Module c : a.children().values()) walk(c, level, false);
            return;
        }
        boolean sparseChild = m instanceof BasicTransformerBlock b && b.sparseCausal();
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            boolean isAttn1 = sparseChild && e.getKey().equals("attn1");
            boolean isTemp = m instanceof BasicTransformerBlock && e.getKey().equals("attn_temp");
            if (isTemp && e.getValue() instanceof CrossAttention a) {
                temporalPlain(a, level);                                // interpolation: plain self-attention over frames
                continue;
            }
            String name = e.getKey();
            walk(e.getValue(), name.equals("time_emb_proj") ? -1 : level, isAttn1);
        }
        if (m.children().isEmpty() && !m.localParameters().isEmpty()) {
            String type = m.getClass().getSimpleName();
            if (!type.contains("Norm") && !type.equals("Embedding") && !type.contains("Rotary") && !type.contains("RelativePosition"))
                uncounted += m.parameterCount();
        }
    }

    /** A CrossAttention within frames: self (keys = the frame's tokens, or frame 0 + the previous frame when sparse) or cross (text). */
    private void attention(CrossAttention a, int level, boolean sparse) {
        long inner = (long) a.heads() * a.dimHead();
        boolean cross = a.contextDim() != a.queryDim();
        long q = hw(level), keys = cross ? contextTokens : sparse ? 2 * hw(level) : hw(level);
        attention += 2.0 * batch * frames * q * keys * inner;
        long qRows = rows(level), kvRows = cross ? batch * frames * contextTokens : rows(level);
        for (Map.Entry<String, Module> e : a.children().entrySet()) {
            String n = e.getKey();
            if (n.equals("to_k") || n.equals("to_v")) linearRows(e.getValue(), kvRows);
            else linearRows(e.getValue(), qRows);
        }
    }

    /** The interpolation block's attn_temp: a CrossAttention over the frames of each position. */
    private void temporalPlain(CrossAttention a, int level) {
        if (!seen.add(a)) return;
        long inner = (long) a.heads() * a.dimHead();
        attention += 2.0 * batch * hw(level) * frames * frames * inner;
        for (Module c : a.children().values()) linearRows(c, rows(level));
    }

    private void linearRows(Module m, long rows) {
        if (!seen.add(m)) return;
        if (m instanceof Linear l) {
            linears += (double) l.inFeatures() * l.outFeatures() * rows;
            return;
        }
        for (Module c : m.children().values()) linearRows(c, rows);   // to_out = [Linear, Dropout]
    }
}
