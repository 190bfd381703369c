package org.lavie4j.nn.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.schedulers.BetaSchedule;
import org.lavie4j.nn.schedulers.PredictionType;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.VsrConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Loading LaVie's VSR release layout: {@code lavie_vsr.pt} (["ema"]) beside {@code stable-diffusion-x4-upscaler/} with
 * {@code vae/}, {@code text_encoder/}, {@code tokenizer/}, {@code scheduler/}, {@code low_res_scheduler/}.
 */
class SuperResolutionModelTest {
    @TempDir
    static Path shared;
    private static Path saved;

    @BeforeAll
    static void save() throws IOException {
        saved = shared.resolve("saved");
        SuperResolutionModel.randomTiny(3).save(saved, DType.F32);
    }

    /** A copy of the saved tiny release folder. */
    private static Path copy(Path tmp) throws IOException {
        Path dst = tmp.resolve("pretrained_models");
        try (Stream<Path> s = Files.walk(saved)) {
            for (Path p : s.toList()) {
                Path q = dst.resolve(saved.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
        return dst;
    }

    private static void delete(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static Video video() {
        java.util.Random r = new java.util.Random(1);
        byte[][] rgb = new byte[2][8 * 8 * 3];
        for (byte[] f : rgb) r.nextBytes(f);
        return Video.fromRgb(rgb, 8, 8, 8);
    }

    private static final UpscaleOptions OPTIONS = UpscaleOptions.builder().prompt("a_red_ball").steps(1).seed(2).build();

    @Test
    void savedFolderLoadsToTheSameModel(@TempDir Path tmp) throws IOException {
        SuperResolutionModel original = SuperResolutionModel.randomTiny(3);
        SuperResolutionModel loaded = SuperResolutionModel.load(saved);
        assertTrue(SuperResolutionModel.isModelFolder(saved));
        assertEquals(original.unet().config(), loaded.unet().config());
        assertEquals(original.vae().config(), loaded.vae().config());
        assertEquals(original.schedulerConfig(), loaded.schedulerConfig());
        assertEquals(original.lowResSchedulerConfig(), loaded.lowResSchedulerConfig());
        INDArray a = original.pipeline().upscale(video(), OPTIONS).video();
        INDArray b = loaded.pipeline().upscale(video(), OPTIONS).video();
        assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), "same weights, same video");
        assertEquals(0.0, loaded.pipeline().upscale(video(), OPTIONS).video().sub(
                SuperResolutionModel.load(saved.resolve(SuperResolutionModel.CHECKPOINT_SAFETENSORS)).pipeline().upscale(video(), OPTIONS).video())
                .amaxNumber().doubleValue(), "the checkpoint file itself names the folder");
        assertThrows(FileAlreadyExistsException.class, () -> original.save(saved, DType.F32));
    }

    /** The original's torch.save({"ema": ...}) file (the unet_vsr golden case's weights.pt) as lavie_vsr.pt with its config. */
    @Test
    void releaseLayoutWithTheOriginalsPtCheckpoint(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp);
        Files.delete(dir.resolve(SuperResolutionModel.CHECKPOINT_SAFETENSORS));
        Path golden = TestData.goldenCase("unet_vsr");
        Files.copy(golden.resolve("weights.pt"), dir.resolve(SuperResolutionModel.CHECKPOINT_PT));
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree(golden.resolve("case.json").toFile()).get("config");
        config.put("video_condition", true);                         // sample.py forces it false
        Files.writeString(dir.resolve(SuperResolutionModel.UNET_CONFIG), config.toString());
        SuperResolutionModel m = SuperResolutionModel.load(dir);
        assertEquals(VsrConfig.fromJson(config.put("video_condition", false)).config(), m.unet().config());
        try (TensorFile f = TensorFile.open(golden.resolve("weights.safetensors"))) {
            String key = "down_blocks.1.attentions.0.transformer_blocks.0.attn_temporal.to_q.weight";
            assertEquals(f.get(key).load(DataType.FLOAT), m.unet().stateDict().get(key).load());
        }
        assertEquals(2, m.pipeline().upscale(video(), OPTIONS).video().size(2));
    }

    @Test
    void schedulersAreReadFromTheFolderWithLinearBetasForTheSampler(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp);
        Path x4 = dir.resolve(SuperResolutionModel.X4);
        Files.writeString(x4.resolve("scheduler/scheduler_config.json"), """
                {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", "beta_end": 0.02, "beta_schedule": "scaled_linear",
                 "beta_start": 0.0001, "clip_sample": false, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                 "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null}""");
        Files.writeString(x4.resolve("low_res_scheduler/scheduler_config.json"), """
                {"_class_name": "DDPMScheduler", "_diffusers_version": "0.8.0", "beta_end": 0.02, "beta_schedule": "scaled_linear",
                 "beta_start": 0.0001, "clip_sample": false, "num_train_timesteps": 1000, "trained_betas": null,
                 "variance_type": "fixed_small"}""");
        SuperResolutionModel m = SuperResolutionModel.load(dir);
        assertEquals(SchedulerKind.DDIM, m.schedulerConfig().kind());
        assertEquals(BetaSchedule.LINEAR, m.schedulerConfig().betaSchedule(), "sample.py: config['beta_schedule'] = 'linear'");
        assertEquals(PredictionType.V_PREDICTION, m.schedulerConfig().predictionType());
        assertEquals(1, m.schedulerConfig().stepsOffset());
        assertFalse(m.schedulerConfig().setAlphaToOne());
        assertEquals(0.0001, m.schedulerConfig().betaStart());
        assertEquals(0.02, m.schedulerConfig().betaEnd());
        assertEquals(BetaSchedule.SCALED_LINEAR, m.lowResSchedulerConfig().betaSchedule(), "the low-res schedule is used as written");
        assertEquals(SuperResolutionModel.lowResScheduler(), m.lowResSchedulerConfig());
    }

