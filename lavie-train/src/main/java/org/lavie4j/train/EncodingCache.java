package org.lavie4j.train;

import org.lavie4j.core.Memory;
import org.lavie4j.core.Module;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Caches of the frozen encoders' outputs during training ({@link TrainConfig.Caching}): the text encoder's states per
 * caption, and the VAE posterior (mean and standard deviation) of a sample's frames keyed by a SHA-256 of the frames'
 * values, the VAE's weights and the encoding settings. Entries live in memory, least recently used evicted beyond the
 * byte budget, and posteriors optionally also in a folder of safetensors files ({@code <key>.safetensors} with
 * {@code mean} and {@code std}), written atomically and reused by later runs; an unreadable file is recomputed (and
 * rewritten) with a warning, never an error. Arrays handed out are copies the caller owns.
 */
final class EncodingCache {
    private static final Logger LOG = LoggerFactory.getLogger(EncodingCache.class);

    private final LinkedHashMap<String, INDArray[]> memory = new LinkedHashMap<>(64, 0.75f, true);   // access order
    private final long maxBytes;
    private final Path latentDir;
    private final byte[] encoderKey;
    private long bytes, textHits, textMisses, latentHits, latentMisses, diskHits;

    /**
     * @param maxBytes   memory budget of the cached arrays
     * @param latentDir  folder for posteriors on disk (created when needed), or null for memory only
     * @param vae        the (frozen) VAE, whose weights enter every posterior's key; null when only text is cached
     * @param settings   anything else that changes the posteriors (e.g. frames per VAE call), part of the key
     */
    EncodingCache(long maxBytes, Path latentDir, Module vae, String settings) {
        this.maxBytes = maxBytes;
        this.latentDir = latentDir;
        MessageDigest d = sha256();
        if (vae != null)                                            // null: no posteriors are cached
            vae.namedEntries().forEach((k, p) -> {
                d.update(k.getBytes(StandardCharsets.UTF_8));
                update(d, p.data());
            });
        d.update(settings.getBytes(StandardCharsets.UTF_8));
        encoderKey = d.digest();
    }

    /** The text states of {@code caption} (a copy), from the cache or {@code encode} (which gets the caption alone). */
    INDArray text(String caption, Function<String, INDArray> encode) {
        String key = "text:" + caption;
        INDArray[] hit = memory.get(key);
        if (hit != null) {
            textHits++;
            return hit[0].dup('c');
        }
        textMisses++;
        INDArray states = encode.apply(caption);
        put(key, new INDArray[]{states});
        return states.dup('c');
    }

    /**
     * The posterior {mean, std} of one sample's frames {@code pixels} (a copy of each), from memory, the latent folder
     * or {@code encode} (which gets the sample's pixels alone and returns fresh arrays).
     */
    INDArray[] posterior(INDArray pixels, Function<INDArray, INDArray[]> encode) {
        String key = latentKey(pixels);
        INDArray[] hit = memory.get(key);
        if (hit != null) {
            latentHits++;
            return new INDArray[]{hit[0].dup('c'), hit[1].dup('c')};
        }
        INDArray[] found = readDisk(key);
        if (found != null) {
            diskHits++;
            latentHits++;
        } else {
            latentMisses++;
            found = encode.apply(pixels);
            writeDisk(key, found);
        }
        put(key, found);
        return new INDArray[]{found[0].dup('c'), found[1].dup('c')};
    }

    /** One line for the log: hits and misses of each cache and the memory held. */
    String summary() {
        return String.format(java.util.Locale.ROOT, "text %d hits / %d encoded; latents %d hits (%d from disk) / %d encoded; %.1f MB held",
                textHits, textMisses, latentHits, diskHits, latentMisses, bytes / 1e6);
    }

    long textHits() { return textHits; }

    long latentHits() { return latentHits; }

    long diskHits() { return diskHits; }

    /** Frees everything held in memory. */
    void clear() {
        for (INDArray[] v : memory.values()) Memory.free(v);
        memory.clear();
        bytes = 0;
    }

    // ------------------------------------------------------------------------------------------------ internals

    private void put(String key, INDArray[] value) {
        long size = 0;
        for (INDArray a : value) size += a.length() * a.dataType().width();
        INDArray[] old = memory.put(key, value);
        if (old != null) Memory.free(old);
        bytes += size;
        Iterator<Map.Entry<String, INDArray[]>> it = memory.entrySet().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            Map.Entry<String, INDArray[]> e = it.next();
            if (e.getKey().equals(key)) continue;                  // the newest entry stays, even when alone over budget
            for (INDArray a : e.getValue()) bytes -= a.length() * a.dataType().width();
            Memory.free(e.getValue());
            it.remove();
        }
    }

    private String latentKey(INDArray pixels) {
        MessageDigest d = sha256();
        d.update(encoderKey);
        d.update(java.util.Arrays.toString(pixels.shape()).getBytes(StandardCharsets.UTF_8));
        d.update(pixels.dataType().name().getBytes(StandardCharsets.UTF_8));
        update(d, pixels);
        return "latent:" + HexFormat.of().formatHex(d.digest(), 0, 20);
    }

    private Path file(String key) {
        return latentDir.resolve(key.substring("latent:".length()) + ".safetensors");
    }

    private INDArray[] readDisk(String key) {
        if (latentDir == null) return null;
        Path f = file(key);
        if (!Files.isRegularFile(f)) return null;
        try (TensorFile t = SafeTensors.read(f)) {
            if (!t.contains("mean") || !t.contains("std")) throw new IllegalArgumentException("no 'mean' and 'std' tensors");
            INDArray mean = t.asMap().get("mean").load().dup('c'), std = t.asMap().get("std").load().dup('c');
            return new INDArray[]{mean, std};
        } catch (IOException | RuntimeException e) {
            LOG.warn("latent cache: {} is unreadable ({}); encoding again", f, e.getMessage());
            return null;
        }
    }

    private void writeDisk(String key, INDArray[] posterior) {
        if (latentDir == null) return;
        try {
            Files.createDirectories(latentDir);
            Map<String, INDArray> tensors = new LinkedHashMap<>();
            tensors.put("mean", posterior[0]);
            tensors.put("std", posterior[1]);
            SafeTensors.write(file(key), tensors, Map.of("format", "lavie4j-latent-cache"));
        } catch (IOException e) {
            LOG.warn("latent cache: cannot write {} ({}); continuing without it", file(key), e.getMessage());
        }
    }

    private static void update(MessageDigest d, INDArray a) {
        INDArray c = a.ordering() == 'c' && !a.isView() ? a : a.dup('c');
        ByteBuffer buf = c.data().asNio().order(ByteOrder.nativeOrder());
        long n = c.length() * c.dataType().width();
        ByteBuffer view = buf.duplicate();
        view.position(0);
        view.limit((int) Math.min(n, view.capacity()));
        d.update(view);
        if (c != a) Memory.free(c);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
