package org.lavie4j.core.io;

import net.razorvine.pickle.Opcodes;
import net.razorvine.pickle.PickleException;
import net.razorvine.pickle.PickleUtils;
import net.razorvine.pickle.Unpickler;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * Unpickles a PyTorch checkpoint's {@code data.pkl} without executing anything. razorvine's {@link Unpickler} runs the
 * pickle machine; the opcodes that would name or call code are handled here instead:
 * <ul>
 *   <li>GLOBAL / STACK_GLOBAL push a {@link PickledGlobal} (a name, never a loaded class);</li>
 *   <li>REDUCE / NEWOBJ / NEWOBJ_EX / INST / OBJ build, from a fixed list of known callables, tensors
 *       ({@code torch._utils._rebuild_tensor_v2}, {@code _rebuild_tensor}, {@code _rebuild_parameter}...), ordered
 *       dicts, sets and bytes; every other call becomes an inert {@link PickledObject};</li>
 *   <li>BUILD stores the state on a {@link PickledObject} (ignored elsewhere);</li>
 *   <li>dicts are insertion-ordered ({@link LinkedHashMap}), as in Python;</li>
 *   <li>length-prefixed strings and bytes are checked against the remaining input before allocating;</li>
 *   <li>persistent ids {@code ('storage', torch.FloatStorage, key, location, numel)} become storages.</li>
 * </ul>
 */
final class TorchUnpickler extends Unpickler {
    private final TorchTensor.Archive archive;
    private final Map<String, TorchTensor.Storage> storages = new HashMap<>();
    private ByteArrayInputStream in;

    TorchUnpickler(TorchTensor.Archive archive) {
        this.archive = archive;
    }

    /** Unpickles {@code bytes}; the result is the pickle's root object. */
    Object unpickle(byte[] bytes) throws IOException {
        in = new ByteArrayInputStream(bytes);
        return load(in);
    }