    @Test
    void vaeConfigWithoutScalingFactorIsLaViesX4(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp);
        Path cfg = dir.resolve(SuperResolutionModel.X4).resolve("vae/config.json");
        ObjectNode n = (ObjectNode) new ObjectMapper().readTree(cfg.toFile());
        n.remove("scaling_factor");
        Files.writeString(cfg, n.toString());
        assertEquals(0.08333, SuperResolutionModel.load(dir).vae().config().scalingFactor(), "LaVie's vae_config.json, not SD's 0.18215");
    }

    @Test
    void missingFilesAreNamed(@TempDir Path tmp) throws IOException {
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> SuperResolutionModel.load(tmp.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(NoSuchFileException.class, () -> SuperResolutionModel.load(empty));
        assertTrue(e.getMessage().contains("lavie_vsr.pt") && e.getMessage().contains("stable-diffusion-x4-upscaler"), e.getMessage());
        assertFalse(SuperResolutionModel.isModelFolder(empty));

        int i = 0;
        for (String part : new String[]{"low_res_scheduler/scheduler_config.json", "scheduler/scheduler_config.json",
                "vae/diffusion_pytorch_model.safetensors", "vae", "text_encoder", "tokenizer"}) {
            Path dir = copy(tmp.resolve("c" + i++));
            Path p = dir.resolve(SuperResolutionModel.X4).resolve(part);
            if (Files.isDirectory(p)) delete(p);
            else Files.delete(p);
            Exception ex = assertThrows(IOException.class, () -> SuperResolutionModel.load(dir), part);
            String expected = part.endsWith(".safetensors") ? "diffusion_pytorch_model.bin" : part.replace('/', java.io.File.separatorChar);
            assertTrue(ex.getMessage().contains(expected), part + ": " + ex.getMessage());
        }
        Path dir = copy(tmp.resolve("c" + i));
        delete(dir.resolve(SuperResolutionModel.X4));
        e = assertThrows(NoSuchFileException.class, () -> SuperResolutionModel.load(dir));
        assertTrue(e.getMessage().contains("stable-diffusion-x4-upscaler") && e.getMessage().contains("low_res_scheduler"), e.getMessage());
    }

    @Test
    void badConfigsAreNamed(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp);
        Path cfg = dir.resolve(SuperResolutionModel.UNET_CONFIG);
        ObjectNode n = (ObjectNode) new ObjectMapper().readTree(cfg.toFile());
        n.put("use_linear_projection", false);
        Files.writeString(cfg, n.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SuperResolutionModel.load(dir));
        assertTrue(e.getMessage().contains(SuperResolutionModel.UNET_CONFIG) && e.getMessage().contains("use_linear_projection"), e.getMessage());

        Path dir2 = copy(tmp.resolve("2"));
        Files.writeString(dir2.resolve(SuperResolutionModel.X4).resolve("scheduler/scheduler_config.json"), "{\"thresholding\": true}");
        e = assertThrows(IllegalArgumentException.class, () -> SuperResolutionModel.load(dir2));
        assertTrue(e.getMessage().contains("scheduler_config.json") && e.getMessage().contains("thresholding"), e.getMessage());
    }
}
