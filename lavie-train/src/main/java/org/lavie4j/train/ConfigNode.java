package org.lavie4j.train;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * One object of a training config being read: typed getters that name the dotted key in every error
 * ({@code train config: 'optimizer.lr' must be a number >= 0, got "fast"}), and a check that no unknown key is left.
 */
final class ConfigNode {
    private final JsonNode node;
    private final String path;

    ConfigNode(JsonNode node, String path) {
        this.node = node;
        this.path = path;
    }

    /** The root object of a config document. */
    static ConfigNode root(JsonNode node) {
        if (node == null || !node.isObject())
            throw new IllegalArgumentException("train config: the document must be a mapping of keys to values, got "
                    + (node == null || node.isMissingNode() ? "nothing" : node.getNodeType().toString().toLowerCase(Locale.ROOT)));
        return new ConfigNode(node, "");
    }

    String key(String name) { return path.isEmpty() ? name : path + "." + name; }

    static IllegalArgumentException error(String key, String problem) {
        return new IllegalArgumentException("train config: '" + key + "' " + problem);
    }

    /** Every key of this object must be one of {@code known}. */
    void checkKnown(Set<String> known) {
        List<String> unknown = new ArrayList<>();
        node.fieldNames().forEachRemaining(k -> {
            if (!known.contains(k)) unknown.add(k);
        });
        if (!unknown.isEmpty())
            throw new IllegalArgumentException("train config: unknown key" + (unknown.size() > 1 ? "s " : " ")
                    + String.join(", ", unknown.stream().map(k -> "'" + key(k) + "'").toList())
                    + " (known" + (path.isEmpty() ? "" : " in '" + path + "'") + ": " + new TreeSet<>(known) + ")");
    }

    boolean has(String name) {
        JsonNode v = node.get(name);
        return v != null && !v.isNull();
    }

    JsonNode raw(String name) { return node.get(name); }

    /** A nested object; an absent or null one reads as empty (all defaults). */
    ConfigNode object(String name) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return new ConfigNode(com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode(), key(name));
        if (!v.isObject()) throw error(key(name), "must be a mapping of keys to values, got " + v);
        return new ConfigNode(v, key(name));
    }

    String string(String name, String fallback) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            if (fallback == null) throw error(key(name), "is required");
            return fallback;
        }
        if (!v.isTextual()) throw error(key(name), "must be a string, got " + v);
        return v.asText();
    }

    /** A string or null when absent. */
    String optionalString(String name) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return null;
        if (!v.isTextual()) throw error(key(name), "must be a string, got " + v);
        return v.asText();
    }

    long integer(String name, long fallback, long min) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return fallback;
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < min)
            throw error(key(name), "must be an integer >= " + min + ", got " + v);
        return v.asLong();
    }

    int integer32(String name, int fallback, int min) {
        long x = integer(name, fallback, min);
        if (x > Integer.MAX_VALUE) throw error(key(name), "must be at most " + Integer.MAX_VALUE + ", got " + x);
        return (int) x;
    }

    /** A finite number in [min, max]. */
    double number(String name, double fallback, double min, double max) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return fallback;
        if (!v.isNumber() || !Double.isFinite(v.asDouble()) || v.asDouble() < min || v.asDouble() > max)
            throw error(key(name), "must be a number in [" + fmt(min) + ", " + fmt(max) + "], got " + v);
        return v.asDouble();
    }

    boolean bool(String name, boolean fallback) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return fallback;
        if (!v.isBoolean()) throw error(key(name), "must be true or false, got " + v);
        return v.asBoolean();
    }

    /** One of {@code choices} (case-insensitive); returns the lower-case choice. */
    String choice(String name, String fallback, String... choices) {
        String s = string(name, fallback).trim().toLowerCase(Locale.ROOT);
        for (String c : choices) if (c.equals(s)) return c;
        throw error(key(name), "must be one of " + Arrays.toString(choices) + ", got '" + node.get(name).asText() + "'");
    }

    List<String> strings(String name) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return List.of();
        if (!v.isArray()) throw error(key(name), "must be a list of strings, got " + v);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            if (!v.get(i).isTextual()) throw error(key(name) + "[" + i + "]", "must be a string, got " + v.get(i));
            out.add(v.get(i).asText());
        }
        return out;
    }

    List<Long> longs(String name) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) return List.of();
        if (!v.isArray()) throw error(key(name), "must be a list of integers, got " + v);
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            if (!v.get(i).isIntegralNumber() || !v.get(i).canConvertToLong())
                throw error(key(name) + "[" + i + "]", "must be an integer, got " + v.get(i));
            out.add(v.get(i).asLong());
        }
        return out;
    }

    private static String fmt(double v) {
        if (v == Double.MAX_VALUE) return "inf";
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
