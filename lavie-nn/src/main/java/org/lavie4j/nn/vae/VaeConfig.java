package org.lavie4j.nn.vae;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The constructor arguments of diffusers 0.16 {@code AutoencoderKL} (models/autoencoder_kl.py) that LaVie's VAEs use.
 * Every level is a {@code DownEncoderBlock2D} / {@code UpDecoderBlock2D} (the only block types the reference VAE
 * configs name), activation SiLU, GroupNorm eps {@value #NORM_EPS} everywhere.
 *
 * @param blockOutChannels channels per level; {@code levels − 1} stride-2 steps give the spatial factor
 * @param layersPerBlock   resnets per encoder level (decoder levels get one more)
 * @param sampleSize       {@code sample_size}: the image tile edge of diffusers' tiled encode/decode (does not change the
 *                         untiled computation)
 * @param scalingFactor    latent scaling ({@code z·s} after encode, {@code z/s} before decode; applied by callers)
 */
public record VaeConfig(int inChannels, int outChannels, List<Integer> blockOutChannels, int layersPerBlock,
                        int latentChannels, int normNumGroups, int sampleSize, double scalingFactor) {
    private static final Logger LOG = LoggerFactory.getLogger(VaeConfig.class);

    /** GroupNorm epsilon of every VAE norm (resnets, mid-block attention, conv_norm_out). */
    public static final double NORM_EPS = 1e-6;

    public VaeConfig {
        if (inChannels <= 0 || outChannels <= 0 || latentChannels <= 0)
            throw new IllegalArgumentException("VaeConfig: invalid channels in=" + inChannels + ", out=" + outChannels + ", latent=" + latentChannels);
        if (blockOutChannels == null || blockOutChannels.isEmpty())
            throw new IllegalArgumentException("VaeConfig: block_out_channels must list at least one level");
        blockOutChannels = List.copyOf(blockOutChannels);
        if (layersPerBlock <= 0) throw new IllegalArgumentException("VaeConfig: layers_per_block must be positive, got " + layersPerBlock);
        if (normNumGroups <= 0) throw new IllegalArgumentException("VaeConfig: norm_num_groups must be positive, got " + normNumGroups);
        for (int c : blockOutChannels)
            if (c <= 0 || c % normNumGroups != 0)
                throw new IllegalArgumentException("VaeConfig: block_out_channels " + blockOutChannels + " must be positive multiples of norm_num_groups "
                        + normNumGroups);
        if (sampleSize <= 0) throw new IllegalArgumentException("VaeConfig: sample_size must be positive, got " + sampleSize);
        if (!(scalingFactor > 0) || !Double.isFinite(scalingFactor))
            throw new IllegalArgumentException("VaeConfig: scaling_factor must be positive and finite, got " + scalingFactor);
    }

    /** Stable Diffusion v1.4 {@code vae/config.json} (LaVie base and interpolation; scaling 0.18215). */
    public static VaeConfig sd14() {
        return new VaeConfig(3, 3, List.of(128, 256, 512, 512), 2, 4, 32, 512, 0.18215);
    }

    /** The x4 upscaler's VAE (LaVie VSR {@code vae_config.json}): three levels, ×4, scaling 0.08333. */
    public static VaeConfig x4Upscaler() {
        return new VaeConfig(3, 3, List.of(128, 256, 512), 2, 4, 32, 256, 0.08333);
    }

    /** The {@code vae} golden case's config (two levels of 32 and 64 channels, 8 groups). */
    public static VaeConfig tiny() {
        return new VaeConfig(3, 3, List.of(32, 64), 1, 4, 8, 16, 0.18215);
    }

    /** Number of resolution levels. */
    public int levels() { return blockOutChannels.size(); }

    /** Image pixels per latent pixel along each axis: {@code 2^(levels − 1)} (8 for SD, 4 for the x4 VAE). */
    public int spatialFactor() { return 1 << (levels() - 1); }

    /** A parsed config and the keys of the JSON that do not change the computation (listed, never silently dropped). */
    public record Parsed(VaeConfig config, List<String> ignoredKeys) {}

    private static final Set<String> USED = Set.of("in_channels", "out_channels", "down_block_types", "up_block_types",
            "block_out_channels", "layers_per_block", "act_fn", "latent_channels", "norm_num_groups", "sample_size", "scaling_factor");
    /** Keys of newer diffusers versions that only matter for other dtypes: accepted and listed as ignored. */
    private static final Set<String> HARMLESS = Set.of("force_upcast");
    /** Keys of newer diffusers versions with the only value that gives the 0.16 computation. */
    private static final Set<String> MUST_BE_TRUE = Set.of("use_quant_conv", "use_post_quant_conv", "mid_block_add_attention");
    private static final Set<String> MUST_BE_NULL = Set.of("shift_factor", "latents_mean", "latents_std");

    /**
     * Reads a diffusers {@code vae/config.json}. Metadata keys ({@code _class_name}, {@code _diffusers_version},
     * {@code _name_or_path}) and {@code force_upcast} are returned in {@link Parsed#ignoredKeys()}; values the port cannot
     * honour (another block type or activation, {@code use_quant_conv: false}, a {@code shift_factor}, ...) and
     * unknown keys are errors. Absent keys take diffusers' defaults, except {@code scaling_factor}, which defaults to
     * 0.18215 (SD v1.4's file has none).
     */
    public static Parsed fromJson(JsonNode json) {
        if (json == null || !json.isObject()) throw new IllegalArgumentException("VAE config must be a JSON object");
        List<String> ignored = new ArrayList<>();
        Set<String> keys = new TreeSet<>();
        json.fieldNames().forEachRemaining(keys::add);
        for (String k : keys) {
            JsonNode v = json.get(k);
            if (USED.contains(k)) continue;
            if (k.startsWith("_") || HARMLESS.contains(k)) ignored.add(k);
            else if (MUST_BE_TRUE.contains(k)) {
                if (!(v.isNull() || (v.isBoolean() && v.asBoolean())))
                    throw new IllegalArgumentException("VAE config: " + k + " = " + v + " is not supported (only true)");
                ignored.add(k);
            } else if (MUST_BE_NULL.contains(k)) {
                if (!v.isNull()) throw new IllegalArgumentException("VAE config: " + k + " = " + v + " is not supported (only null)");
                ignored.add(k);
            } else throw new IllegalArgumentException("VAE config: unknown key '" + k + "' (not a diffusers 0.16 AutoencoderKL argument)");
        }
        String act = json.path("act_fn").asText("silu");
        if (!act.equals("silu")) throw new IllegalArgumentException("VAE config: act_fn = \"" + act + "\" is not supported (only \"silu\")");
        List<Integer> channels = ints(json, "block_out_channels", List.of(64));
        checkTypes(json, "down_block_types", "DownEncoderBlock2D", channels.size());
        checkTypes(json, "up_block_types", "UpDecoderBlock2D", channels.size());
        VaeConfig config = new VaeConfig(intValue(json, "in_channels", 3), intValue(json, "out_channels", 3), channels,
                intValue(json, "layers_per_block", 1), intValue(json, "latent_channels", 4), intValue(json, "norm_num_groups", 32),
                sampleSize(json), json.has("scaling_factor") && !json.get("scaling_factor").isNull()
                        ? number(json, "scaling_factor") : 0.18215);
        if (!ignored.isEmpty()) LOG.debug("VAE config: keys that do not change the computation, ignored: {}", ignored);
        return new Parsed(config, List.copyOf(ignored));
    }

    private static void checkTypes(JsonNode json, String key, String only, int levels) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) {
            if (levels != 1) throw new IllegalArgumentException("VAE config: " + key + " absent (default: one level) but block_out_channels has " + levels);
            return;
        }
        if (!v.isArray()) throw new IllegalArgumentException("VAE config: " + key + " must be a list, got " + v);
        if (v.size() != levels)
            throw new IllegalArgumentException("VAE config: " + key + " has " + v.size() + " entries, block_out_channels " + levels);
        for (JsonNode t : v)
            if (!only.equals(t.asText()))
                throw new IllegalArgumentException("VAE config: " + key + " entry \"" + t.asText() + "\" is not supported (only " + only + ")");
    }

    private static int sampleSize(JsonNode json) {
        JsonNode v = json.get("sample_size");
        if (v == null || v.isNull()) return 32;
        if (v.isArray()) {
            if (v.size() != 2 || !v.get(0).canConvertToInt() || v.get(0).asInt() != v.get(1).asInt())
                throw new IllegalArgumentException("VAE config: sample_size " + v + " is not supported (only a square size)");
            return v.get(0).asInt();
        }
        return intValue(json, "sample_size", 32);
    }

    private static int intValue(JsonNode json, String key, int fallback) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new IllegalArgumentException("VAE config: " + key + " must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(JsonNode json, String key) {
        JsonNode v = json.get(key);
        if (!v.isNumber()) throw new IllegalArgumentException("VAE config: " + key + " must be a number, got " + v);
        return v.asDouble();
    }

    private static List<Integer> ints(JsonNode json, String key, List<Integer> fallback) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isArray()) throw new IllegalArgumentException("VAE config: " + key + " must be a list, got " + v);
        List<Integer> out = new ArrayList<>();
        for (Iterator<JsonNode> it = v.elements(); it.hasNext(); ) {
            JsonNode e = it.next();
            if (!e.isIntegralNumber() || !e.canConvertToInt()) throw new IllegalArgumentException("VAE config: " + key + " has a non-integer entry " + e);
            out.add(e.asInt());
        }
        return out;
    }

    /** This config as a diffusers {@code vae/config.json} ({@link #fromJson} reads it back to an equal config). */
    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("_class_name", "AutoencoderKL");
        n.put("act_fn", "silu");
        n.put("in_channels", inChannels);
        n.put("out_channels", outChannels);
        blockOutChannels.forEach(n.putArray("block_out_channels")::add);
        var down = n.putArray("down_block_types");
        var up = n.putArray("up_block_types");
        blockOutChannels.forEach(c -> { down.add("DownEncoderBlock2D"); up.add("UpDecoderBlock2D"); });
        n.put("layers_per_block", layersPerBlock);
        n.put("latent_channels", latentChannels);
        n.put("norm_num_groups", normNumGroups);
        n.put("sample_size", sampleSize);
        n.put("scaling_factor", scalingFactor);
        return n;
    }
}
