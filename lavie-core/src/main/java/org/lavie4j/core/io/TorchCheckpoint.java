package org.lavie4j.core.io;

import net.razorvine.pickle.PickleException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A PyTorch zip checkpoint ({@code torch.save} since 1.6: {@code .pt}, {@code .bin}, {@code .ckpt}) read without
 * executing anything: {@code <archive>/data.pkl} is unpickled by {@link TorchUnpickler} into plain Java values
 * (maps, lists, tuples as {@code Object[]}, strings, numbers, {@link PickledObject} / {@link PickledGlobal}
 * placeholders) with a lazy {@link TensorSource} for every tensor; storages ({@code <archive>/data/<key>}) are read
 * from the zip only when a tensor is loaded. Every tensor is checked on {@link #read} (known storage type, data entry
 * present, view inside the storage), so a broken one is reported with its key path up front.
 *
 * <p>The checkpoint owns the open zip file: close it when done (tensor files from {@link #stateDict()} share it).
 */
public final class TorchCheckpoint implements AutoCloseable {
    /** Keys tried, in order, by {@link #stateDict()}: LaVie saves {@code {"ema": ...}}. */
    public static final List<String> STATE_DICT_KEYS = List.of("ema", "state_dict", "model", "module");

    private static final int MAX_DEPTH = 1000;
    private static final long MAX_VISITS = 50_000_000L;

    private final Path path;
    private final TorchTensor.Archive archive;
    private final Object root;
    private final Map<String, TensorSource> allTensors;

    private TorchCheckpoint(Path path, TorchTensor.Archive archive, Object root, Map<String, TensorSource> allTensors) {
        this.path = path;
        this.archive = archive;
        this.root = root;
        this.allTensors = Collections.unmodifiableMap(allTensors);
    }

    /** Opens and unpickles a PyTorch zip checkpoint; fails with a message naming the file for anything unreadable. */
    public static TorchCheckpoint read(Path path) throws IOException {
        TensorFile.Format format = TensorFile.detect(path);
        if (format == TensorFile.Format.LEGACY_PYTORCH) throw TensorFile.legacyTorch(path);
        if (format != TensorFile.Format.PYTORCH_ZIP) {
            throw new IOException(path + ": not a PyTorch zip checkpoint (no 'PK' zip signature)");
        }
        ZipFile zip;
        try {
            zip = new ZipFile(path.toFile());
        } catch (ZipException e) {
            throw new IOException(path + ": not a readable zip archive (truncated or corrupt checkpoint): " + e.getMessage(), e);
        }
        try {
            String pkl = findDataPkl(zip, path);
            String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
            boolean bigEndian = false;
            ZipEntry order = zip.getEntry(prefix + "byteorder");
            if (order != null) {
                String bo = new String(readEntry(zip, order, path, 64), StandardCharsets.US_ASCII).trim();
                if (bo.equals("big")) bigEndian = true;
                else if (!bo.equals("little")) throw new IOException(path + ": unknown byteorder '" + bo + "'");
            }
            TorchTensor.Archive archive = new TorchTensor.Archive(path, zip, prefix, bigEndian);
            byte[] data = readEntry(zip, zip.getEntry(pkl), path, Integer.MAX_VALUE - 8);
            Object root;
            try {
                root = new TorchUnpickler(archive).unpickle(data);
            } catch (net.razorvine.pickle.InvalidOpcodeException e) {
                throw new IOException(path + ": unsupported pickle opcode in " + pkl + " (" + e.getMessage() + ")", e);
            } catch (PickleException e) {
                throw new IOException(path + ": cannot unpickle " + pkl + ": " + e.getMessage(), e);
            } catch (IOException | RuntimeException e) {
                throw new IOException(path + ": cannot unpickle " + pkl + " (corrupt or truncated): " + e, e);
            }
            Map<String, TensorSource> all = new LinkedHashMap<>();
            new Walker(path, all, false).walk(root, "");
            return new TorchCheckpoint(path, archive, root, all);
        } catch (IOException | RuntimeException e) {
            zip.close();
            throw e;
        }
    }

    private static String findDataPkl(ZipFile zip, Path path) throws IOException {
        boolean torchScript = false;
        for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
            String name = en.nextElement().getName();
            if (name.equals("data.pkl")) return name;
            int slash = name.indexOf('/');
            if (slash >= 0 && name.indexOf('/', slash + 1) < 0 && name.endsWith("/data.pkl")) return name;
            if (name.endsWith("/constants.pkl") || name.contains("/code/")) torchScript = true;
        }
        throw new IOException(path + ": zip archive without data.pkl: not a torch.save checkpoint"
                + (torchScript ? " (looks like a TorchScript archive from torch.jit.save; save a state_dict with torch.save)" : ""));
    }

    private static byte[] readEntry(ZipFile zip, ZipEntry e, Path path, long limit) throws IOException {
        if (e.getSize() > limit) throw new IOException(path + ": entry " + e.getName() + " of " + e.getSize() + " bytes is too large");
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = in.readNBytes((int) Math.min(limit, e.getSize() >= 0 ? e.getSize() : limit));
            if (e.getSize() >= 0 && b.length != e.getSize()) {
                throw new IOException(path + ": entry " + e.getName() + " is truncated (" + b.length + " of " + e.getSize() + " bytes)");
            }
            return b;
        } catch (ZipException ex) {
            throw new IOException(path + ": cannot read entry " + e.getName() + " (corrupt zip): " + ex.getMessage(), ex);
        }
    }

    /** The file this was read from. */
    public Path path() { return path; }

    /**
     * The unpickled object tree: {@code Map} (insertion-ordered), {@code List}, {@code Object[]} (tuples),
     * {@code String}, {@code Integer}/{@code Long}/{@code BigInteger}, {@code Double}, {@code Boolean}, {@code byte[]},
     * null, {@link TensorSource} for tensors, {@link PickledObject} and {@link PickledGlobal} for everything else.
     */
    public Object root() { return root; }

    /** Every tensor reachable from the root, under its dotted path (e.g. {@code ema.conv_in.weight}), in pickle order. */
    public Map<String, TensorSource> allTensors() { return allTensors; }

    /**
     * The model weights: the first of {@link #STATE_DICT_KEYS} holding a dict of tensors, else the root when it is
     * itself a dict of tensors. A leading {@code module.} (DataParallel) is stripped when every key has it.
     */
    public TensorFile stateDict() throws IOException {
        return stateDict((AutoCloseable) null);
    }

    /** The state dict under {@code containerKey} (a top-level key, or a dotted path of nested keys). */
    public TensorFile stateDict(String containerKey) throws IOException {
        return build(resolve(containerKey), containerKey, null);
    }

    /** The key {@link #stateDict()} uses ("" when the root itself is the state dict). */
    public String stateDictKey() throws IOException {
        if (root instanceof Map<?, ?> m) {
            for (String k : STATE_DICT_KEYS) {
                if (m.get(k) instanceof Map<?, ?> sub && holdsTensors(sub)) return k;
            }
            boolean anyTensor = m.values().stream().anyMatch(v -> v instanceof TensorSource);
            boolean nestedTensors = m.values().stream().anyMatch(v -> v instanceof Map<?, ?> sub && holdsTensors(sub));
            if (anyTensor && !nestedTensors) return "";
            throw new IOException(path + ": no state dict found: top-level keys " + m.keySet()
                    + "; pass one of them to TorchCheckpoint.stateDict(key), or use allTensors()");
        }
        if (root instanceof PickledObject p) {
            throw new IOException(path + ": holds a pickled " + p.qualifiedName() + " object (a whole model saved with "
                    + "torch.save(model)?); save model.state_dict() instead, or read its tensors with TorchCheckpoint.allTensors()");
        }
        throw new IOException(path + ": the checkpoint root is a " + (root == null ? "None" : root.getClass().getSimpleName())
                + ", not a dict of tensors");
    }

    TensorFile stateDict(AutoCloseable closer) throws IOException {
        String key = stateDictKey();
        Object container = key.isEmpty() ? root : ((Map<?, ?>) root).get(key);
        return build(container, key, closer);
    }

    private Object resolve(String containerKey) throws IOException {
        if (root instanceof Map<?, ?> m && m.containsKey(containerKey)) return m.get(containerKey);
        Object node = root;
        for (String part : containerKey.split("\\.")) {
            if (!(node instanceof Map<?, ?> m) || !m.containsKey(part)) {
                throw new IOException(path + ": no container '" + containerKey + "'"
                        + (root instanceof Map<?, ?> r ? " (top-level keys " + r.keySet() + ")" : ""));
            }
            node = m.get(part);
        }
        return node;
    }

    private TensorFile build(Object container, String containerKey, AutoCloseable closer) throws IOException {
        if (!(container instanceof Map<?, ?>)) {
            throw new IOException(path + ": '" + containerKey + "' is a " + (container == null ? "None" : container.getClass().getSimpleName())
                    + ", not a dict of tensors");
        }
        Map<String, TensorSource> flat = new LinkedHashMap<>();
        new Walker(path, flat, true).walk(container, "");
        boolean allModule = !flat.isEmpty() && flat.keySet().stream().allMatch(k -> k.startsWith("module."));
        Map<String, TensorSource> out = new LinkedHashMap<>();
        for (Map.Entry<String, TensorSource> e : flat.entrySet()) {
            String k = allModule ? e.getKey().substring("module.".length()) : e.getKey();
            TorchTensor t = (TorchTensor) e.getValue();
            out.put(k, t.key().equals(k) ? t : t.withKey(k));
        }
        return new TensorFile(path, out, Map.of(), closer);
    }

    private static boolean holdsTensors(Map<?, ?> m) {
        for (Object v : m.values()) {
            if (v instanceof TensorSource) return true;
            if (v instanceof Map<?, ?> sub && holdsTensors(sub)) return true;
        }
        return false;
    }

    /** Closes the zip file; tensors can no longer be loaded. */
    @Override
    public void close() throws IOException {
        archive.close();
    }

    @Override
    public String toString() {
        return "TorchCheckpoint[" + path + ", " + allTensors.size() + " tensors]";
    }

    /** Collects tensors under dotted paths, checking each; guards against cycles and runaway nesting. */
    private static final class Walker {
        private final Path path;
        private final Map<String, TensorSource> out;
        private final boolean mapsOnly;
        private final Set<Object> ancestors = Collections.newSetFromMap(new IdentityHashMap<>());
        private long visits;

        Walker(Path path, Map<String, TensorSource> out, boolean mapsOnly) {
            this.path = path;
            this.out = out;
            this.mapsOnly = mapsOnly;
        }

        void walk(Object node, String at) throws IOException {
            walk(node, at, 0);
        }

        private void walk(Object node, String at, int depth) throws IOException {
            if (++visits > MAX_VISITS) throw new IOException(path + ": object graph too large to walk");
            if (depth > MAX_DEPTH) throw new IOException(path + ": objects nested deeper than " + MAX_DEPTH + " levels at '" + at + "'");
            if (node instanceof TorchTensor t) {
                String problem = t.problem();
                if (problem != null) {
                    throw new IOException(path + ": tensor '" + (at.isEmpty() ? "<root>" : at) + "' cannot be reconstructed: " + problem);
                }
                t.assignKey(at);
                out.put(at, t.key().equals(at) ? t : t.withKey(at));
                return;
            }
            boolean container = node instanceof Map || node instanceof List || node instanceof Object[]
                    || node instanceof Set || node instanceof PickledObject;
            if (!container || (mapsOnly && !(node instanceof Map))) return;
            if (!ancestors.add(node)) return; // a cycle: already on the current path
            try {
                if (node instanceof Map<?, ?> m) {
                    for (Map.Entry<?, ?> e : m.entrySet()) walk(e.getValue(), join(at, e.getKey()), depth + 1);
                } else if (node instanceof List<?> l) {
                    for (int i = 0; i < l.size(); i++) walk(l.get(i), join(at, i), depth + 1);
                } else if (node instanceof Object[] a) {
                    for (int i = 0; i < a.length; i++) walk(a[i], join(at, i), depth + 1);
                } else if (node instanceof Set<?> s) {
                    int i = 0;
                    for (Object v : new ArrayList<>(s)) walk(v, join(at, i++), depth + 1);
                } else {
                    PickledObject p = (PickledObject) node;
                    for (int i = 0; i < p.args().size(); i++) walk(p.args().get(i), join(at, i), depth + 1);
                    for (Map.Entry<?, ?> e : p.kwargs().entrySet()) walk(e.getValue(), join(at, e.getKey()), depth + 1);
                    Object state = p.state();
                    if (state instanceof Object[] t && t.length == 2) { // (dict state, slot state)
                        walk(t[0], at, depth + 1);
                        walk(t[1], at, depth + 1);
                    } else if (state instanceof Map<?, ?>) {
                        walk(state, at, depth + 1);
                    } else if (state != null) {
                        walk(state, join(at, "state"), depth + 1);
                    }
                    for (int i = 0; i < p.listItems().size(); i++) walk(p.listItems().get(i), join(at, i), depth + 1);
                    for (Map.Entry<?, ?> e : p.dictItems().entrySet()) walk(e.getValue(), join(at, e.getKey()), depth + 1);
                }
            } finally {
                ancestors.remove(node);
            }
        }

        private static String join(String at, Object key) {
            String k = key instanceof Boolean b ? (b ? "True" : "False") : String.valueOf(key);
            return at.isEmpty() ? k : at + "." + k;
        }
    }
}
