package org.lavie4j.nn.unet;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.nn.attention.BlockVariant;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Configuration of LaVie's {@code UNet3DConditionModel} (base and interpolation variants), the fields of a diffusers
 * {@code unet/config.json} that change the computation. {@code attentionHeadDim} is, as in Stable Diffusion, a head
 * <em>count</em> per resolution level (SD's {@code attention_head_dim: 8} means 8 heads).
 *
 * <p>{@code variant} says which stage's code the model follows (base/ or interpolation/models); the diffusers JSON
 * does not say it (both are {@code UNet3DConditionModel}), so {@link #fromJson(JsonNode, BlockVariant)} takes it.
 * {@code useFirstFrame} (sparse-causal {@code attn1}) exists only in the interpolation variant.
 *
 * <p>{@code framePositionEmbeddings} (JSON {@code frame_position_embeddings}) is this port's extension, absent from
 * LaVie's configs and 0 there: when positive, every base temporal attention gets a learned absolute frame position table
 * of that many frames ({@code attn_temp.frame_position_embedding}, zero-initialised; see
 * {@link org.lavie4j.nn.attention.TemporalAttention}). Base variant only.
 */
public record UNetConfig(
        int inChannels,
        int outChannels,
        List<Integer> blockOutChannels,
        List<DownBlockType> downBlockTypes,
        List<UpBlockType> upBlockTypes,
        int layersPerBlock,
        int crossAttentionDim,
        List<Integer> attentionHeadDim,
        int normNumGroups,
        double normEps,
        boolean flipSinToCos,
        int freqShift,
        int downsamplePadding,
        double midBlockScaleFactor,
        boolean centerInputSample,
        boolean useFirstFrame,
        BlockVariant variant,
        int framePositionEmbeddings) {

    private static final Logger LOG = LoggerFactory.getLogger(UNetConfig.class);

    /** Down block kinds, with their diffusers names. */
    public enum DownBlockType {
        CROSS_ATTN_DOWN_BLOCK_3D("CrossAttnDownBlock3D"), DOWN_BLOCK_3D("DownBlock3D");
        final String json;

        DownBlockType(String json) { this.json = json; }

        public boolean hasAttention() { return this == CROSS_ATTN_DOWN_BLOCK_3D; }

        static DownBlockType parse(String s) {
            for (DownBlockType t : values()) if (t.json.equals(s)) return t;
            throw new IllegalArgumentException("unsupported down block type '" + s + "' (supported: CrossAttnDownBlock3D, DownBlock3D)");
        }
    }

    /** Up block kinds, with their diffusers names. */
    public enum UpBlockType {
        CROSS_ATTN_UP_BLOCK_3D("CrossAttnUpBlock3D"), UP_BLOCK_3D("UpBlock3D");
        final String json;

        UpBlockType(String json) { this.json = json; }

        public boolean hasAttention() { return this == CROSS_ATTN_UP_BLOCK_3D; }

        static UpBlockType parse(String s) {
            for (UpBlockType t : values()) if (t.json.equals(s)) return t;
            throw new IllegalArgumentException("unsupported up block type '" + s + "' (supported: CrossAttnUpBlock3D, UpBlock3D)");
        }
    }

    public UNetConfig {
        if (variant == null) throw new IllegalArgumentException("variant is null");
        if (framePositionEmbeddings < 0)
            throw new IllegalArgumentException("frame_position_embeddings must be 0 (none) or a positive frame count, got " + framePositionEmbeddings);
        if (framePositionEmbeddings > 0 && variant != BlockVariant.BASE)
            throw new IllegalArgumentException("frame_position_embeddings exists only in the base variant, not in " + variant);
        if (useFirstFrame && variant != BlockVariant.INTERPOLATION)
            throw new IllegalArgumentException("use_first_frame=true (sparse-causal attn1) exists only in the interpolation variant, not in " + variant);
        blockOutChannels = List.copyOf(blockOutChannels);
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        attentionHeadDim = List.copyOf(attentionHeadDim);
        int levels = blockOutChannels.size();
        if (levels == 0) throw new IllegalArgumentException("block_out_channels is empty");
        if (downBlockTypes.size() != levels || upBlockTypes.size() != levels)
            throw new IllegalArgumentException("down_block_types (" + downBlockTypes.size() + ") and up_block_types (" + upBlockTypes.size()
                    + ") must both have one entry per block_out_channels entry (" + levels + ")");
        if (attentionHeadDim.size() != levels)
            throw new IllegalArgumentException("attention_head_dim has " + attentionHeadDim.size() + " entries for " + levels + " levels");
        if (inChannels <= 0 || outChannels <= 0 || layersPerBlock <= 0 || crossAttentionDim <= 0 || normNumGroups <= 0)
            throw new IllegalArgumentException("in_channels, out_channels, layers_per_block, cross_attention_dim and norm_num_groups must be positive");
        for (int i = 0; i < levels; i++) {
            int c = blockOutChannels.get(i), heads = attentionHeadDim.get(i);
            if (c % normNumGroups != 0)
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + c + " not divisible by norm_num_groups " + normNumGroups);
            if (heads <= 0 || c % heads != 0)
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + c + " not divisible into " + heads + " heads");
        }
        if (!(normEps > 0)) throw new IllegalArgumentException("norm_eps must be positive, got " + normEps);
    }

    /** A base-variant config (the record's former canonical constructor). */
    public UNetConfig(int inChannels, int outChannels, List<Integer> blockOutChannels, List<DownBlockType> downBlockTypes,
                      List<UpBlockType> upBlockTypes, int layersPerBlock, int crossAttentionDim, List<Integer> attentionHeadDim,
                      int normNumGroups, double normEps, boolean flipSinToCos, int freqShift, int downsamplePadding,
                      double midBlockScaleFactor, boolean centerInputSample, boolean useFirstFrame) {
        this(inChannels, outChannels, blockOutChannels, downBlockTypes, upBlockTypes, layersPerBlock, crossAttentionDim, attentionHeadDim,
                normNumGroups, normEps, flipSinToCos, freqShift, downsamplePadding, midBlockScaleFactor, centerInputSample, useFirstFrame,
                BlockVariant.BASE, 0);
    }

    /** The real LaVie base model (Stable Diffusion 1.4's UNet with 3-D blocks). */
    public static UNetConfig lavieBase() {
        return new UNetConfig(4, 4, List.of(320, 640, 1280, 1280),
                List.of(DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.DOWN_BLOCK_3D),
                List.of(UpBlockType.UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D),
                2, 768, List.of(8, 8, 8, 8), 32, 1e-5, true, 0, 1, 1.0, false, false, BlockVariant.BASE, 0);
    }

    /**
     * The real LaVie interpolation model ({@code lavie_interpolation.pt}): the base topology with 8 input channels
     * ([noisy latents ‖ conditioning latents]) and interpolation blocks with sparse-causal {@code attn1}
     * ({@code from_pretrained_2d} forces {@code use_first_frame = True}; interpolation-unet.md §1).
     */
    public static UNetConfig lavieInterpolation() {
        UNetConfig b = lavieBase();
        return new UNetConfig(8, 4, b.blockOutChannels(), b.downBlockTypes(), b.upBlockTypes(), 2, 768, b.attentionHeadDim(),
                32, 1e-5, true, 0, 1, 1.0, false, true, BlockVariant.INTERPOLATION, 0);
    }

    /** A tiny model for tests (the shape of the {@code unet_base} golden case). */
    public static UNetConfig tiny() {
        return new UNetConfig(4, 4, List.of(32, 64),
                List.of(DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.DOWN_BLOCK_3D),
                List.of(UpBlockType.UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D),
                1, 32, List.of(1, 2), 8, 1e-5, true, 0, 1, 1.0, false, false, BlockVariant.BASE, 0);
    }

    /** A tiny interpolation model for tests (the shape of the {@code unet_interp} golden case). */
    public static UNetConfig tinyInterpolation() {
        UNetConfig t = tiny();
        return new UNetConfig(8, 4, t.blockOutChannels(), t.downBlockTypes(), t.upBlockTypes(), 1, 32, t.attentionHeadDim(),
                8, 1e-5, true, 0, 1, 1.0, false, true, BlockVariant.INTERPOLATION, 0);
    }

    /** This config with a learned absolute frame position table of {@code frames} frames per temporal attention (0 = none, LaVie). */
    public UNetConfig withFramePositionEmbeddings(int frames) {
        return new UNetConfig(inChannels, outChannels, blockOutChannels, downBlockTypes, upBlockTypes, layersPerBlock, crossAttentionDim,
                attentionHeadDim, normNumGroups, normEps, flipSinToCos, freqShift, downsamplePadding, midBlockScaleFactor,
                centerInputSample, useFirstFrame, variant, frames);
    }

    /** Width of the time embedding: 4 × the first block's channels (1280 for LaVie). */
    public int timeEmbedDim() { return 4 * blockOutChannels.get(0); }

    /** A parsed config and the keys of the JSON that do not change the computation (listed, never silently dropped). */
    public record Parsed(UNetConfig config, List<String> ignoredKeys) {}

    /** Keys read by {@link #fromJson}. */
    private static final Set<String> USED = Set.of("in_channels", "out_channels", "block_out_channels", "down_block_types",
            "up_block_types", "layers_per_block", "cross_attention_dim", "attention_head_dim", "norm_num_groups", "norm_eps",
            "flip_sin_to_cos", "freq_shift", "downsample_padding", "mid_block_scale_factor", "center_input_sample",
            "use_first_frame", "act_fn", "frame_position_embeddings");

    /** Options the port cannot honour, with the only value it accepts (absent or null is always accepted). */
    private static final Map<String, Object> REQUIRED = Map.of(
            "use_linear_projection", false, "only_cross_attention", false, "dual_cross_attention", false,
            "upcast_attention", false, "resnet_time_scale_shift", "default", "use_deformable_conv", false,
            "class_embed_type", "null", "num_class_embeds", "null");

    /**
     * Reads a diffusers {@code config.json} of the base model. Values the port cannot honour (e.g.
     * {@code use_deformable_conv: true}, {@code act_fn} other than silu) are errors; keys that do not change the
     * computation ({@code _class_name}, {@code sample_size}, {@code use_relative_position}, ...) are returned in
     * {@link Parsed#ignoredKeys()} and logged.
     */
    public static Parsed fromJson(JsonNode json) {
        return fromJson(json, BlockVariant.BASE);
    }

    /**
     * Reads a diffusers {@code config.json} for the given variant; absent keys take the values of
     * {@link #lavieBase()} / {@link #lavieInterpolation()}, except {@code use_first_frame}, whose absence means false
     * as in the reference constructor. In the interpolation variant {@code use_relative_position: true} (a
     * distance-embedding temporal attention LaVie never built) is an error.
     */
    public static Parsed fromJson(JsonNode json, BlockVariant variant) {
        if (json == null || !json.isObject()) throw new IllegalArgumentException("UNet config must be a JSON object");
        if (variant == null) throw new IllegalArgumentException("variant is null");
        UNetConfig base = variant == BlockVariant.INTERPOLATION ? lavieInterpolation() : lavieBase();
        if (variant == BlockVariant.INTERPOLATION && json.path("use_relative_position").asBoolean(false))
            throw new IllegalArgumentException("UNet config: use_relative_position = true is not supported by the interpolation variant (only false)");
        List<String> ignored = new ArrayList<>();
        Set<String> keys = new TreeSet<>();
        json.fieldNames().forEachRemaining(keys::add);
        for (String k : keys) {
            JsonNode v = json.get(k);
            if (USED.contains(k)) continue;
            if (REQUIRED.containsKey(k)) {
                Object want = REQUIRED.get(k);
                boolean ok = v.isNull() || (want instanceof Boolean b ? v.isBoolean() && v.asBoolean() == b
                        : want.equals("null") ? v.isNull() : v.asText().equals(want));
                if (!ok) throw new IllegalArgumentException("UNet config: " + k + " = " + v + " is not supported (only " + want + ")");
                ignored.add(k);
                continue;
            }
            ignored.add(k);
        }
        String act = json.path("act_fn").asText("silu");
        if (!act.equals("silu")) throw new IllegalArgumentException("UNet config: act_fn = \"" + act + "\" is not supported (only \"silu\")");
        List<Integer> channels = ints(json, "block_out_channels", base.blockOutChannels());
        int levels = channels.size();
        List<DownBlockType> down = new ArrayList<>();
        for (String s : strings(json, "down_block_types", base.downBlockTypes().stream().map(t -> t.json).toList())) down.add(DownBlockType.parse(s));
        List<UpBlockType> up = new ArrayList<>();
        for (String s : strings(json, "up_block_types", base.upBlockTypes().stream().map(t -> t.json).toList())) up.add(UpBlockType.parse(s));
        JsonNode heads = json.get("attention_head_dim");
        List<Integer> headList;
        if (heads == null || heads.isNull()) headList = java.util.Collections.nCopies(levels, 8);
        else if (heads.isInt()) headList = java.util.Collections.nCopies(levels, heads.asInt());
        else headList = ints(json, "attention_head_dim", List.of());
        UNetConfig config = new UNetConfig(
                json.path("in_channels").asInt(base.inChannels()), json.path("out_channels").asInt(base.outChannels()),
                channels, down, up, json.path("layers_per_block").asInt(base.layersPerBlock()),
                json.path("cross_attention_dim").asInt(base.crossAttentionDim()), headList,
                json.path("norm_num_groups").asInt(base.normNumGroups()), json.path("norm_eps").asDouble(base.normEps()),
                json.path("flip_sin_to_cos").asBoolean(true), json.path("freq_shift").asInt(0),
                json.path("downsample_padding").asInt(1), json.path("mid_block_scale_factor").asDouble(1.0),
                json.path("center_input_sample").asBoolean(false), json.path("use_first_frame").asBoolean(false), variant,
                framePositions(json));
        List<String> notable = ignored.stream().filter(k -> !k.startsWith("_")).toList();   // metadata keys are expected
        if (!notable.isEmpty()) LOG.warn("UNet config: keys that do not change the computation, ignored: {}", notable);
        return new Parsed(config, List.copyOf(ignored));
    }

    /** {@code frame_position_embeddings}: absent, null or 0 = none; otherwise a whole frame count. */
    private static int framePositions(JsonNode json) {
        JsonNode v = json.get("frame_position_embeddings");
        if (v == null || v.isNull()) return 0;
        if (!v.canConvertToInt() || !v.isIntegralNumber())
            throw new IllegalArgumentException("UNet config: frame_position_embeddings = " + v + " must be a whole number of frames (0 = none)");
        return v.asInt();
    }

    private static List<Integer> ints(JsonNode json, String key, List<Integer> fallback) {
        return ConfigJson.ints(json, key, fallback, "UNet config");
    }

    private static List<String> strings(JsonNode json, String key, List<String> fallback) {
        return ConfigJson.strings(json, key, fallback, "UNet config");
    }

    /**
     * This config as LaVie's 3-D {@code unet/config.json} (diffusers keys; {@link #fromJson} reads it back to an equal
     * config). Keys the port does not model are written with the only value it supports.
     */
    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("_class_name", "UNet3DConditionModel");
        n.put("act_fn", "silu");
        n.put("in_channels", inChannels);
        n.put("out_channels", outChannels);
        blockOutChannels.forEach(n.putArray("block_out_channels")::add);
        var down = n.putArray("down_block_types");
        downBlockTypes.forEach(t -> down.add(t.json));
        var up = n.putArray("up_block_types");
        upBlockTypes.forEach(t -> up.add(t.json));
        n.put("layers_per_block", layersPerBlock);
        n.put("cross_attention_dim", crossAttentionDim);
        attentionHeadDim.forEach(n.putArray("attention_head_dim")::add);
        n.put("norm_num_groups", normNumGroups);
        n.put("norm_eps", normEps);
        n.put("flip_sin_to_cos", flipSinToCos);
        n.put("freq_shift", freqShift);
        n.put("downsample_padding", downsamplePadding);
        n.put("mid_block_scale_factor", midBlockScaleFactor);
        n.put("center_input_sample", centerInputSample);
        n.put("use_first_frame", useFirstFrame);
        if (framePositionEmbeddings > 0) n.put("frame_position_embeddings", framePositionEmbeddings);   // this port's extension
        return n;
    }
}
