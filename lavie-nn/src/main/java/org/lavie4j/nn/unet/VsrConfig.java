package org.lavie4j.nn.unet;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.nn.layers.TemporalConvModule;
import org.lavie4j.nn.unet.UNetConfig.DownBlockType;
import org.lavie4j.nn.unet.UNetConfig.UpBlockType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Configuration of LaVie's {@code UNet3DVSRModel} (vsr/models/unet.py, vsr/configs/unet_3d_config.json; vsr-unet.md
 * §1): the fields that change the computation. As in Stable Diffusion, {@code attentionHeadDim} is a head
 * <em>count</em> per level. {@code onlyCrossAttention} is in down order (the up path uses it reversed; the mid block is
 * always self-attention); entries falling on a block without attention are ignored, as in the reference.
 * {@code numClassEmbeds} 0 means no {@code class_embedding}. A {@code TemporalConvModule} follows down block i when
 * {@code downTemporalIdx} contains i, the mid block when {@code midTemporal}, up block i when {@code upTemporalIdx}
 * contains i.
 *
 * <p>Only LaVie's own temporal-module settings are supported ({@code video_condition=false}, which {@code sample.py}
 * forces, and {@code attention_block_types ["", ""]}: no temporal transformer).
 */
public record VsrConfig(
        int inChannels,
        int outChannels,
        List<Integer> blockOutChannels,
        List<DownBlockType> downBlockTypes,
        List<UpBlockType> upBlockTypes,
        List<Boolean> onlyCrossAttention,
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
        int numClassEmbeds,
        int maxNoiseLevel,
        List<Integer> downTemporalIdx,
        boolean midTemporal,
        List<Integer> upTemporalIdx) {

    private static final Logger LOG = LoggerFactory.getLogger(VsrConfig.class);

    public VsrConfig {
        blockOutChannels = List.copyOf(blockOutChannels);
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        onlyCrossAttention = List.copyOf(onlyCrossAttention);
        attentionHeadDim = List.copyOf(attentionHeadDim);
        downTemporalIdx = List.copyOf(downTemporalIdx);
        upTemporalIdx = List.copyOf(upTemporalIdx);
        int levels = blockOutChannels.size();
        if (levels == 0) throw new IllegalArgumentException("block_out_channels is empty");
        if (downBlockTypes.size() != levels || upBlockTypes.size() != levels)
            throw new IllegalArgumentException("down_block_types (" + downBlockTypes.size() + ") and up_block_types (" + upBlockTypes.size()
                    + ") must both have one entry per block_out_channels entry (" + levels + ")");
        if (attentionHeadDim.size() != levels)
            throw new IllegalArgumentException("attention_head_dim has " + attentionHeadDim.size() + " entries for " + levels + " levels");
        if (onlyCrossAttention.size() != levels)
            throw new IllegalArgumentException("only_cross_attention has " + onlyCrossAttention.size() + " entries for " + levels + " levels");
        if (inChannels <= 0 || outChannels <= 0 || layersPerBlock <= 0 || crossAttentionDim <= 0 || normNumGroups <= 0)
            throw new IllegalArgumentException("in_channels, out_channels, layers_per_block, cross_attention_dim and norm_num_groups must be positive");
        if (numClassEmbeds < 0) throw new IllegalArgumentException("num_class_embeds must not be negative, got " + numClassEmbeds);
        if (!(normEps > 0)) throw new IllegalArgumentException("norm_eps must be positive, got " + normEps);
        for (List<Integer> idx : List.of(downTemporalIdx, upTemporalIdx))
            for (int i : idx)
                if (i < 0 || i >= levels)
                    throw new IllegalArgumentException("temporal module index " + i + " outside the " + levels + " levels (down_temporal_idx "
                            + downTemporalIdx + ", up_temporal_idx " + upTemporalIdx + ")");
        int groups = TemporalConvModule.GROUPS;   // the temporal resnets' fixed group count
        for (int i = 0; i < levels; i++) {
            int c = blockOutChannels.get(i), heads = attentionHeadDim.get(i);
            if (c % normNumGroups != 0)
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + c + " not divisible by norm_num_groups " + normNumGroups);
            if (heads <= 0 || c % heads != 0)
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + c + " not divisible into " + heads + " heads");
            // channels c_i meet a temporal resnet in level i's transformers (every one has resblock_temporal), in the
            // mid block (always a transformer) and in the temporal modules after down block i / up block levels−1−i
            boolean temporal = downBlockTypes.get(i).hasAttention() || upBlockTypes.get(levels - 1 - i).hasAttention() || i == levels - 1
                    || downTemporalIdx.contains(i) || upTemporalIdx.contains(levels - 1 - i);
            if (temporal && c % groups != 0)
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + c + " not divisible into the " + groups
                        + " groups of the temporal resnets (fixed in the reference)");
        }
    }

    /** The real LaVie VSR model ({@code lavie_vsr.pt}; vsr/configs/unet_3d_config.json with video_condition false). */
    public static VsrConfig lavieVsr() {
        return new VsrConfig(7, 4, List.of(256, 512, 512, 1024),
                List.of(DownBlockType.DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D),
                List.of(UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.UP_BLOCK_3D),
                List.of(true, true, true, false), 2, 1024, List.of(8, 8, 8, 8), 32, 1e-5, true, 0, 1, 1.0, false,
                1000, 350, List.of(0, 1, 2, 3), true, List.of(0, 1, 2, 3));
    }

    /** A tiny model for tests (the shape of the {@code unet_vsr} golden case). */
    public static VsrConfig tiny() {
        return new VsrConfig(7, 4, List.of(32, 32, 32),
                List.of(DownBlockType.DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D, DownBlockType.CROSS_ATTN_DOWN_BLOCK_3D),
                List.of(UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.CROSS_ATTN_UP_BLOCK_3D, UpBlockType.UP_BLOCK_3D),
                List.of(true, true, false), 1, 48, List.of(1, 1, 1), 8, 1e-5, true, 0, 1, 1.0, false,
                400, 350, List.of(0, 1, 2), true, List.of(0, 1, 2));
    }

    /** Width of the time embedding: 4 × the first block's channels (1024 for LaVie). */
    public int timeEmbedDim() { return 4 * blockOutChannels.get(0); }

    /** Number of resolution levels. */
    public int levels() { return blockOutChannels.size(); }

    /** only_cross_attention of up block i (the down list reversed). */
    public boolean upOnlyCrossAttention(int i) { return onlyCrossAttention.get(levels() - 1 - i); }

    /** A parsed config and the keys of the JSON that do not change the computation (listed, never silently dropped). */
    public record Parsed(VsrConfig config, List<String> ignoredKeys) {}

    /** Keys read by {@link #fromJson}. */
    private static final Set<String> USED = Set.of("in_channels", "out_channels", "block_out_channels", "down_block_types",
            "up_block_types", "only_cross_attention", "layers_per_block", "cross_attention_dim", "attention_head_dim",
            "norm_num_groups", "norm_eps", "flip_sin_to_cos", "freq_shift", "downsample_padding", "mid_block_scale_factor",
            "center_input_sample", "num_class_embeds", "max_noise_level", "down_temporal_idx", "mid_temporal", "up_temporal_idx",
            "temporal_module_config", "act_fn");

    /** Options the port cannot honour, with the only value it accepts (absent or null is always accepted). */
    private static final Map<String, Object> REQUIRED = Map.of(
            "use_linear_projection", true, "dual_cross_attention", false, "upcast_attention", false,
            "resnet_time_scale_shift", "default", "class_embed_type", "null", "use_first_frame", false,
            "video_condition", false, "mid_block_type", "UNetMidBlock3DCrossAttn");

    /**
     * Reads LaVie's {@code unet_3d_config.json} (or a config of the same form); absent keys take the values of
     * {@link #lavieVsr()} ({@code video_condition} absent means false, as {@code sample.py} sets it). Values the port
     * cannot honour ({@code video_condition: true}, {@code use_linear_projection: false}, a temporal transformer in
     * {@code temporal_module_config.attention_block_types}, {@code use_scale_shift: true}, ...) are errors; keys that do
     * not change the computation ({@code sample_size}, {@code freeze_pretrained_2d_upsampler},
     * {@code use_relative_position} (never read by the VSR blocks), the dead {@code temporal_module_config} entries, ...)
     * are returned in {@link Parsed#ignoredKeys()} and logged.
     */
    public static Parsed fromJson(JsonNode json) {
        if (json == null || !json.isObject()) throw new IllegalArgumentException("VSR UNet config must be a JSON object");
        VsrConfig base = lavieVsr();
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
                if (!ok) throw new IllegalArgumentException("VSR UNet config: " + k + " = " + v + " is not supported (only " + want + ")");
            }
            ignored.add(k);
        }
        String act = json.path("act_fn").asText("silu");
        if (!act.equals("silu")) throw new IllegalArgumentException("VSR UNet config: act_fn = \"" + act + "\" is not supported (only \"silu\")");
        ignored.addAll(checkTemporalModuleConfig(json.get("temporal_module_config")));

        List<Integer> channels = ints(json, "block_out_channels", base.blockOutChannels());
        int levels = channels.size();
        List<DownBlockType> down = new ArrayList<>();
        for (String s : strings(json, "down_block_types", base.downBlockTypes().stream().map(t -> t.json).toList())) down.add(DownBlockType.parse(s));
        List<UpBlockType> up = new ArrayList<>();
        for (String s : strings(json, "up_block_types", base.upBlockTypes().stream().map(t -> t.json).toList())) up.add(UpBlockType.parse(s));
        JsonNode heads = json.get("attention_head_dim");
        List<Integer> headList = heads == null || heads.isNull() ? Collections.nCopies(levels, 8)
                : heads.isInt() ? Collections.nCopies(levels, heads.asInt()) : ints(json, "attention_head_dim", List.of());
        JsonNode cross = json.get("only_cross_attention");
        List<Boolean> crossList;
        if (cross == null || cross.isNull()) crossList = levels == base.levels() ? base.onlyCrossAttention() : Collections.nCopies(levels, false);
        else if (cross.isBoolean()) crossList = Collections.nCopies(levels, cross.asBoolean());
        else crossList = booleans(json, "only_cross_attention");
        JsonNode classes = json.get("num_class_embeds");
        int numClassEmbeds = classes == null ? base.numClassEmbeds() : classes.isNull() ? 0 : classes.asInt();

        VsrConfig config = new VsrConfig(
                json.path("in_channels").asInt(base.inChannels()), json.path("out_channels").asInt(base.outChannels()),
                channels, down, up, crossList, json.path("layers_per_block").asInt(base.layersPerBlock()),
                json.path("cross_attention_dim").asInt(base.crossAttentionDim()), headList,
                json.path("norm_num_groups").asInt(base.normNumGroups()), json.path("norm_eps").asDouble(base.normEps()),
                json.path("flip_sin_to_cos").asBoolean(true), json.path("freq_shift").asInt(0),
                json.path("downsample_padding").asInt(1), json.path("mid_block_scale_factor").asDouble(1.0),
                json.path("center_input_sample").asBoolean(false), numClassEmbeds,
                json.path("max_noise_level").asInt(base.maxNoiseLevel()),
                ints(json, "down_temporal_idx", range(levels)), json.path("mid_temporal").asBoolean(true),
                ints(json, "up_temporal_idx", range(levels)));
        List<String> notable = ignored.stream().filter(k -> !k.startsWith("_")).toList();   // metadata keys are expected
        if (!notable.isEmpty()) LOG.info("VSR UNet config: keys that do not change the computation, ignored: {}", notable);
        return new Parsed(config, List.copyOf(ignored));
    }

    /**
     * Checks {@code temporal_module_config}: only LaVie's conv-only module is supported. Returns its keys that are dead
     * in that module (prefixed), to be reported as ignored.
     */
    private static List<String> checkTemporalModuleConfig(JsonNode t) {
        if (t == null || t.isNull()) return List.of();
        if (!t.isObject()) throw new IllegalArgumentException("VSR UNet config: temporal_module_config must be an object, got " + t);
        JsonNode types = t.get("attention_block_types");
        boolean convOnly = types != null && types.isArray() && types.size() == 2 && types.get(0).asText().isEmpty() && types.get(1).asText().isEmpty();
        if (!convOnly)
            throw new IllegalArgumentException("VSR UNet config: temporal_module_config.attention_block_types = " + types
                    + " is not supported (only [\"\", \"\"]: no temporal transformer, as LaVie's config)");
        if (t.path("use_scale_shift").asBoolean(false))
            throw new IllegalArgumentException("VSR UNet config: temporal_module_config.use_scale_shift = true is not supported (only false)");
        List<String> dead = new ArrayList<>();
        Set<String> keys = new TreeSet<>();
        t.fieldNames().forEachRemaining(keys::add);
        for (String k : keys) if (!k.equals("attention_block_types")) dead.add("temporal_module_config." + k);
        return dead;
    }

    private static List<Integer> range(int n) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(i);
        return out;
    }

    private static List<Integer> ints(JsonNode json, String key, List<Integer> fallback) {
        return ConfigJson.ints(json, key, fallback, "VSR UNet config");
    }

    private static List<Boolean> booleans(JsonNode json, String key) {
        JsonNode v = json.get(key);
        if (!v.isArray()) throw new IllegalArgumentException("VSR UNet config: " + key + " must be a boolean or a list, got " + v);
        List<Boolean> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isBoolean()) throw new IllegalArgumentException("VSR UNet config: " + key + " has a non-boolean entry " + e);
            out.add(e.asBoolean());
        }
        return out;
    }

    private static List<String> strings(JsonNode json, String key, List<String> fallback) {
        return ConfigJson.strings(json, key, fallback, "VSR UNet config");
    }
}
