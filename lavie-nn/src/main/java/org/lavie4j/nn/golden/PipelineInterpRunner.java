package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.core.media.Video;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.InterpolateOptions;
import org.lavie4j.nn.pipeline.InterpolationPipeline;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
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
 * Golden kind {@code pipeline_interp}: LaVie's interpolation stage end to end ({@code interpolation/sample.py}
 * {@code get_input} + {@code auto_inpainting_copy_no_mask}) through {@link InterpolationPipeline}: 16 uint8 frames, text
 * states of the given ids in the order [cond, uncond], the recorded VAE posterior noise and initial noise, the respaced
 * DDIM loop with guidance 4, the decode and the uint8 video. The intermediate outputs ({@code video_input} of all 61
 * selected frames, {@code video_latents}, {@code cond_latents}) are computed with the pipeline's public stages; the loop
 * outputs ({@code model_timesteps}, {@code step_x}, {@code step_eps}, {@code latents}, {@code video}) come from one
 * {@link InterpolationPipeline#interpolate} call, which encodes only the 16 key frames.
 */
public final class PipelineInterpRunner implements CaseRunner {
    @Override
    public String kind() { return "pipeline_interp"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        JsonNode cfg = c.config();
        if (!"[cond, uncond]".equals(cfg.path("cfg_batch_order").asText("[cond, uncond]")))
            throw new MalformedCaseException(c.dir(), "case.json: cfg_batch_order must be [cond, uncond] (the interpolation stage's)");
        JsonNode loop = cfg.path("ddim_sample_loop");
        if (loop.path("clip_denoised").asBoolean(false) || !loop.path("copy_no_mask").asBoolean(true) || !loop.path("use_concat").asBoolean(true))
            throw new MalformedCaseException(c.dir(), "case.json: only clip_denoised false, use_concat and copy_no_mask true are supported");
        if (cfg.path("num_input_frames").asInt(16) != InterpolationPipeline.INPUT_FRAMES
                || cfg.path("num_frames").asInt(61) != InterpolationPipeline.OUTPUT_FRAMES)
            throw new MalformedCaseException(c.dir(), "case.json: the stage turns 16 frames into 61");
        JsonNode diffusion = cfg.path("create_diffusion");
        if (diffusion.path("diffusion_steps").asInt(1000) != InterpolateOptions.TRAIN_TIMESTEPS
                || !"linear".equals(diffusion.path("noise_schedule").asText("linear")) || diffusion.path("learn_sigma").asBoolean(false)
                || diffusion.path("predict_xstart").asBoolean(false))
            throw new MalformedCaseException(c.dir(), "case.json: create_diffusion must be 1000 linear steps predicting epsilon");
        int steps;
        try {
            steps = Integer.parseInt(diffusion.path("timestep_respacing").asText());
        } catch (NumberFormatException e) {
            throw new MalformedCaseException(c.dir(), "case.json: create_diffusion.timestep_respacing must be a step count");
        }
        JsonNode size = cfg.path("image_size");
        int height = size.path(0).asInt(), width = size.path(1).asInt();

        CLIPTextModel te;
        UNet3DConditionModel unet;
        AutoencoderKL vae;
        try {
            te = new CLIPTextModel(CLIPTextConfig.fromJson(c.config("config.text_encoder")).config());
            unet = new UNet3DConditionModel(UNetConfig.fromJson(c.config("config.unet"), BlockVariant.INTERPOLATION).config());
            vae = new AutoencoderKL(VaeConfig.fromJson(c.config("config.vae")).config());
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: " + e.getMessage());
        }
        te.load(c.weightsStateDict().withoutPrefix(prefix(c, "text_encoder")));
        unet.load(c.weightsStateDict().withoutPrefix(prefix(c, "unet")));
        vae.load(c.weightsStateDict().withoutPrefix(prefix(c, "vae")));
        te.eval();
        unet.eval();
        vae.eval();
        InterpolationPipeline pipeline = new InterpolationPipeline(null, te, unet, vae);

        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            // get_input: the 61 selected frames (b f c h w)
            Video video = video(c.input("frames_uint8"));
            INDArray videoInput = InterpolationPipeline.pixels(video, InterpolationPipeline.frameIndices(video.frames()), height, width);
            out.put("out.video_input", videoInput.permute(0, 2, 1, 3, 4).dup('c'));                   // (1, 61, 3, H, W)

            INDArray cond = text(te, c.input("input_ids_cond"));
            INDArray uncond = text(te, c.input("input_ids_uncond"));
            out.put("out.prompt_embeds", cond);
            out.put("out.negative_prompt_embeds", uncond);

            // the reference's VAE sample of all 61 frames, and its copy_no_mask layout
            INDArray vaeNoise = c.input("vae_sample_noise", DataType.FLOAT);                           // (61, C, h, w)
            INDArray latents61 = pipeline.encode(videoInput, vaeNoise.permute(1, 0, 2, 3).reshape(1, vaeNoise.size(1),
                    vaeNoise.size(0), vaeNoise.size(2), vaeNoise.size(3)).dup('c'), 4);
            out.put("out.video_latents", latents61);
            out.put("out.cond_latents", InterpolationPipeline.conditioning(InterpolationPipeline.keyFrames(latents61)));

            // the loop and the decode in one pipeline call
            List<Long> timesteps = new ArrayList<>();
            List<INDArray> xs = new ArrayList<>(), eps = new ArrayList<>();
            InterpolateOptions options = InterpolateOptions.builder()
                    .embeddings(cond, uncond)
                    .size(height, width)
                    .steps(steps)
                    .guidanceScale(cfg.path("cfg_scale").asDouble(InterpolateOptions.DEFAULT_GUIDANCE))
                    .eta(loop.path("eta").asDouble(0.0))
                    .vaeNoise(vaeNoise)
                    .noise(c.input("z", DataType.FLOAT))
                    .outputType(OutputType.FRAMES)
                    .framesPerSlice(8)                       // sliced encode/decode must equal the reference's one-batch calls
                    .observer((j, t, x, e) -> {
                        timesteps.add(t);
                        xs.add(x.dup('c'));
                        eps.add(e.dup('c'));
                    })
                    .build();
            GenerateResult r = pipeline.interpolate(video, options);
            out.put("out.model_timesteps", Nd4j.createFromArray(timesteps.stream().mapToLong(Long::longValue).toArray()));
            out.put("out.step_x", Nd4j.stack(0, xs.toArray(INDArray[]::new)));
            out.put("out.step_eps", Nd4j.stack(0, eps.toArray(INDArray[]::new)));
            out.put("out.latents", r.latents().dup('c'));
            long[] s = r.video().shape();                                                                // (1, 3, 61, H, W)
            out.put("out.video", r.video().reshape(s[1], s[2], s[3], s[4]).permute(1, 0, 2, 3).dup('c'));   // (61, 3, H, W)
            INDArray u8 = r.videoUint8();                                                                // (1, 61, H, W, 3)
            out.put("out.video_uint8", u8.reshape(u8.size(1), u8.size(2), u8.size(3), u8.size(4)));
        }
        return out;
    }

    /** frames (T, H, W, 3) uint8 → a {@link Video}. */
    private static Video video(INDArray framesU8) {
        long[] s = framesU8.shape();
        int t = (int) s[0], h = (int) s[1], w = (int) s[2];
        int[] v = framesU8.castTo(DataType.INT).dup('c').data().asInt();
        byte[][] rgb = new byte[t][h * w * 3];
        for (int f = 0; f < t; f++)
            for (int i = 0; i < h * w * 3; i++) rgb[f][i] = (byte) v[f * h * w * 3 + i];
        return Video.fromRgb(rgb, h, w, InterpolationPipeline.FPS);
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
