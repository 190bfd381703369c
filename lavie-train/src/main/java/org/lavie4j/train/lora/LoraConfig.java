package org.lavie4j.train.lora;

import java.util.List;

/**
 * What a LoRA adapter set is (peft {@code LoraConfig}): the rank r of each update, its {@code alpha} (the update is
 * scaled by alpha / r), and the Linear modules it adapts. A target is a module path or a dotted suffix of one, matched
 * at a dot boundary ({@code "attn1.to_q"} matches {@code down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q}),
 * as peft's {@code target_modules}. No LoRA dropout (peft's default 0).
 */
public record LoraConfig(int rank, double alpha, List<String> targets) {
    /** The attention projections of LaVie's transformer blocks: spatial, cross and temporal attention. */
    public static final List<String> ATTENTION_PROJECTIONS = List.of(
            "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
            "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
            "attn_temp.to_q", "attn_temp.to_k", "attn_temp.to_v", "attn_temp.to_out.0");

    public LoraConfig {
        if (rank <= 0) throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        if (!(alpha > 0) || Double.isInfinite(alpha)) throw new IllegalArgumentException("LoRA alpha must be finite and positive, got " + alpha);
        if (targets == null || targets.isEmpty()) throw new IllegalArgumentException("LoRA needs at least one target module pattern");
        for (String t : targets)
            if (t == null || t.isBlank() || t.startsWith(".") || t.endsWith("."))
                throw new IllegalArgumentException("invalid LoRA target module pattern '" + t + "' in " + targets);
        targets = List.copyOf(targets);
    }

    /** Rank r, alpha, on the attention projections ({@link #ATTENTION_PROJECTIONS}). */
    public static LoraConfig attention(int rank, double alpha) { return new LoraConfig(rank, alpha, ATTENTION_PROJECTIONS); }

    /** The factor alpha / r of the low-rank update. */
    public double scale() { return alpha / rank; }

    /** True when the module at {@code path} is a target. */
    public boolean matches(String path) {
        for (String t : targets) if (path.equals(t) || path.endsWith("." + t)) return true;
        return false;
    }
}
