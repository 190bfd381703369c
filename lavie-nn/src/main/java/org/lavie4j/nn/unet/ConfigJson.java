package org.lavie4j.nn.unet;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/** List fields of the UNet configs' JSON, read with errors that name the config ({@code what}) and the key. */
final class ConfigJson {
    private ConfigJson() {}

    /** An integer list, or {@code fallback} when absent or null. */
    static List<Integer> ints(JsonNode json, String key, List<Integer> fallback, String what) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isArray()) throw new IllegalArgumentException(what + ": " + key + " must be a list, got " + v);
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.canConvertToInt()) throw new IllegalArgumentException(what + ": " + key + " has a non-integer entry " + e);
            out.add(e.asInt());
        }
        return out;
    }

    /** A string list, or {@code fallback} when absent or null. */
    static List<String> strings(JsonNode json, String key, List<String> fallback, String what) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) return fallback;
        if (!v.isArray()) throw new IllegalArgumentException(what + ": " + key + " must be a list, got " + v);
        List<String> out = new ArrayList<>();
        v.elements().forEachRemaining(e -> out.add(e.asText()));
        return out;
    }
}
