package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.pipeline.SuperResolutionPipeline;
import org.lavie4j.nn.pipeline.UpscaleOptions;
import org.lavie4j.nn.pipeline.UpscaleResult;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.VsrConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Golden kind {@code pipeline_vsr}: LaVie's VSR stage end to end ({@code vsr/sample.py}'s chunk loop around
 * {@code StableDiffusionUpscalePipeline.__call__}) through one {@link SuperResolutionPipeline#upscale} call: the uint8
 * frames, text states of the given ids in the order [uncond, cond], the recorded draws of every chunk
 * ({@code in.chunk<c>.low_res_noise}, {@code in.chunk<c>.latents_noise}) supplied in place of the generator, the
 * v-prediction DDIM loop with guidance 5, the decode in groups of 4 frames and the truncated uint8 video. The observer
 * records each chunk's noise-augmented frames and step latents.
 */
public final class PipelineVsrRunner implements CaseRunner {
    @Override
    public String kind() { return "pipeline_vsr"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        if (!"[uncond, cond]".equals(cfg.path("cfg_batch_order").asText("[uncond, cond]")))
            throw new MalformedCaseException(c.dir(), "case.json: cfg_batch_order must be [uncond, cond] (the VSR stage's)");
        int steps = Calls.requiredInt(c, cfg, "num_inference_steps");
        int noiseLevel = Calls.requiredInt(c, cfg, "noise_level");
        int chunkFrames = Calls.requiredInt(c, cfg, "chunk_frames");
        int decodeFrames = cfg.path("decode_chunk_frames").asInt(UpscaleOptions.DEFAULT_DECODE_FRAMES);
        double guidance = cfg.path("guidance_scale").asDouble(UpscaleOptions.DEFAULT_GUIDANCE);
        double eta = cfg.path("eta").asDouble(0.0);
        if (eta != 0.0) throw new MalformedCaseException(c.dir(), "case.json: only eta 0 is supported (no step noise is recorded)");

        CLIPTextModel te;
        UNet3DVSRModel unet;
        AutoencoderKL vae;
        SchedulerConfig scheduler, lowRes;
        try {
            te = new CLIPTextModel(CLIPTextConfig.fromJson(c.config("config.text_encoder")).config());
            VsrConfig unetConfig = VsrConfig.fromJson(c.config("config.unet")).config();
            if (cfg.has("max_noise_level") && cfg.get("max_noise_level").asInt() != unetConfig.maxNoiseLevel())
                throw new MalformedCaseException(c.dir(), "case.json: max_noise_level " + cfg.get("max_noise_level") + " differs from the UNet's "
                        + unetConfig.maxNoiseLevel());
            unet = new UNet3DVSRModel(unetConfig);
            vae = new AutoencoderKL(VaeConfig.fromJson(c.config("config.vae")).config());
            scheduler = SchedulerConfig.fromJson(c.config("config.scheduler"), SchedulerKind.DDIM);
            lowRes = SchedulerConfig.fromJson(c.config("config.low_res_scheduler"), SchedulerKind.DDPM);
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: " + e.getMessage());
        }
        if (cfg.has("vae_latent_scale") && cfg.get("vae_latent_scale").asDouble() != vae.config().scalingFactor())
            throw new MalformedCaseException(c.dir(), "case.json: vae_latent_scale " + cfg.get("vae_latent_scale") + " differs from the VAE's scaling_factor "
                    + vae.config().scalingFactor());
        te.load(c.weightsStateDict().withoutPrefix(prefix(c, "text_encoder")));
        unet.load(c.weightsStateDict().withoutPrefix(prefix(c, "unet")));
        vae.load(c.weightsStateDict().withoutPrefix(prefix(c, "vae")));
        te.eval();
        unet.eval();
        vae.eval();
        SuperResolutionPipeline pipeline = new SuperResolutionPipeline(null, te, unet, vae, scheduler, lowRes);

        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            Video video = video(c.input("frames_uint8"));
            out.put("out.low_res_video", SuperResolutionPipeline.pixels(video));                       // (1, 3, T, h, w)

            INDArray cond = text(te, c.input("input_ids_cond"));
            INDArray uncond = text(te, c.input("input_ids_uncond"));
            out.put("out.prompt_embeds", cond);
            out.put("out.negative_prompt_embeds", uncond);

            List<int[]> chunks = SuperResolutionPipeline.chunks(video.frames(), chunkFrames);
            checkChunks(c, cfg, chunks);
            List<Long> timesteps = new ArrayList<>();
            List<List<INDArray>> stepLatents = new ArrayList<>();
            for (int i = 0; i < chunks.size(); i++) stepLatents.add(new ArrayList<>());
            UpscaleOptions options = UpscaleOptions.builder()
                    .embeddings(cond, uncond)
                    .steps(steps)
                    .guidanceScale(guidance)
                    .noiseLevel(noiseLevel)
                    .eta(eta)
                    .chunkFrames(chunkFrames)
                    .decodeFrames(decodeFrames)
                    .outputType(OutputType.FRAMES)
                    .noise((chunk, draw, shape) -> c.input("chunk" + chunk + "." + (draw == SuperResolutionPipeline.Draw.LOW_RES
                            ? "low_res_noise" : "latents_noise"), DataType.FLOAT))
                    .observer(new SuperResolutionPipeline.ChunkObserver() {
                        @Override
                        public void onChunkStart(int chunk, int from, int to, INDArray noisyLowRes, INDArray initialLatents) {
                            out.put("out.chunk" + chunk + ".noisy_low_res", noisyLowRes.dup('c'));
                        }

                        @Override
                        public void onStep(int chunk, int step, long timestep, INDArray latents) {
                            if (chunk == 0) timesteps.add(timestep);
                            stepLatents.get(chunk).add(latents.dup('c'));
                        }
                    })
                    .build();
            UpscaleResult r = pipeline.upscale(video, options);
            out.put("out.timesteps", Nd4j.createFromArray(timesteps.stream().mapToLong(Long::longValue).toArray()));
            for (int i = 0; i < chunks.size(); i++)
                out.put("out.chunk" + i + ".step_latents", Nd4j.stack(0, stepLatents.get(i).toArray(INDArray[]::new)));
            long[] s = r.video().shape();                                                                // (1, 3, T, H, W)
            out.put("out.video", r.video().reshape(s[1], s[2], s[3], s[4]).permute(1, 0, 2, 3).dup('c'));   // (T, 3, H, W)
            INDArray u8 = r.videoUint8();                                                                // (1, T, H, W, 3)
            out.put("out.video_uint8", u8.reshape(u8.size(1), u8.size(2), u8.size(3), u8.size(4)));
        }
        return out;
    }

    /** The case's {@code chunks} must be the ones the pipeline forms. */
    private static void checkChunks(GoldenCase c, JsonNode cfg, List<int[]> chunks) throws MalformedCaseException {
        JsonNode given = cfg.get("chunks");
        if (given == null) return;
        boolean same = given.isArray() && given.size() == chunks.size();
        for (int i = 0; same && i < chunks.size(); i++)
            same = given.get(i).path(0).asInt(-1) == chunks.get(i)[0] && given.get(i).path(1).asInt(-1) == chunks.get(i)[1];
        if (!same) throw new MalformedCaseException(c.dir(), "case.json: chunks " + given + " are not the consecutive chunks of chunk_frames");
    }

    /** frames (T, 3, h, w) uint8 → a {@link Video}. */
    private static Video video(INDArray framesU8) {
        long[] s = framesU8.shape();
        int t = (int) s[0], h = (int) s[2], w = (int) s[3];
        int[] v = framesU8.castTo(DataType.INT).dup('c').data().asInt();
        byte[][] rgb = new byte[t][h * w * 3];
        for (int f = 0; f < t; f++)
            for (int ch = 0; ch < 3; ch++)
                for (int p = 0; p < h * w; p++) rgb[f][3 * p + ch] = (byte) v[(f * 3 + ch) * h * w + p];
        return Video.fromRgb(rgb, h, w, 8.0);
    }

    private static INDArray text(CLIPTextModel te, INDArray ids) {
        Tensor y = te.forward(Tensor.of(ids));
        INDArray out = y.data().castTo(DataType.FLOAT).dup('c');
        y.release();
        return out;
    }

    private static String prefix(GoldenCase c, String object) {
        return c.objects().path(object).path("weights_prefix").asText(object + ".");
    }
}
