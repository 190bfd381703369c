package org.lavie4j.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/** An indexed list of child modules (torch.nn.ModuleList): children are named "0", "1", ... */
public final class ModuleList<M extends Module> extends Module implements Iterable<M> {
    private final List<M> items = new ArrayList<>();

    @SafeVarargs
    public ModuleList(M... modules) {
        for (M m : modules) add(m);
    }

    public ModuleList(List<? extends M> modules) {
        for (M m : modules) add(m);
    }

    /** Appends a module under the next index. */
    public M add(M module) {
        child(Integer.toString(items.size()), module);
        items.add(module);
        return module;
    }

    public M get(int i) { return items.get(i); }

    /** The i-th module as {@code type} (for lists of mixed kinds, e.g. {@code to_out = [Linear, Dropout]}). */
    public <T extends Module> T get(int i, Class<T> type) { return type.cast(items.get(i)); }

    public int size() { return items.size(); }

    public List<M> asList() { return Collections.unmodifiableList(items); }

    @Override
    public Iterator<M> iterator() { return asList().iterator(); }
}
