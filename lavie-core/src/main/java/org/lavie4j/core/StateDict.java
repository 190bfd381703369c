package org.lavie4j.core;

import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * An ordered map from dotted key ({@code down_blocks.0.resnets.0.conv1.weight}) to tensor source: what a
 * checkpoint holds and what {@link Module#stateDict()} emits. Sources from files load lazily.
 */
public final class StateDict {
    private final LinkedHashMap<String, TensorSource> entries = new LinkedHashMap<>();
    private final String origin;

    public StateDict(String origin) { this.origin = origin; }

    /** A state dict over all tensors of a map (e.g. a {@code TensorFile}), in its order. */
    public static StateDict of(String origin, Map<String, ? extends TensorSource> sources) {
        StateDict sd = new StateDict(origin);
        sources.forEach(sd::put);
        return sd;
    }

    /** Where the entries came from (a file path or a description), used in error messages. */
    public String origin() { return origin; }

    public StateDict put(String key, TensorSource source) {
        entries.put(key, source);
        return this;
    }

    public StateDict put(String key, INDArray array) { return put(key, TensorSource.of(key, array)); }

    public boolean contains(String key) { return entries.containsKey(key); }

    public TensorSource get(String key) {
        TensorSource s = entries.get(key);
        if (s == null) throw new NoSuchElementException("no key '" + key + "' in " + origin);
        return s;
    }

    public Set<String> keys() { return Collections.unmodifiableSet(entries.keySet()); }

    public Map<String, TensorSource> asMap() { return Collections.unmodifiableMap(entries); }

    public int size() { return entries.size(); }

    /** The entries whose key starts with {@code prefix}, with the prefix removed (e.g. "unet."). */
    public StateDict withoutPrefix(String prefix) {
        StateDict sd = new StateDict(origin + (prefix.isEmpty() ? "" : " [" + prefix + "*]"));
        for (var e : entries.entrySet())
            if (e.getKey().startsWith(prefix)) sd.put(e.getKey().substring(prefix.length()), e.getValue());
        return sd;
    }

    /** All entries with {@code prefix} prepended. */
    public StateDict withPrefix(String prefix) {
        StateDict sd = new StateDict(origin);
        entries.forEach((k, v) -> sd.put(prefix + k, v));
        return sd;
    }

    /** Total number of elements. */
    public long numel() {
        long n = 0;
        for (TensorSource s : entries.values()) n += s.numel();
        return n;
    }

    @Override
    public String toString() { return "StateDict(" + origin + ", " + entries.size() + " tensors)"; }
}
