package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.GenerateResult;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.pipeline.TextToVideoPipeline;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code pipeline_base}: LaVie's {@code VideoGenPipeline} end to end with precomputed text states
 * ({@code text_encoder(input_ids)}), DDIM eta 0, CFG on [uncond, cond], the given initial latents, and the VAE decode.
 * Outputs: the text states, the final latents, the decoded video (B,C,F,H,W), its [0,1] form and the uint8 video.
 */
public final class PipelineBaseRunner implements CaseRunner {
    @Override
    public String kind() { return "pipeline_base"; }

    /** The case's parts, loaded: text encoder, UNet, VAE (eval mode) and a fresh scheduler. */
    public record Parts(CLIPTextModel textEncoder, UNet3DConditionModel unet, AutoencoderKL vae, Scheduler scheduler) {
        public TextToVideoPipeline pipeline() { return new TextToVideoPipeline(null, textEncoder, unet, vae, scheduler); }
    }

    /** Builds the objects of a {@code pipeline_base} case from its configs and {@code <part>.}-prefixed weights. */
    public static Parts parts(GoldenCase c) throws Exception {
        try {
            CLIPTextModel te = new CLIPTextModel(CLIPTextConfig.fromJson(c.config(ref(c, "text_encoder"))).config());
            UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.fromJson(c.config(ref(c, "unet"))).config());
            AutoencoderKL vae = new AutoencoderKL(VaeConfig.fromJson(c.config(ref(c, "vae"))).config());
            JsonNode sc = c.config(ref(c, "scheduler"));
            SchedulerKind kind = SchedulerKind.fromClassName(sc.path("class").asText("DDIMScheduler"));
            Scheduler scheduler = Scheduler.create(SchedulerConfig.fromJson(sc, kind));
            te.load(c.weightsStateDict().withoutPrefix(prefix(c, "text_encoder")));
            unet.load(c.weightsStateDict().withoutPrefix(prefix(c, "unet")));
            vae.load(c.weightsStateDict().withoutPrefix(prefix(c, "vae")));
            te.eval();
            unet.eval();
            vae.eval();
            return new Parts(te, unet, vae, scheduler);
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: " + e.getMessage());
        }
    }

    private static String ref(GoldenCase c, String object) throws MalformedCaseException {
        String r = c.objects().path(object).path("config").asText("");
        if (!r.startsWith("config.")) throw new MalformedCaseException(c.dir(), "case.json: objects." + object + ".config missing");
        return r;
    }

    private static String prefix(GoldenCase c, String object) {
        return c.objects().path(object).path("weights_prefix").asText(object + ".");
    }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        Parts parts = parts(c);
        JsonNode cfg = c.config();
        JsonNode calls = c.calls();
        if (calls == null || !calls.isArray() || calls.isEmpty()) throw new MalformedCaseException(c.dir(), "case.json: no calls");
        double eta = cfg.path("eta").asDouble(0.0);
        if (eta != 0.0) throw new MalformedCaseException(c.dir(), "case.json: eta " + eta + " is not supported (the pipeline runs DDIM with eta 0)");
        if (!"[uncond, cond]".equals(cfg.path("cfg_batch_order").asText("[uncond, cond]")))
            throw new MalformedCaseException(c.dir(), "case.json: cfg_batch_order must be [uncond, cond]");

        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            // text_encoder(input_ids) for each forward call
            for (JsonNode call : calls) {
                if (!"forward".equals(call.path("call").asText()) || !"text_encoder".equals(call.path("object").asText())) continue;
                String ids = call.path("inputs").path("input_ids").asText("");
                if (!ids.startsWith("in.")) throw new MalformedCaseException(c.dir(), "case.json: text_encoder call lacks stored input_ids");
                Tensor y = parts.textEncoder().forward(Tensor.of(c.source(ids).load()));
                out.put(Calls.outputKey(c, call, "return.last_hidden_state"), y.data().castTo(DataType.FLOAT).dup('c'));
                y.release();
            }
            JsonNode pc = null;
            for (JsonNode call : calls) if ("pipeline".equals(call.path("object").asText())) pc = call;
            if (pc == null) throw new MalformedCaseException(c.dir(), "case.json: no pipeline call");
            JsonNode in = pc.path("inputs");
            INDArray cond = lookup(c, out, in.path("prompt_embeds").asText(""));
            INDArray uncond = lookup(c, out, in.path("negative_prompt_embeds").asText(""));
            INDArray latents = lookup(c, out, in.path("latents").asText(""));
            GenerateOptions options = GenerateOptions.builder()
                    .embeddings(cond, uncond)
                    .frames(in.path("video_length").asInt(cfg.path("video_length").asInt()))
                    .size(in.path("height").asInt(cfg.path("height").asInt()), in.path("width").asInt(cfg.path("width").asInt()))
                    .steps(in.path("num_inference_steps").asInt(cfg.path("num_inference_steps").asInt()))
                    .guidanceScale(in.path("guidance_scale").asDouble(cfg.path("guidance_scale").asDouble()))
                    .latents(latents)
                    .outputType(OutputType.FRAMES)
                    .framesPerSlice(2)                       // sliced decode must equal the reference's one-batch decode
                    .build();
            GenerateResult r = parts.pipeline().generate(options);
            String latKey = Calls.outputKey(c, pc, "latents after the last denoising step");
            out.put(latKey, r.latents().castTo(DataType.FLOAT).dup('c'));
            out.put(Calls.outputKey(c, pc, "return.video"), r.videoUint8());
            for (JsonNode call : calls) {
                String m = call.path("call").asText();
                if ("decode".equals(m)) {
                    out.put(Calls.outputKey(c, call, "return.sample rearranged (b f) c h w -> b c f h w"), r.video().dup('c'));
                } else if ("clamp".equals(m)) {
                    out.put(Calls.returnKey(c, call), r.video01().dup('c'));
                }
            }
        }
        return out;
    }

    private static INDArray lookup(GoldenCase c, Map<String, INDArray> out, String ref) throws MalformedCaseException {
        if (out.containsKey(ref)) return out.get(ref);
        if (ref.startsWith("in.")) return c.source(ref).load(DataType.FLOAT);
        throw new MalformedCaseException(c.dir(), "case.json: pipeline input '" + ref + "' is neither an input nor an earlier output");
    }
}
