package org.lavie4j.nn.vae;

import org.lavie4j.core.Attention;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Rearrange;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.GroupNorm;
import org.lavie4j.nn.layers.Linear;

import java.util.Arrays;

/**
 * diffusers 0.16 {@code AttentionBlock} (models/attention.py) as the VAE mid block builds it: one head over all C
 * channels, scale {@code 1/√C}, rescale factor 1:
 * <pre>
 * T   = GN(x) as tokens (B, H·W, C)
 * O   = softmax(q·kᵀ/√C)·v            q, k, v = query(T), key(T), value(T)
 * out = proj_attn(O) as (B, C, H, W) + x
 * </pre>
 * Keys {@code group_norm, query, key, value, proj_attn} (the names of files written by diffusers ≤ 0.17). The
 * attention runs through {@link Attention#scaledDotProduct} with a byte budget per score block, so that the x4 VAE's
 * 163,840 tokens at 1280x2048 never materialise a full (L, L) matrix.
 */
public final class AttentionBlock extends Module {
    private final GroupNorm groupNorm;
    private final Linear query, key, value, projAttn;
    private final int channels;
    private final long maxScoreBytes;

    public AttentionBlock(int channels, int groups, double eps, long maxScoreBytes) {
        if (maxScoreBytes <= 0) throw new IllegalArgumentException("AttentionBlock: maxScoreBytes must be positive, got " + maxScoreBytes);
        this.channels = channels;
        this.maxScoreBytes = maxScoreBytes;
        groupNorm = child("group_norm", new GroupNorm(groups, channels, eps));
        query = child("query", new Linear(channels, channels));
        key = child("key", new Linear(channels, channels));
        value = child("value", new Linear(channels, channels));
        projAttn = child("proj_attn", new Linear(channels, channels));
    }

    /** x: (B, C, H, W) -> (B, C, H, W). */
    public Tensor forward(Tensor x) {
        if (x.rank() != 4 || x.size(1) != channels)
            throw new IllegalArgumentException("AttentionBlock(channels=" + channels + "): input must be (B, " + channels + ", H, W), got "
                    + Arrays.toString(x.shape()));
        long b = x.size(0), h = x.size(2), w = x.size(3);
        Tensor normed = groupNorm.forward(x);                           // (b, c, h, w)
        Tensor tokens = Ops.contiguous(Rearrange.toSpatialTokens(normed)); // (b, h*w, c): one copy shared by q, k, v
        normed.release();
        Tensor q = query.forward(tokens), k = key.forward(tokens), v = value.forward(tokens); // (b, h*w, c) each
        tokens.release();
        Tensor q4 = Ops.reshape(q, b, 1, h * w, channels);             // (b, 1, h*w, c): one head, a view
        Tensor k4 = Ops.reshape(k, b, 1, h * w, channels);
        Tensor v4 = Ops.reshape(v, b, 1, h * w, channels);
        Tensor o = Attention.scaledDotProduct(q4, k4, v4, null, 1.0 / Math.sqrt(channels), maxScoreBytes); // (b, 1, h*w, c)
        Tensor.release(q, k, v);
        Tensor o3 = Ops.reshape(o, b, h * w, channels);                 // (b, h*w, c)
        Tensor proj = projAttn.forward(o3);
        o.release();
        Tensor spatial = Rearrange.fromSpatialTokens(proj, h, w);      // (b, c, h, w), a copy unless h*w == 1
        if (!spatial.sharesMemoryWith(proj)) proj.release();
        Tensor out = Ops.add(spatial, x);
        spatial.release();                                              // frees proj too when spatial is its view
        return out;
    }

    public int channels() { return channels; }
}