    @Override
    protected Object dispatch(short key) throws PickleException, IOException {
        switch (key) {
            case Opcodes.GLOBAL: {
                String module = PickleUtils.readline(input);
                String name = PickleUtils.readline(input);
                stack.add(new PickledGlobal(module, name));
                return NO_RETURN_VALUE;
            }
            case Opcodes.STACK_GLOBAL: {
                Object name = stack.pop();
                Object module = stack.pop();
                if (!(name instanceof String) || !(module instanceof String)) throw new PickleException("STACK_GLOBAL needs two strings");
                stack.add(new PickledGlobal((String) module, (String) name));
                return NO_RETURN_VALUE;
            }
            case Opcodes.REDUCE: {
                Object args = stack.pop();
                Object callable = stack.pop();
                stack.add(call(callable, asList(args), null));
                return NO_RETURN_VALUE;
            }
            case Opcodes.NEWOBJ: {
                Object args = stack.pop();
                Object cls = stack.pop();
                stack.add(call(cls, asList(args), null));
                return NO_RETURN_VALUE;
            }
            case Opcodes.NEWOBJ_EX: {
                Object kwargs = stack.pop();
                Object args = stack.pop();
                Object cls = stack.pop();
                stack.add(call(cls, asList(args), kwargs instanceof Map<?, ?> m ? new LinkedHashMap<>(m) : null));
                return NO_RETURN_VALUE;
            }
            case Opcodes.INST: {
                String module = PickleUtils.readline(input);
                String name = PickleUtils.readline(input);
                List<Object> args = stack.pop_all_since_marker();
                stack.add(call(new PickledGlobal(module, name), args, null));
                return NO_RETURN_VALUE;
            }
            case Opcodes.OBJ: {
                List<Object> items = stack.pop_all_since_marker();
                if (items.isEmpty()) throw new PickleException("OBJ without a class");
                stack.add(call(items.get(0), items.subList(1, items.size()), null));
                return NO_RETURN_VALUE;
            }
            case Opcodes.BUILD: {
                Object state = stack.pop();
                Object target = stack.peek();
                if (target instanceof PickledObject p) p.setState(state);
                // dicts (an OrderedDict's _metadata), tensors (hooks) and sets: state not needed, dropped
                return NO_RETURN_VALUE;
            }
            case Opcodes.EMPTY_DICT:
                stack.add(new LinkedHashMap<>());
                return NO_RETURN_VALUE;
            case Opcodes.DICT: {
                List<Object> items = stack.pop_all_since_marker();
                Map<Object, Object> map = new LinkedHashMap<>();
                putPairs(map, null, items);
                stack.add(map);
                return NO_RETURN_VALUE;
            }
            case Opcodes.SETITEM: {
                Object value = stack.pop();
                Object k = stack.pop();
                putPairs(null, stack.peek(), Arrays.asList(k, value));
                return NO_RETURN_VALUE;
            }
            case Opcodes.SETITEMS: {
                List<Object> items = stack.pop_all_since_marker();
                putPairs(null, stack.peek(), items);
                return NO_RETURN_VALUE;
            }
            case Opcodes.APPEND: {
                Object value = stack.pop();
                append(stack.peek(), Arrays.asList(value));
                return NO_RETURN_VALUE;
            }
            case Opcodes.APPENDS: {
                List<Object> items = stack.pop_all_since_marker();
                append(stack.peek(), items);
                return NO_RETURN_VALUE;
            }
            case Opcodes.EXT1:
            case Opcodes.EXT2:
            case Opcodes.EXT4:
            case Opcodes.NEXT_BUFFER:
            case Opcodes.READONLY_BUFFER:
                throw new PickleException("unsupported pickle opcode 0x" + Integer.toHexString(key));
            case Opcodes.BINSTRING:
                stack.add(PickleUtils.rawStringFromBytes(bytes(int32())));
                return NO_RETURN_VALUE;
            case Opcodes.BINBYTES:
                stack.add(bytes(uint32()));
                return NO_RETURN_VALUE;
            case Opcodes.BINUNICODE:
                stack.add(new String(bytes(uint32()), StandardCharsets.UTF_8));
                return NO_RETURN_VALUE;
            case Opcodes.BINUNICODE8:
                stack.add(new String(bytes(int64()), StandardCharsets.UTF_8));
                return NO_RETURN_VALUE;
            case Opcodes.BINBYTES8:
            case Opcodes.BYTEARRAY8:
                stack.add(bytes(int64()));
                return NO_RETURN_VALUE;
            case Opcodes.LONG4:
                stack.add(PickleUtils.decode_long(bytes(int32())));
                return NO_RETURN_VALUE;
            default:
                return super.dispatch(key);
        }
    }

    private long int32() throws IOException {
        byte[] b = PickleUtils.readbytes(input, 4);
        return PickleUtils.bytes_to_integer(b);
    }

    private long uint32() throws IOException {
        return PickleUtils.bytes_to_uint(PickleUtils.readbytes(input, 4), 0);
    }

    private long int64() throws IOException {
        return PickleUtils.bytes_to_long(PickleUtils.readbytes(input, 8), 0);
    }

    private byte[] bytes(long n) throws IOException {
        if (n < 0 || n > in.available()) {
            throw new PickleException("pickle claims " + n + " bytes but only " + in.available() + " remain (truncated or corrupt data.pkl)");
        }
        return PickleUtils.readbytes(input, (int) n);
    }

