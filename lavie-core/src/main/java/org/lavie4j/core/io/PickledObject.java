package org.lavie4j.core.io;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An inert stand-in for a pickled object of a class the reader does not construct (e.g. {@code argparse.Namespace},
 * optimizer classes, numpy scalars, {@code torch.device}): the class name, the constructor arguments, the state
 * given to {@code __setstate__}, and any list or dict items appended to it. Nothing of the class is executed.
 */
public final class PickledObject {
    private final String module;
    private final String name;
    private final List<Object> args;
    private final Map<Object, Object> kwargs;
    private Object state;
    private final List<Object> listItems = new ArrayList<>();
    private final Map<Object, Object> dictItems = new LinkedHashMap<>();

    public PickledObject(String module, String name, List<Object> args, Map<Object, Object> kwargs) {
        this.module = module;
        this.name = name;
        this.args = Collections.unmodifiableList(new ArrayList<>(args));
        this.kwargs = kwargs == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(kwargs));
    }

    /** The class's module, e.g. {@code argparse}. */
    public String module() { return module; }

    /** The class name, e.g. {@code Namespace}. */
    public String name() { return name; }

    public String qualifiedName() { return module + "." + name; }

    /** Positional arguments of the call that made the object (REDUCE / NEWOBJ / INST / OBJ). */
    public List<Object> args() { return args; }

    /** Keyword arguments (NEWOBJ_EX); usually empty. */
    public Map<Object, Object> kwargs() { return kwargs; }

    /** The state passed to {@code __setstate__} (BUILD), often a dict of attributes; null when none. */
    public Object state() { return state; }

    /** Items appended to the object (a list subclass). */
    public List<Object> listItems() { return Collections.unmodifiableList(listItems); }

    /** Items set on the object (a dict subclass). */
    public Map<Object, Object> dictItems() { return Collections.unmodifiableMap(dictItems); }

    /** The attribute {@code name} from a dict state, or null. */
    public Object attribute(String attr) {
        Object s = state;
        if (s instanceof Object[] t && t.length == 2) s = t[0]; // (dict state, slot state)
        return s instanceof Map<?, ?> m ? m.get(attr) : null;
    }

    void setState(Object state) { this.state = state; }

    void addListItem(Object item) { listItems.add(item); }

    void putDictItem(Object key, Object value) { dictItems.put(key, value); }

    @Override
    public String toString() { return "PickledObject[" + qualifiedName() + "]"; }
}
