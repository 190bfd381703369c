package org.lavie4j.core.io;

import org.lavie4j.core.Memory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (huggingface/safetensors): {@code u64-LE N}, {@code N} bytes of JSON
 * {@code {"key": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}} (padded
 * with spaces), then the little-endian row-major data, offsets relative to its start.
 *
 * <p>Reading maps the file (one mapping per file up to 2 GB; above that one mapping per tensor, made on load) and
 * validates the whole header up front. Writing is atomic (see {@link AtomicFiles}) and produces files the Python
 * {@code safetensors} library reads: header padded to 8 bytes, data contiguous in the given key order.
 */
public final class SafeTensors {
    /** The Python reference refuses headers above 100 MB; so do we. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final String METADATA = "__metadata__";
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private SafeTensors() {}

    // ------------------------------------------------------------------------------------------------ reading

    /** Opens a safetensors file; tensors load lazily from the memory-mapped file. */
    public static TensorFile read(Path path) throws IOException {
        return read(path, Integer.MAX_VALUE);
    }

    /** As {@link #read(Path)}; files larger than {@code mapLimit} bytes are mapped per tensor (tests use a small limit). */
    static TensorFile read(Path path, long mapLimit) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long size = ch.size();
            if (size < 8) {
                throw new IOException(path + ": truncated safetensors file (" + size
                        + " bytes; the format starts with an 8-byte header length)");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, path);
            long n = lenBuf.getLong(0);
            if (n < 0 || n > size - 8) {
                throw new IOException(path + ": safetensors header length " + Long.toUnsignedString(n)
                        + " is larger than the file (" + size + " bytes): truncated or not a safetensors file");
            }
            if (n > MAX_HEADER_BYTES) {
                throw new IOException(path + ": safetensors header of " + n + " bytes exceeds the " + MAX_HEADER_BYTES + " byte limit");
            }
            if (n < 2) throw new IOException(path + ": safetensors header of " + n + " bytes is too short for a JSON object");
            ByteBuffer headerBuf = ByteBuffer.allocate((int) n);
            readFully(ch, headerBuf, 8, path);
            byte[] header = headerBuf.array();
            if (header[0] != '{') {
                throw new IOException(path + ": safetensors header does not start with '{' (not a safetensors file?)");
            }
            long dataStart = 8 + n;
            long dataLen = size - dataStart;
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Entry> entries = parseHeader(path, header, dataLen, metadata);

            Backing backing;
            if (size <= mapLimit) {
                MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
                map.order(ByteOrder.LITTLE_ENDIAN);
                ch.close();
                backing = new Backing(path, dataStart, map, null);
            } else {
                backing = new Backing(path, dataStart, null, ch);
            }
            Map<String, TensorSource> tensors = new LinkedHashMap<>();
            for (Entry e : entries) tensors.put(e.key, new Source(e, backing));
            return new TensorFile(path, tensors, metadata, backing);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private record Entry(String key, DType dtype, long[] shape, long begin, long end) {}

