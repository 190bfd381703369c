package org.lavie4j.nn.attention;

/**
 * Which LaVie stage's {@link BasicTransformerBlock} a model is built from. The two differ in the temporal attention
 * and in the order of the sub-layers (reference README behaviours 9 and 10):
 * <pre>
 * BASE           x += attn1(norm1 x); x += attn2(norm2 x, text); x += attn_temp(norm_temp x); x += ff(norm3 x)
 *                attn_temp = TemporalAttention (RoPE + relative position bias)        base/models/attention.py
 * INTERPOLATION  x += attn1(norm1 x); x += attn2(norm2 x, text); x += ff(norm3 x); x += attn_temp(norm_temp x)
 *                attn_temp = plain multi-head self-attention over frames (no positions) interpolation/models/attention.py
 *                attn1 is sparse-causal (keys of frame 0 and frame f−1) when use_first_frame is set
 * </pre>
 */
public enum BlockVariant {
    /** The base text-to-video stage (and the default). */
    BASE,
    /** The 16 → 61 frame interpolation stage. */
    INTERPOLATION
}
