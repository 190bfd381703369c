package org.lavie4j.train;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.checkpoints.Inflation;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.train.checkpoint.CheckpointStore;
import org.lavie4j.train.checkpoint.TrainCheckpoint;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The training loop on the tiny model: bit-exact resume, temporal-only training, joint batches, memory, validation, export. */
class TrainerTest {

    /** Records every step's figures. */
    static final class Recorder implements TrainListener {
        final List<StepStats> steps = new ArrayList<>();
        final List<Path> checkpoints = new ArrayList<>(), validations = new ArrayList<>();

        @Override public boolean onStep(StepStats s) {
            steps.add(s);
            return true;
        }

        @Override public void onCheckpoint(long step, Path dir) { checkpoints.add(dir); }

        @Override public void onValidation(long step, Path gif) { validations.add(gif); }
    }

    static void assertBitwiseEqual(INDArray a, INDArray b, String what) {
        assertArrayEquals(a.shape(), b.shape(), what);
        assertEquals(a.dataType(), b.dataType(), what);
        INDArray x = a.castTo(DataType.DOUBLE), y = b.castTo(DataType.DOUBLE);
        assertTrue(Arrays.equals(x.dup('c').data().asDouble(), y.dup('c').data().asDouble()), what + " differs");
    }

    static void assertBitwiseEqual(StateDict a, StateDict b, String what) {
        assertEquals(a.keys(), b.keys(), what + " keys");
        for (String k : a.keys()) assertBitwiseEqual(a.get(k).load(), b.get(k).load(), what + " " + k);
    }

    static boolean bitwiseEqual(INDArray a, INDArray b) {
        return Arrays.equals(a.castTo(DataType.DOUBLE).dup('c').data().asDouble(), b.castTo(DataType.DOUBLE).dup('c').data().asDouble());
    }

    @Test void resumingFromACheckpointContinuesBitForBit(@TempDir Path tmp) throws Exception {
        int n = 2;
        // 2N steps in one go
        Trainer straight = TinyRuns.trainer(TinyRuns.config(tmp.resolve("a"), 2L * n), 0);
        Map<String, INDArray> initial = TinyRuns.snapshot(straight.model().unet().namedEntries());
        Recorder a = new Recorder();
        straight.train(a);

        // N steps, stop, then a fresh trainer (new model, new source) resumes from the output folder for N more
        Path out = tmp.resolve("b");
        Trainer first = TinyRuns.trainer(TinyRuns.config(out, n), 0);
        Recorder b1 = new Recorder();
        first.train(b1);
        assertEquals(List.of(out.resolve("checkpoints").resolve(CheckpointStore.name(n)).toAbsolutePath()), b1.checkpoints);
        // what a process killed while writing the next checkpoint would leave: a partial temporary folder
        Path stale = out.resolve("checkpoints").resolve(".tmp-" + CheckpointStore.name(n + 1) + "-123");
        Files.createDirectories(stale);
        Files.write(stale.resolve(TrainCheckpoint.UNET), new byte[]{1, 2, 3});

        Trainer resumed = TinyRuns.trainer(TinyRuns.config(out, 2L * n), 0);
        resumed.resume(out);
        assertEquals(n, resumed.step());
        Recorder b2 = new Recorder();
        Trainer.Result r = resumed.train(b2);
        assertEquals(n, r.startStep());
        assertEquals(2L * n, r.endStep());
        assertFalse(Files.exists(stale), "the next save removes what a killed one left");

        // the same losses and the same weights, EMA and optimizer state, bit for bit
        for (int i = 0; i < n; i++) {
            assertEquals(a.steps.get(i).loss(), b1.steps.get(i).loss(), 0.0, "loss of step " + (i + 1));
            assertEquals(a.steps.get(n + i).loss(), b2.steps.get(i).loss(), 0.0, "loss of step " + (n + i + 1));
            assertEquals(a.steps.get(n + i).gradNorm(), b2.steps.get(i).gradNorm(), 0.0, "grad norm of step " + (n + i + 1));
        }
        assertBitwiseEqual(straight.model().unet().stateDict(), resumed.model().unet().stateDict(), "UNet");
        assertBitwiseEqual(straight.ema().stateDict(), resumed.ema().stateDict(), "EMA");
        assertEquals(straight.ema().updates(), resumed.ema().updates());
        assertBitwiseEqual(straight.optimizer().stateDict(), resumed.optimizer().stateDict(), "AdamW");
        long changed = initial.entrySet().stream()
                .filter(e -> !bitwiseEqual(e.getValue(), straight.model().unet().namedEntries().get(e.getKey()).data())).count();
        assertTrue(changed > initial.size() / 2, "training moved the weights (" + changed + " of " + initial.size() + " entries)");

        // the resumed run's checkpoint names its parent and records the data position
        try (TrainCheckpoint c = TrainCheckpoint.open(out)) {
            assertEquals(2L * n, c.state().step());
            assertEquals(2L * n, c.state().dataPosition());
            assertTrue(c.state().provenance().parent().endsWith(CheckpointStore.name(n)), c.state().provenance().parent());
            assertEquals(2L * n, c.state().emaUpdates());
        }
    }

