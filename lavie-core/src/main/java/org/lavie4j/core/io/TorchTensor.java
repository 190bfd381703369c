package org.lavie4j.core.io;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A tensor of a PyTorch zip checkpoint: a view {@code (storage_offset, size, stride)} into a storage, which is the
 * zip entry {@code <archive>/data/<key>}. Nothing is read until {@link #load()}, which reads the span of the storage
 * the view covers and gathers the elements in row-major order (several tensors may share one storage).
 */
final class TorchTensor implements FileBacked {

    /** The open zip archive a checkpoint's storages live in. */
    static final class Archive implements AutoCloseable {
        final Path path;
        final ZipFile zip;
        final String prefix;
        final boolean bigEndian;
        private volatile boolean closed;

        Archive(Path path, ZipFile zip, String prefix, boolean bigEndian) {
            this.path = path;
            this.zip = zip;
            this.prefix = prefix;
            this.bigEndian = bigEndian;
        }

        ZipEntry entry(String storageKey) {
            return zip.getEntry(prefix + "data/" + storageKey);
        }

        /** Bytes [offset, offset + len) of the storage entry. */
        byte[] read(String storageKey, long offset, int len, String tensorKey) {
            if (closed) throw new IllegalStateException(path + " is closed (loading '" + tensorKey + "')");
            ZipEntry e = entry(storageKey);
            if (e == null) throw new IllegalStateException(path + ": no data entry for storage " + storageKey);
            try (InputStream in = zip.getInputStream(e)) {
                in.skipNBytes(offset);
                byte[] out = in.readNBytes(len);
                if (out.length != len) {
                    throw new IOException("storage " + storageKey + " ends after " + (offset + out.length) + " bytes");
                }
                return out;
            } catch (IOException ex) {
                throw new UncheckedIOException(path + ": cannot read tensor '" + tensorKey + "'", ex);
            }
        }

        @Override
        public void close() throws IOException {
            closed = true;
            zip.close();
        }
    }

    /** A storage named by a persistent id {@code ('storage', torch.FloatStorage, key, location, numel)}. */
    record Storage(Archive archive, String key, String typeName, DType dtype, String location, long numel) {}

    private final Object storage;
    private final long offset;
    private final long[] shape;
    private final long[] stride;
    private final String problem;
    private String key;

    private TorchTensor(Object storage, long offset, long[] shape, long[] stride, String problem, String key) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.stride = stride;
        this.problem = problem;
        this.key = key;
    }

    /** From the arguments of {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, ...)}. */
    static TorchTensor rebuild(Object storage, Object offset, Object size, Object stride) {
        String problem = null;
        long off = 0;
        long[] sh = new long[0], st = new long[0];
        try {
            off = toLong(offset, "storage_offset");
            sh = toLongs(size, "size");
            st = toLongs(stride, "stride");
            if (sh.length != st.length) problem = "size " + Arrays.toString(sh) + " and stride " + Arrays.toString(st) + " differ in rank";
            else if (off < 0) problem = "negative storage offset " + off;
            else {
                for (int i = 0; i < sh.length; i++) {
                    if (sh[i] < 0) problem = "negative size " + Arrays.toString(sh);
                    else if (st[i] < 0) problem = "negative stride " + Arrays.toString(st);
                }
                NdBytes.numel(sh);
            }
        } catch (IllegalArgumentException | ArithmeticException e) {
            problem = e.getMessage();
        }
        if (problem == null) {
            if (!(storage instanceof Storage s)) problem = "its storage is not a storage persistent id (" + describe(storage) + ")";
            else if (s.dtype() == null) problem = "unsupported storage type torch." + s.typeName();
        }
        return new TorchTensor(storage, off, sh, st, problem, "");
    }

    private static String describe(Object o) {
        return o == null ? "None" : o instanceof PickledObject p ? p.qualifiedName() : o.getClass().getSimpleName();
    }

    private static long toLong(Object o, String what) {
        if (o instanceof Number n && !(o instanceof Double) && !(o instanceof Float)) return n.longValue();
        throw new IllegalArgumentException(what + " is not an integer: " + describe(o));
    }

    private static long[] toLongs(Object o, String what) {
        Object[] items;
        if (o instanceof Object[] t) items = t;
        else if (o instanceof java.util.List<?> l) items = l.toArray();
        else throw new IllegalArgumentException(what + " is not a tuple: " + describe(o));
        long[] out = new long[items.length];
        for (int i = 0; i < items.length; i++) out[i] = toLong(items[i], what);
        return out;
    }

    /** Why this tensor cannot be reconstructed, or null when it can (checks the zip entry and its size). */
    String problem() {
        if (problem != null) return problem;
        Storage s = (Storage) storage;
        ZipEntry e = s.archive().entry(s.key());
        if (numel() == 0) return null;
        if (e == null) return "missing data entry " + s.archive().prefix + "data/" + s.key();
        long es = s.dtype().bytes();
        long end;
        try {
            end = Math.multiplyExact(Math.addExact(offset, maxIndex()) + 1, es);
        } catch (ArithmeticException ex) {
            return "offsets overflow";
        }
        long size = e.getSize();
        if (size >= 0 && end > size) {
            return "storage offset " + offset + ", size " + Arrays.toString(shape) + ", stride " + Arrays.toString(stride)
                    + " reach byte " + end + " but storage " + s.key() + " holds " + size + " bytes";
        }
        if (end - offset * es > Integer.MAX_VALUE - 8) return "tensor spans more than the 2 GB a single load supports";
        return null;
    }

    private long maxIndex() {
        long m = 0;
        for (int i = 0; i < shape.length; i++) m = Math.addExact(m, Math.multiplyExact(shape[i] - 1, stride[i]));
        return m;
    }

    void assignKey(String key) {
        if (this.key.isEmpty()) this.key = key;
    }

    /** The same tensor under another key. */
    TorchTensor withKey(String key) {
        return new TorchTensor(storage, offset, shape, stride, problem, key);
    }

    /** The storage key inside the archive ({@code data/<key>}). */
    String storageKey() { return ((Storage) storage).key(); }

    long storageOffset() { return offset; }

    long[] stride() { return stride.clone(); }

    @Override public String key() { return key; }

    @Override public DType dtype() { return storage instanceof Storage s && s.dtype() != null ? s.dtype() : DType.U8; }

    @Override public long[] shape() { return shape.clone(); }

    @Override
    public INDArray load() {
        if (problem != null) throw new IllegalStateException("tensor '" + key + "' cannot be reconstructed: " + problem);
        Storage s = (Storage) storage;
        DType dtype = s.dtype();
        int es = dtype.bytes();
        long n = numel();
        if (n == 0) return NdBytes.toArray(dtype, shape, new byte[0]);
        long span = (maxIndex() + 1) * es;
        byte[] raw = s.archive().read(s.key(), offset * es, Math.toIntExact(span), key);
        if (s.archive().bigEndian) NdBytes.swap(raw, es);
        if (NdBytes.isCContiguous(shape, stride)) return NdBytes.toArray(dtype, shape, raw);
        byte[] out = new byte[Math.toIntExact(n * es)];
        int rank = shape.length;
        long[] idx = new long[rank];
        long src = 0;
        for (long k = 0; k < n; k++) {
            System.arraycopy(raw, (int) (src * es), out, (int) (k * es), es);
            for (int d = rank - 1; d >= 0; d--) {   // next row-major index; src follows the strides
                if (++idx[d] < shape[d]) {
                    src += stride[d];
                    break;
                }
                src -= (shape[d] - 1) * stride[d];
                idx[d] = 0;
            }
        }
        return NdBytes.toArray(dtype, shape, out);
    }

    @Override
    public String toString() {
        return (key.isEmpty() ? "tensor" : key) + " " + dtype() + Arrays.toString(shape);
    }
}
