package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one foreign layout of {@code AutoencoderKL} files: newer diffusers (≥ 0.18) name the mid-block attention
 * {@code mid_block.attentions.N.{to_q, to_k, to_v, to_out.0}}, where diffusers 0.16 (the key names of
 * {@link org.lavie4j.nn.vae.AttentionBlock}, and of the 2022 SD v1.4 files) has {@code {query, key, value, proj_attn}};
 * {@code group_norm} is the same in both. Some converted files store those four projection weights as 1x1-conv
 * kernels {@code [C, C, 1, 1]}; they are squeezed to the {@code [C, C]} of a Linear (sd-components.md §1.4).
 * Every other key passes through unchanged, so a 0.16-style state dict maps to itself.
 */
public final class VaeKeyMapping {
    private VaeKeyMapping() {}

    /** {@code <prefix>mid_block.attentions.<n>.<name>.<weight|bias>}, for the names of either layout. */
    private static final Pattern ATTENTION = Pattern.compile(
            "^(.*mid_block\\.attentions\\.\\d+\\.)(to_q|to_k|to_v|to_out\\.0|query|key|value|proj_attn)\\.(weight|bias)$");

    private static final Map<String, String> NEW_TO_OLD = Map.of(
            "to_q", "query", "to_k", "key", "to_v", "value", "to_out.0", "proj_attn");

    /**
     * {@code state} with new-style attention keys renamed to diffusers 0.16's and 1x1-conv projection weights
     * squeezed to 2-D (lazily: nothing is read until a tensor is loaded). The order of the keys is kept.
     *
     * @throws IllegalArgumentException when one 0.16 key would be given twice (a file holding both
     *                                  {@code ...query.weight} and {@code ...to_q.weight}), naming both keys
     */
    public static StateDict toDiffusers016(StateDict state) {
        StateDict out = new StateDict(state.origin());
        Map<String, String> sourceOf = new LinkedHashMap<>();
        for (Map.Entry<String, TensorSource> e : state.asMap().entrySet()) {
            String key = e.getKey();
            TensorSource src = e.getValue();
            Matcher m = ATTENTION.matcher(key);
            if (m.matches()) {
                String name = NEW_TO_OLD.getOrDefault(m.group(2), m.group(2));
                String mapped = m.group(1) + name + "." + m.group(3);
                if (m.group(3).equals("weight")) src = squeezed1x1(mapped, src);
                else if (!mapped.equals(key)) src = renamed(mapped, src);
                key = mapped;
            }
            String earlier = sourceOf.putIfAbsent(key, e.getKey());
            if (earlier != null) {
                throw new IllegalArgumentException(state.origin() + ": '" + earlier + "' and '" + e.getKey()
                        + "' both give the VAE key '" + key + "' (a file must use one attention naming)");
            }
            out.put(key, src);
        }
        return out;
    }

    /** A source of shape {@code [a, b]} over a {@code [a, b, 1, 1]} one; other shapes only get the new key. */
    private static TensorSource squeezed1x1(String key, TensorSource src) {
        long[] s = src.shape();
        if (s.length != 4 || s[2] != 1 || s[3] != 1) return key.equals(src.key()) ? src : renamed(key, src);
        long[] shape = {s[0], s[1]};
        return new TensorSource() {
            @Override public String key() { return key; }
            @Override public DType dtype() { return src.dtype(); }
            @Override public long[] shape() { return shape.clone(); }
            @Override public INDArray load() { return src.load().reshape('c', shape); }
            @Override public String toString() { return key + " " + src.dtype() + Arrays.toString(shape) + " (squeezed from " + src + ")"; }
        };
    }

    private static TensorSource renamed(String key, TensorSource src) {
        return new TensorSource() {
            @Override public String key() { return key; }
            @Override public DType dtype() { return src.dtype(); }
            @Override public long[] shape() { return src.shape(); }
            @Override public INDArray load() { return src.load(); }
            @Override public String toString() { return key + " " + src.dtype() + Arrays.toString(src.shape()) + " (stored as " + src.key() + ")"; }
        };
    }
}