    @Test void temporalOnlyTrainingLeavesEveryOtherParameterBitwiseUnchanged(@TempDir Path tmp) throws Exception {
        TrainConfig config = TinyRuns.config(tmp, 2).withTrain(TrainConfig.TrainTarget.TEMPORAL);
        Trainer t = TinyRuns.trainer(config, 0);
        Map<String, Parameter> entries = t.model().unet().namedEntries();
        Map<String, INDArray> before = TinyRuns.snapshot(entries);
        assertFalse(t.trainableParameters().isEmpty());
        assertTrue(t.trainableParameters().keySet().stream().allMatch(Inflation::isTemporal), t.trainableParameters().keySet().toString());
        t.train(TrainListener.NONE);
        int temporalChanged = 0;
        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            boolean same = bitwiseEqual(e.getValue(), entries.get(e.getKey()).data());
            if (!Inflation.isTemporal(e.getKey())) assertTrue(same, e.getKey() + " is not temporal but changed");
            else if (!same) temporalChanged++;
        }
        assertTrue(temporalChanged > 0, "no temporal parameter changed");
        for (String k : t.optimizer().stateDict().keys()) assertTrue(Inflation.isTemporal(k), "optimizer state for " + k);
    }

    @Test void gradientCheckpointingTrainsBitForBitTheSameWeights(@TempDir Path tmp) throws Exception {
        // temporal layers only, joint batches of a clip + 2 images, two optimizer steps
        TrainConfig config = TinyRuns.config(tmp.resolve("plain"), 2).withTrain(TrainConfig.TrainTarget.TEMPORAL);
        Trainer plain = TinyRuns.trainer(config, 2);
        Trainer ckpt = TinyRuns.trainer(config.withOutputDir(tmp.resolve("ckpt")).withGradientCheckpointing(true), 2);
        assertTrue(ckpt.model().unet().isGradientCheckpointing());
        Recorder a = new Recorder(), b = new Recorder();
        plain.train(a);
        ckpt.train(b);
        for (int i = 0; i < 2; i++) {
            assertEquals(a.steps.get(i).loss(), b.steps.get(i).loss(), 0.0, "loss of step " + i);
            assertEquals(a.steps.get(i).gradNorm(), b.steps.get(i).gradNorm(), 0.0, "gradient norm of step " + i);
        }
        assertBitwiseEqual(plain.model().unet().stateDict(), ckpt.model().unet().stateDict(), "trained UNet");
        assertBitwiseEqual(plain.optimizer().stateDict(), ckpt.optimizer().stateDict(), "AdamW");
    }

    @Test void jointImageVideoBatchesTrainWithAccumulation(@TempDir Path tmp) throws Exception {
        TrainConfig config = TinyRuns.config(tmp, 2).withBatch(2, 2).withImageLossWeight(0.5);
        Trainer t = TinyRuns.trainer(config, 2);
        Map<String, INDArray> before = TinyRuns.snapshot(t.model().unet().namedEntries());
        Recorder r = new Recorder();
        t.train(r);
        assertEquals(2, r.steps.size());
        for (StepStats s : r.steps) {
            assertTrue(Double.isFinite(s.imageLoss()) && s.imageLoss() > 0, "image term: " + s);
            assertEquals(s.videoLoss() + 0.5 * s.imageLoss(), s.loss(), 1e-5 * s.loss(), "L = L_video + alpha L_image: " + s);
            assertTrue(s.gradNorm() > 0 && !s.skipped(), s.toString());
            assertTrue(s.clipsPerSecond() > 0);
        }
        assertFalse(bitwiseEqual(before.get("conv_in.weight"), t.model().unet().namedEntries().get("conv_in.weight").data()));
        try (TrainCheckpoint c = TrainCheckpoint.open(tmp)) {
            assertEquals(2 * 2 * 2, c.state().dataPosition(), "steps x accumulation x batch samples consumed");
        }
    }

    /**
     * No step leaks native memory: with a GC after every step (so that garbage left for the collector never piles up
     * and the allocator reuses its pages) the settled memory after 11 steps is that after 3; and one step, without a
     * GC, needs at most 48 MB over what the previous one left. (Measured over 8 steps without GCs, as this test did
     * first, the allocator's retention of garbage freed only by the GC decides the figure: within 48 MB on the AVX-512
     * machines of earlier sessions, +52-72 MB on an AVX2 one; flat with a GC at every step.)
     */
    @Test void nativeMemoryDoesNotGrowWithSteps(@TempDir Path tmp) throws Exception {
        int warmup = 3, steps = 11;
        Trainer t = TinyRuns.trainer(TinyRuns.config(tmp, steps).withCheckpoint(new TrainConfig.Checkpointing(1000, 1)), 1);
        long[] settled = new long[1], previous = new long[1], stepPeak = new long[1];
        t.train(new TrainListener() {
            @Override public boolean onStep(StepStats s) {
                if (s.step() > warmup) stepPeak[0] = Math.max(stepPeak[0], nativeBytes() - previous[0]);   // before the GC
                previous[0] = settledNativeBytes();
                if (s.step() == warmup) settled[0] = previous[0];
                return true;
            }
        });
        long after = previous[0];
        long allowed = 48L << 20;
        System.out.printf("trainer native bytes: after %d steps %d MB, after %d steps %d MB, one step's growth before a GC %d MB%n",
                warmup, settled[0] >> 20, steps, after >> 20, stepPeak[0] >> 20);
        assertTrue(after - settled[0] <= allowed, "native memory grew from " + settled[0] + " to " + after + " bytes");
        assertTrue(stepPeak[0] <= allowed, "one step needed " + stepPeak[0] + " bytes over what the previous step left");
    }

    @Test void validationGifsAndExportsThatLoadAsAModel(@TempDir Path tmp) throws Exception {
        TrainConfig.Validation validation = new TrainConfig.Validation(1, List.of("a red circle moving left", "a blue square moving up"),
                List.of(7L, 8L), 2, 1.0, 2, 16, 16, true);
        TrainConfig config = TinyRuns.config(tmp, 1).withValidation(validation).withPrediction(PredictionType.V_PREDICTION);
        Trainer t = TinyRuns.trainer(config, 0);
        Recorder r = new Recorder();
        t.train(r);
        assertEquals(1, r.validations.size());
        Path gif = r.validations.get(0);
        assertEquals(tmp.resolve("validation").resolve("step-000000001.gif"), gif);
        Video v = VideoIO.read(gif);
        assertEquals(2, v.frames());
        assertEquals(16, v.height());
        assertEquals(32, v.width(), "the prompts side by side");

        // validation swaps the EMA weights in and puts the live ones back
        Map<String, INDArray> live = TinyRuns.snapshot(t.model().unet().namedEntries());
        Path again = t.validate();
        Video w = VideoIO.read(again);
        for (int f = 0; f < 2; f++) assertArrayEquals(v.rgb(f), w.rgb(f), "fixed prompts and seeds: the same video");
        live.forEach((k, x) -> assertTrue(bitwiseEqual(x, t.model().unet().namedEntries().get(k).data()), k));

        // a lavie4j model folder with the EMA weights and the training prediction type: it loads and samples
        Path modelDir = t.exportModel(tmp.resolve("model"), true);
        TextToVideoModel m = TextToVideoModel.load(modelDir);
        assertEquals(PredictionType.V_PREDICTION, m.schedulerConfig().predictionType());
        assertTrue(m.info().description().contains("fine-tuned"), m.info().description());
        assertBitwiseEqual(t.ema().stateDict(), m.unet().stateDict(), "exported UNet");
        var result = m.pipeline().generate(GenerateOptions.builder().prompt("a red circle").frames(2).size(16, 16).steps(1)
                .guidanceScale(1.0).outputType(OutputType.LATENTS).build());
        assertArrayEquals(new long[]{1, 4, 2, 8, 8}, result.latents().shape());
        assertThrows(java.nio.file.FileAlreadyExistsException.class, () -> t.exportModel(modelDir, true));

        // the weights alone, under the original key names
        Path weights = t.exportWeights(tmp.resolve("unet.safetensors"), false);
        try (TensorFile f = SafeTensors.read(weights)) {
            assertEquals(t.model().unet().stateDict().keys(), f.keys());
            assertEquals("live", f.metadata().get("lavie4j_weights"));
            assertBitwiseEqual(t.model().unet().stateDict(), StateDict.of("file", f.asMap()), "exported weights");
        }

        // a run with other maths cannot resume this one
        Trainer other = TinyRuns.trainer(config.withSeed(12).withBatch(2, 1).withSteps(3), 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> other.resume(tmp));
        assertTrue(e.getMessage().contains("seed: checkpoint 11, config 12") && e.getMessage().contains("batch_size"), e.getMessage());
    }

    @Test void trainingTheTextEncoderResumesBitForBitAndExportsIt(@TempDir Path tmp) throws Exception {
        int n = 2;
        // joint batches (a clip + 2 images, each its own caption): the states of 3 captions per sample go through the tape
        TrainConfig config = TinyRuns.config(tmp.resolve("a"), 2L * n).withTrainTextEncoder(true);
        Trainer straight = TinyRuns.trainer(config, 2);
        Map<String, INDArray> textBefore = TinyRuns.snapshot(straight.model().textEncoder().namedEntries());
        assertTrue(straight.trainableParameters().containsKey("unet.conv_in.weight"), straight.trainableParameters().keySet().toString());
        assertTrue(straight.trainableParameters().containsKey("text_encoder.text_model.final_layer_norm.weight"));
        assertEquals(straight.model().unet().namedParameters().size() + straight.model().textEncoder().namedParameters().size(),
                straight.trainableParameters().size(), "every UNet and text encoder parameter");
        Recorder a = new Recorder();
        straight.train(a);
        Map<String, Parameter> text = straight.model().textEncoder().namedEntries();
        long moved = textBefore.entrySet().stream().filter(e -> !bitwiseEqual(e.getValue(), text.get(e.getKey()).data())).count();
        assertTrue(moved >= straight.model().textEncoder().namedParameters().size() - 1,
                "the text encoder trained (" + moved + " of " + textBefore.size() + " entries moved; the token table rows of "
                        + "unused tokens move only by their zero-gradient Adam step, the int position ids never)");
        assertTrue(bitwiseEqual(textBefore.get("text_model.embeddings.position_ids"), text.get("text_model.embeddings.position_ids").data()),
                "buffers stay");

        Path out = tmp.resolve("b");
        Trainer first = TinyRuns.trainer(config.withOutputDir(out).withSteps(n), 2);
        first.train(TrainListener.NONE);
        try (TrainCheckpoint c = TrainCheckpoint.open(out)) {
            assertNotNull(c.textEncoder(), "the checkpoint keeps the text encoder");
            assertTrue(c.ema().contains("text_encoder.text_model.final_layer_norm.weight"));
        }
        Trainer resumed = TinyRuns.trainer(config.withOutputDir(out), 2);
        resumed.resume(out);
        Recorder b = new Recorder();
        resumed.train(b);
        for (int i = 0; i < n; i++) assertEquals(a.steps.get(n + i).loss(), b.steps.get(i).loss(), 0.0, "loss of step " + (n + i + 1));
        assertBitwiseEqual(straight.model().unet().stateDict(), resumed.model().unet().stateDict(), "UNet");
        assertBitwiseEqual(straight.model().textEncoder().stateDict(), resumed.model().textEncoder().stateDict(), "text encoder");
        assertBitwiseEqual(straight.ema().stateDict(), resumed.ema().stateDict(), "EMA");
        assertBitwiseEqual(straight.optimizer().stateDict(), resumed.optimizer().stateDict(), "AdamW");

        // a run that keeps the text encoder frozen cannot resume it
        Trainer frozen = TinyRuns.trainer(config.withOutputDir(out).withTrainTextEncoder(false), 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> frozen.resume(out));
        assertTrue(e.getMessage().contains("train_text_encoder: checkpoint true, config false"), e.getMessage());

        // the exported model carries the EMA of both; the weights export writes the text encoder beside the UNet
        TextToVideoModel m = TextToVideoModel.load(straight.exportModel(tmp.resolve("model"), true));
        StateDict ema = straight.ema().stateDict();
        for (String k : m.textEncoder().stateDict().keys())
            assertBitwiseEqual(ema.get("text_encoder." + k).load(), m.textEncoder().stateDict().get(k).load(), "exported text encoder " + k);
        for (String k : m.unet().stateDict().keys())
            assertBitwiseEqual(ema.get("unet." + k).load(), m.unet().stateDict().get(k).load(), "exported UNet " + k);
        Path weights = straight.exportWeights(tmp.resolve("unet.safetensors"), false);
        try (TensorFile f = SafeTensors.read(Trainer.textEncoderWeightsFile(weights))) {
            assertEquals(tmp.resolve("unet-text_encoder.safetensors"), Trainer.textEncoderWeightsFile(weights));
            assertBitwiseEqual(straight.model().textEncoder().stateDict(), StateDict.of("file", f.asMap()), "exported text encoder weights");
        }
    }

    @Test void aFrozenTextEncoderGivesTheSameFirstUNetUpdate(@TempDir Path tmp) throws Exception {
        // the UNet's first step does not depend on whether the text encoder is trained: the same states reach it, on the
        // tape or not. No clipping (its global norm would count the text encoder's gradients), and Adam's eps = 1 makes the
        // first step lr·g/(|g| + 1), about lr·g, so the updates compare the gradients themselves
        TrainConfig config = TinyRuns.config(tmp.resolve("frozen"), 1);
        config = config.withOptimizer(new TrainConfig.Optimizer(1e-3, TrainConfig.Schedule.CONSTANT, 0, 0.9, 0.999, 1.0, 0, 0));
        Trainer frozen = TinyRuns.trainer(config, 1), trained = TinyRuns.trainer(config.withOutputDir(tmp.resolve("trained")).withTrainTextEncoder(true), 1);
        Map<String, INDArray> before = TinyRuns.snapshot(frozen.model().unet().namedEntries());
        Recorder a = new Recorder(), b = new Recorder();
        frozen.train(a);
        trained.train(b);
        // the same loss to float rounding, not bit for bit: the frozen encoder runs in eval mode off the tape (inference
        // numerics, e.g. attention's Vector API kernel), the trained one in training mode on it, and their states differ
        // by float rounding (measured: up to 1.2e-6 in 4,339 of 4,928 values), which moves the loss by an ulp or so
        assertEquals(a.steps.get(0).loss(), b.steps.get(0).loss(), 1e-6 * Math.abs(a.steps.get(0).loss()), "the same loss");
        assertTrue(b.steps.get(0).gradNorm() > a.steps.get(0).gradNorm(), "the norm counts the text encoder's gradients too");
        // the gradients agree to rounding (the cross-attention's backward takes another path once its context needs a
        // gradient), the updated weights to their float32 rounding
        Map<String, Parameter> x = frozen.model().unet().namedEntries(), y = trained.model().unet().namedEntries();
        for (String k : before.keySet()) {
            INDArray w0 = before.get(k).castTo(DataType.DOUBLE), u = x.get(k).data().castTo(DataType.DOUBLE).sub(w0),
                    v = y.get(k).data().castTo(DataType.DOUBLE).sub(w0);
            double scale = u.amaxNumber().doubleValue(), d = u.sub(v).amaxNumber().doubleValue();
            double ulp = Math.ulp(w0.amaxNumber().floatValue() + (float) scale);             // the float32 weights' own rounding
            assertTrue(d <= 1e-3 * scale + ulp, k + ": the UNet's first update differs by " + d + " (its largest entry " + scale + ")");
        }
    }

    private static long settledNativeBytes() {
        try {
            for (int i = 0; i < 3; i++) {
                System.gc();
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return nativeBytes();
    }

    private static long nativeBytes() { return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory(); }
}
