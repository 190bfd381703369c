package org.lavie4j.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.AtomicFiles;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The files of one training checkpoint (inside a {@link CheckpointStore} folder):
 * <pre>
 * unet.safetensors       the live UNet weights, every key of the module tree (the original checkpoint's key names); absent
 *                        for a LoRA run, whose frozen UNet is re-read from the model source (its adapters: lora.safetensors)
 * text_encoder.safetensors  the live text encoder weights (its checkpoint key names), only when the run trains it
 *                        ({@code train_text_encoder})
 * ema.safetensors        the EMA weights under the same keys (absent when the run keeps no EMA); a run that trains the
 *                        text encoder keys them {@code unet.*} and {@code text_encoder.*}
 * optimizer.safetensors  AdamW state: state.KEY.{step, exp_avg, exp_avg_sq}
 * config.json            the run's {@link org.lavie4j.train.TrainConfig}, every default written out
 * trainer.json           {@link TrainerState}: step, data position, EMA updates, seed, RNG scheme, provenance
 * manifest.json          sizes and CRC-32C of the above (written by the store, last)
 * </pre>
 * Tensors keep their dtype (float32 weights stay float32), so a resumed run continues bit for bit. The frozen parts of
 * the model (text encoder, VAE, and a temporal-only run's spatial layers, which stay in {@code unet.safetensors}) are
 * re-read from the config's model source. An open checkpoint maps its tensor files: close it after loading.
 */
public final class TrainCheckpoint implements AutoCloseable {
    public static final String UNET = "unet.safetensors", TEXT_ENCODER = "text_encoder.safetensors", EMA = "ema.safetensors", OPTIMIZER = "optimizer.safetensors",
            CONFIG = "config.json", TRAINER = "trainer.json";

    private final Path dir;
    private final TrainerState state;
    private final JsonNode config;
    private final TensorFile unet, textEncoder, ema, optimizer;

    private TrainCheckpoint(Path dir, TrainerState state, JsonNode config, TensorFile unet, TensorFile textEncoder, TensorFile ema,
                            TensorFile optimizer) {
        this.dir = dir;
        this.state = state;
        this.config = config;
        this.unet = unet;
        this.textEncoder = textEncoder;
        this.ema = ema;
        this.optimizer = optimizer;
    }

    /**
     * Writes the files of a checkpoint into {@code dir} (the store's temporary folder); {@code ema} may be null, and
     * {@code unet} too when the UNet is frozen (a LoRA run, whose adapters the trainer writes beside), and
     * {@code textEncoder} when the text encoder is frozen (the usual case). Each file is written atomically and forced
     * to disk.
     */
    public static void write(Path dir, StateDict unet, StateDict textEncoder, StateDict ema, StateDict optimizer, JsonNode config,
                             TrainerState state) throws IOException {
        Map<String, String> meta = Map.of("format", "pt", "lavie4j_step", Long.toString(state.step()));
        if (unet != null) SafeTensors.write(dir.resolve(UNET), unet.asMap(), meta, null);
        if (textEncoder != null) SafeTensors.write(dir.resolve(TEXT_ENCODER), textEncoder.asMap(), meta, null);
        if (ema != null) SafeTensors.write(dir.resolve(EMA), ema.asMap(), meta, null);
        SafeTensors.write(dir.resolve(OPTIMIZER), optimizer.asMap(), meta, null);
        writeJson(dir.resolve(CONFIG), config);
        writeJson(dir.resolve(TRAINER), state.toJson());
    }

    /**
     * Opens a checkpoint folder, or the latest checkpoint of a store root or training output folder (see
     * {@link CheckpointStore#resolve}), after verifying it against its manifest.
     */
    public static TrainCheckpoint open(Path dirOrRoot) throws IOException {
        Path dir = CheckpointStore.resolve(dirOrRoot);
        ObjectMapper json = new ObjectMapper();
        TrainerState state;
        JsonNode config;
        try {
            state = TrainerState.fromJson(json.readTree(require(dir, TRAINER).toFile()));
            config = json.readTree(require(dir, CONFIG).toFile());
        } catch (IllegalArgumentException e) {
            throw new IOException(dir + ": " + e.getMessage(), e);
        }
        TensorFile unet = null, textEncoder = null, ema = null, optimizer = null;
        try {
            boolean frozenUnet = "lora".equals(config.path("train").asText());   // a LoRA run writes its adapters only
            if (!frozenUnet || Files.isRegularFile(dir.resolve(UNET))) unet = SafeTensors.read(require(dir, UNET));
            if (config.path("train_text_encoder").asBoolean(false)) textEncoder = SafeTensors.read(require(dir, TEXT_ENCODER));
            if (Files.isRegularFile(dir.resolve(EMA))) ema = SafeTensors.read(dir.resolve(EMA));
            optimizer = SafeTensors.read(require(dir, OPTIMIZER));
            return new TrainCheckpoint(dir, state, config, unet, textEncoder, ema, optimizer);
        } catch (IOException | RuntimeException e) {
            for (TensorFile f : new TensorFile[]{unet, textEncoder, ema, optimizer}) if (f != null) f.close();
            throw e;
        }
    }

    private static Path require(Path dir, String file) throws NoSuchFileException {
        Path p = dir.resolve(file);
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(p.toString(), null, "checkpoint file missing");
        return p;
    }

    /** The checkpoint folder. */
    public Path dir() { return dir; }

    public TrainerState state() { return state; }

    /** The config the run was written with (as {@code TrainConfig.toJson()}). */
    public JsonNode config() { return config; }

    /** The UNet weights; null when the run wrote none (its UNet was frozen: LoRA). */
    public StateDict unet() { return unet == null ? null : StateDict.of(dir.resolve(UNET).toString(), unet.asMap()); }

    /** The text encoder weights; null when the run kept it frozen. */
    public StateDict textEncoder() {
        return textEncoder == null ? null : StateDict.of(dir.resolve(TEXT_ENCODER).toString(), textEncoder.asMap());
    }

    public boolean hasEma() { return ema != null; }

    /** The EMA weights; null when the run kept none. */
    public StateDict ema() { return ema == null ? null : StateDict.of(dir.resolve(EMA).toString(), ema.asMap()); }

    public StateDict optimizer() { return StateDict.of(dir.resolve(OPTIMIZER).toString(), optimizer.asMap()); }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (TensorFile f : new TensorFile[]{unet, textEncoder, ema, optimizer}) {
            if (f == null) continue;
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }

    static void writeJson(Path file, JsonNode node) throws IOException {
        byte[] bytes = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(node).concat("\n")
                .getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
    }
}