    private static List<Entry> parseHeader(Path path, byte[] header, long dataLen, Map<String, String> metadata)
            throws IOException {
        JsonNode root;
        try {
            root = MAPPER.readTree(new String(header, StandardCharsets.UTF_8).stripTrailing());
        } catch (JsonProcessingException e) {
            throw new IOException(path + ": invalid safetensors JSON header: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) throw new IOException(path + ": safetensors header is not a JSON object");
        List<Entry> entries = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> it = root.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> f = it.next();
            String key = f.getKey();
            JsonNode v = f.getValue();
            if (METADATA.equals(key)) {
                if (!v.isObject()) throw new IOException(path + ": __metadata__ must be an object of strings");
                Iterator<Map.Entry<String, JsonNode>> m = v.fields();
                while (m.hasNext()) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw new IOException(path + ": __metadata__ value of '" + kv.getKey() + "' is not a string");
                    }
                    metadata.put(kv.getKey(), kv.getValue().textValue());
                }
                continue;
            }
            String where = path + ": tensor '" + key + "'";
            if (!v.isObject()) throw new IOException(where + ": header entry is not an object");
            JsonNode dt = v.get("dtype");
            if (dt == null || !dt.isTextual()) throw new IOException(where + ": missing dtype");
            DType dtype;
            try {
                dtype = DType.fromSafetensors(dt.textValue());
            } catch (IllegalArgumentException e) {
                throw new IOException(where + ": " + e.getMessage(), e);
            }
            long[] shape = longs(v.get("shape"), -1, where, "shape");
            for (long s : shape) {
                if (s < 0) throw new IOException(where + ": negative dimension in shape " + Arrays.toString(shape));
            }
            long[] off = longs(v.get("data_offsets"), 2, where, "data_offsets");
            if (off[0] < 0 || off[1] < off[0]) {
                throw new IOException(where + ": invalid data_offsets " + Arrays.toString(off));
            }
            long need;
            try {
                need = NdBytes.nbytes(dtype, shape);
            } catch (ArithmeticException e) {
                throw new IOException(where + ": shape " + Arrays.toString(shape) + " is too large", e);
            }
            if (off[1] - off[0] != need) {
                throw new IOException(where + ": data_offsets " + Arrays.toString(off) + " span " + (off[1] - off[0])
                        + " bytes but " + dtype + Arrays.toString(shape) + " needs " + need);
            }
            if (off[1] > dataLen) {
                throw new IOException(where + ": data_offsets " + Arrays.toString(off)
                        + " run beyond the end of the file (data section holds " + dataLen + " bytes; truncated file?)");
            }
            entries.add(new Entry(key, dtype, shape, off[0], off[1]));
        }
        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.removeIf(e -> e.begin == e.end);
        byOffset.sort(Comparator.comparingLong(Entry::begin));
        for (int i = 1; i < byOffset.size(); i++) {
            Entry a = byOffset.get(i - 1), b = byOffset.get(i);
            if (b.begin < a.end) {
                throw new IOException(path + ": tensors '" + a.key + "' " + Arrays.toString(new long[]{a.begin, a.end})
                        + " and '" + b.key + "' " + Arrays.toString(new long[]{b.begin, b.end}) + " overlap");
            }
        }
        return entries;
    }

    private static long[] longs(JsonNode node, int expectedLength, String where, String field) throws IOException {
        if (node == null || !node.isArray()) throw new IOException(where + ": missing or non-array " + field);
        if (expectedLength >= 0 && node.size() != expectedLength) {
            throw new IOException(where + ": " + field + " must have " + expectedLength + " entries, has " + node.size());
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode x = node.get(i);
            if (!x.isIntegralNumber() || !x.canConvertToLong()) throw new IOException(where + ": " + field + " holds a non-integer " + x);
            out[i] = x.longValue();
        }
        return out;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path path) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos + buf.position());
            if (r < 0) throw new IOException(path + ": unexpected end of file");
        }
    }

    /** The file's mapping (or channel, above 2 GB) shared by its sources. */
    private static final class Backing implements AutoCloseable {
        private final Path path;
        private final long dataStart;
        private volatile ByteBuffer map;
        private final FileChannel channel;
        private volatile boolean closed;

        Backing(Path path, long dataStart, ByteBuffer map, FileChannel channel) {
            this.path = path;
            this.dataStart = dataStart;
            this.map = map;
            this.channel = channel;
        }

        /** The bytes [begin, end) of the data section, little-endian. */
        ByteBuffer slice(String key, long begin, long end) {
            if (closed) throw new IllegalStateException(path + " is closed (loading '" + key + "')");
            long len = end - begin;
            if (len > Integer.MAX_VALUE) {
                throw new IllegalStateException(path + ": tensor '" + key + "' of " + len + " bytes exceeds the 2 GB a single load supports");
            }
            ByteBuffer m = map;
            if (m != null) {
                ByteBuffer d = m.duplicate();
                d.limit((int) (dataStart + end)).position((int) (dataStart + begin));
                return d.slice().order(ByteOrder.LITTLE_ENDIAN);
            }
            try {
                return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + begin, len).order(ByteOrder.LITTLE_ENDIAN);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(path + ": cannot map tensor '" + key + "'", e);
            }
        }

        @Override
        public void close() throws IOException {
            closed = true;
            map = null; // unmapped when collected
            if (channel != null) channel.close();
        }
    }

    /** A lazily loaded tensor of a mapped file. */
    private static final class Source implements FileBacked {
        private final Entry e;
        private final Backing backing;

        Source(Entry e, Backing backing) {
            this.e = e;
            this.backing = backing;
        }

        @Override public String key() { return e.key; }
        @Override public DType dtype() { return e.dtype; }
        @Override public long[] shape() { return e.shape.clone(); }

        @Override
        public INDArray load() {
            return NdBytes.toArray(e.dtype, e.shape, backing.slice(e.key, e.begin, e.end));
        }

        @Override
        public String toString() { return e.key + " " + e.dtype + Arrays.toString(e.shape); }
    }

    // ------------------------------------------------------------------------------------------------ writing

    /** Writes {@code tensors} (in iteration order) and {@code metadata} (may be null) atomically to {@code path}. */
    public static void write(Path path, Map<String, INDArray> tensors, Map<String, String> metadata) throws IOException {
        Map<String, TensorSource> sources = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> t : tensors.entrySet()) sources.put(t.getKey(), TensorSource.of(t.getKey(), t.getValue()));
        write(path, sources, metadata, null);
    }

    /**
     * Writes the sources (in iteration order, under the map's keys) atomically to {@code path}, loading one tensor at
     * a time. When {@code floatType} is not null, floating-point tensors are converted to it (e.g. {@link DType#F16}
     * for half-precision weights); other tensors keep their dtype.
     */
    public static void write(Path path, Map<String, ? extends TensorSource> tensors, Map<String, String> metadata,
                             DType floatType) throws IOException {
        if (floatType != null && !floatType.isFloatingPoint()) {
            throw new IllegalArgumentException("floatType must be a floating-point dtype, got " + floatType);
        }
        record Planned(String key, TensorSource src, DType dtype, long[] shape, long nbytes) {}
        List<Planned> plan = new ArrayList<>();
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                if (m.getKey() == null || m.getValue() == null) throw new IllegalArgumentException("null key or value in metadata of " + path);
            }
            header.put(METADATA, new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (Map.Entry<String, ? extends TensorSource> t : tensors.entrySet()) {
            String key = t.getKey();
            if (key == null || key.isEmpty() || METADATA.equals(key)) {
                throw new IllegalArgumentException("invalid tensor key '" + key + "' for " + path);
            }
            TensorSource src = t.getValue();
            DType dtype = floatType != null && src.dtype().isFloatingPoint() ? floatType : src.dtype();
            long[] shape = src.shape();
            long nbytes = NdBytes.nbytes(dtype, shape);
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", dtype.safetensorsName());
            entry.put("shape", shape);
            entry.put("data_offsets", new long[]{offset, offset + nbytes});
            header.put(key, entry);
            plan.add(new Planned(key, src, dtype, shape, nbytes));
            offset += nbytes;
        }
        byte[] json = MAPPER.writeValueAsBytes(header);
        int pad = (8 - json.length % 8) % 8;
        ByteBuffer head = ByteBuffer.allocate(8 + json.length + pad).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(json.length + pad).put(json);
        for (int i = 0; i < pad; i++) head.put((byte) ' ');
        head.flip();

        AtomicFiles.write(path, out -> {
            AtomicFiles.writeFully(out, head);
            for (Planned p : plan) {
                INDArray raw = p.src.load();
                INDArray conv = raw;
                try {
                    if (!Arrays.equals(raw.shape(), p.shape)) {
                        throw new IOException("tensor '" + p.key + "' declared shape " + Arrays.toString(p.shape)
                                + " but loaded " + Arrays.toString(raw.shape()));
                    }
                    if (raw.dataType() != p.dtype.nd4j()) conv = raw.castTo(p.dtype.nd4j());
                    ByteBuffer bytes = NdBytes.toBytes(conv);
                    if (bytes.remaining() != p.nbytes) {
                        throw new IOException("tensor '" + p.key + "' produced " + bytes.remaining() + " bytes, expected " + p.nbytes);
                    }
                    AtomicFiles.writeFully(out, bytes);
                } finally {
                    if (conv != raw) Memory.free(conv);
                    if (p.src instanceof FileBacked) Memory.free(raw);
                }
            }
        });
    }
}