    private static void putPairs(Map<Object, Object> map, Object target, List<Object> items) {
        if (items.size() % 2 != 0) throw new PickleException("odd number of dict items");
        for (int i = 0; i < items.size(); i += 2) {
            Object k = hashable(items.get(i)), v = items.get(i + 1);
            if (map != null) map.put(k, v);
            else if (target instanceof Map<?, ?>) castMap(target).put(k, v);
            else if (target instanceof PickledObject p) p.putDictItem(k, v);
            else throw new PickleException("SETITEM(S) on a " + (target == null ? "None" : target.getClass().getSimpleName()));
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<Object, Object> castMap(Object o) {
        return (Map<Object, Object>) o;
    }

    /** Tuples (Object[]) are not usable as map keys in Java; key them by their contents. */
    private static Object hashable(Object k) {
        return k instanceof Object[] t ? Arrays.asList(t) : k;
    }

    @SuppressWarnings("unchecked")
    private static void append(Object target, List<Object> items) {
        for (Object v : items) {
            if (target instanceof List<?>) ((List<Object>) target).add(v);
            else if (target instanceof PickledObject p) p.addListItem(v);
            else throw new PickleException("APPEND(S) on a " + (target == null ? "None" : target.getClass().getSimpleName()));
        }
    }

    private static List<Object> asList(Object args) {
        if (args instanceof Object[] t) return Arrays.asList(t);
        if (args instanceof List<?> l) return new ArrayList<>(l);
        throw new PickleException("call arguments are not a tuple");
    }

    /** What calling {@code callable(*args)} gives, for the few callables we know; an inert placeholder otherwise. */
    private Object call(Object callable, List<Object> args, Map<Object, Object> kwargs) {
        if (!(callable instanceof PickledGlobal g)) {
            return new PickledObject("<call>", String.valueOf(callable), args, kwargs);
        }
        switch (g.qualifiedName()) {
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                if (args.size() < 4) throw new PickleException(g + " needs at least 4 arguments, got " + args.size());
                return TorchTensor.rebuild(args.get(0), args.get(1), args.get(2), args.get(3));
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                if (args.isEmpty()) throw new PickleException(g + " without arguments");
                return args.get(0);
            case "collections.OrderedDict":
            case "builtins.dict":
            case "__builtin__.dict": {
                Map<Object, Object> map = new LinkedHashMap<>();
                if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> m) map.putAll(m);
                else if (!args.isEmpty() && args.get(0) instanceof List<?> pairs) {
                    for (Object p : pairs) {
                        if (p instanceof Object[] kv && kv.length == 2) map.put(hashable(kv[0]), kv[1]);
                    }
                }
                return map;
            }
            case "builtins.set":
            case "builtins.frozenset":
            case "__builtin__.set":
            case "__builtin__.frozenset":
                return args.isEmpty() || !(args.get(0) instanceof List<?> l) ? new LinkedHashSet<>() : new LinkedHashSet<>(l);
            case "_codecs.encode": // protocol-2 bytes: _codecs.encode(str, 'latin1')
                if (args.size() >= 1 && args.get(0) instanceof String s) {
                    String enc = args.size() > 1 ? String.valueOf(args.get(1)) : "utf-8";
                    return s.getBytes(enc.equalsIgnoreCase("latin1") || enc.equalsIgnoreCase("latin-1")
                            ? StandardCharsets.ISO_8859_1 : StandardCharsets.UTF_8);
                }
                break;
            case "torch.Size":
                if (args.size() == 1) return args.get(0);
                break;
            default:
                break;
        }
        return new PickledObject(g.module(), g.name(), args, kwargs);
    }

    @Override
    protected Object persistentLoad(Object pid) {
        if (!(pid instanceof Object[] t) || t.length < 5 || !"storage".equals(t[0])) {
            return new PickledObject("<persistent_id>", String.valueOf(pid instanceof Object[] a ? Arrays.asList(a) : pid), List.of(), null);
        }
        String typeName = t[1] instanceof PickledGlobal g ? g.name() : String.valueOf(t[1]);
        String key = String.valueOf(t[2]);
        String location = String.valueOf(t[3]);
        long numel = t[4] instanceof Number n ? n.longValue() : -1;
        DType dtype = "UntypedStorage".equals(typeName) ? DType.U8 : DType.fromTorchStorage(typeName);
        return storages.computeIfAbsent(key, k -> new TorchTensor.Storage(archive, k, typeName, dtype, location, numel));
    }
}
