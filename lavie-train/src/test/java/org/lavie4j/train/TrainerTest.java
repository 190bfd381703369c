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

    @Test void nativeMemoryDoesNotGrowWithSteps(@TempDir Path tmp) throws Exception {
        int warmup = 3, steps = 11;
        Trainer t = TinyRuns.trainer(TinyRuns.config(tmp, steps).withCheckpoint(new TrainConfig.Checkpointing(1000, 1)), 1);
        long[] settled = new long[1], peak = new long[1];
        t.train(new TrainListener() {
            @Override public boolean onStep(StepStats s) {
                if (s.step() == warmup) settled[0] = settledNativeBytes();
                if (s.step() > warmup) peak[0] = Math.max(peak[0], nativeBytes());   // no GC here: what is freed without one
                return true;
            }
        });
        long after = settledNativeBytes();
        long allowed = 48L << 20;
        System.out.printf("trainer native bytes: after %d steps %d MB, after %d steps %d MB, peak between %d MB%n",
                warmup, settled[0] >> 20, steps, after >> 20, peak[0] >> 20);
        assertTrue(after - settled[0] <= allowed, "native memory grew from " + settled[0] + " to " + after + " bytes");
        assertTrue(peak[0] - settled[0] <= allowed, "native memory reached " + peak[0] + " bytes between GCs (after warm-up: " + settled[0] + ")");
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
