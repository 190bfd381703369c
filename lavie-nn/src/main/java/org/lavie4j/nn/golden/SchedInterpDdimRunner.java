package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.schedulers.RespacedDDIMScheduler;
import org.lavie4j.nn.schedulers.StepOutput;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Golden kind {@code sched_interp_ddim}: the interpolation stage's guided-diffusion sampler
 * ({@link RespacedDDIMScheduler}). {@code create_diffusion} calls give the respaced tables ({@code attr.timestep_map},
 * {@code attr.betas}, {@code attr.alphas_cumprod}, {@code attr.alphas_cumprod_prev}); {@code ddim_sample_loop_progressive}
 * runs the loop from {@code noise} with a stand-in model that returns {@code eps_per_step[j]} at iteration j and records
 * the original timestep it receives ({@code model call j: timestep}), the sample and x0 after each step
 * ({@code yield j: sample}, {@code yield j: pred_xstart}). The model input would be [x ‖ x_start] on channels; the
 * stand-in ignores it, so {@code x_start} is only checked for shape.
 */
public final class SchedInterpDdimRunner implements CaseRunner {
    @Override
    public String kind() { return "sched_interp_ddim"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        Map<String, RespacedDDIMScheduler> objects = new HashMap<>();
        Map<String, INDArray> out = new LinkedHashMap<>();
        JsonNode calls = c.calls();
        if (calls == null || !calls.isArray() || calls.isEmpty()) throw new MalformedCaseException(c.dir(), "case.json: no calls");
        for (JsonNode call : calls) {
            String method = call.path("call").asText(), id = call.path("object").asText();
            switch (method) {
                case "create_diffusion" -> {
                    RespacedDDIMScheduler s = create(c, id, call.path("inputs").path("timestep_respacing").asText(""));
                    objects.put(id, s);
                    for (Iterator<Map.Entry<String, JsonNode>> it = call.path("outputs").fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        INDArray v = switch (e.getKey()) {
                            case "attr.timestep_map" -> Nd4j.createFromArray(s.timestepMap());
                            case "attr.betas" -> Nd4j.createFromArray(s.betas());
                            case "attr.alphas_cumprod" -> Nd4j.createFromArray(s.alphasCumprod());
                            case "attr.alphas_cumprod_prev" -> Nd4j.createFromArray(s.alphasCumprodPrev());
                            default -> throw new MalformedCaseException(c.dir(), "case.json: unsupported create_diffusion output " + e.getKey());
                        };
                        out.put(outName(c, e.getValue().asText()), v);
                    }
                }
                case "ddim_sample_loop_progressive" -> {
                    RespacedDDIMScheduler s = objects.get(id);
                    if (s == null) throw new MalformedCaseException(c.dir(), "case.json: " + method + " on '" + id + "' before create_diffusion");
                    loop(c, call, s, out);
                }
                default -> throw new MalformedCaseException(c.dir(), "case.json: unsupported call '" + method + "'");
            }
        }
        return out;
    }

    /** A sampler as the object's {@code create_diffusion} config describes (only the reference's defaults are supported). */
    private static RespacedDDIMScheduler create(GoldenCase c, String id, String respacing) throws MalformedCaseException {
        JsonNode obj = c.objects().path(id);
        String path = obj.path("config").asText("config.create_diffusion");
        JsonNode cfg;
        try {
            cfg = c.config(path);
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: objects." + id + ".config: " + e.getMessage());
        }
        if (cfg == null || !cfg.isObject()) throw new MalformedCaseException(c.dir(), "case.json: objects." + id + ".config '" + path + "' is not a block");
        if (!cfg.path("noise_schedule").asText("linear").equals("linear"))
            throw new MalformedCaseException(c.dir(), "case.json: noise_schedule " + cfg.path("noise_schedule") + " is not supported (only linear)");
        for (String flag : new String[]{"predict_xstart", "learn_sigma", "use_kl", "rescale_learned_sigmas"})
            if (cfg.path(flag).asBoolean(false))
                throw new MalformedCaseException(c.dir(), "case.json: " + flag + "=true is not supported (LaVie samples epsilon with fixed variance)");
        if (respacing.isEmpty()) throw new MalformedCaseException(c.dir(), "case.json: create_diffusion for '" + id + "' has no timestep_respacing");
        try {
            RespacedDDIMScheduler s = new RespacedDDIMScheduler(cfg.path("diffusion_steps").asInt(1000));
            s.setTimesteps(respacing);
            return s;
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: create_diffusion(" + respacing + "): " + e.getMessage());
        }
    }

    private static void loop(GoldenCase c, JsonNode call, RespacedDDIMScheduler s, Map<String, INDArray> out) throws MalformedCaseException {
        JsonNode in = call.path("inputs");
        if (in.path("clip_denoised").asBoolean(true))
            throw new MalformedCaseException(c.dir(), "case.json: clip_denoised=true is not supported (LaVie samples with False)");
        JsonNode mask = in.get("mask");
        if (mask != null && !mask.isNull()) throw new MalformedCaseException(c.dir(), "case.json: a mask is not supported (copy_no_mask)");
        double eta = in.path("eta").asDouble(0.0);
        if (eta != 0) throw new MalformedCaseException(c.dir(), "case.json: eta " + eta + " needs recorded variance noise, which the case does not give");
        INDArray x = c.source(in.path("noise").asText()).load(DataType.FLOAT);
        INDArray xStart = c.source(in.path("x_start").asText()).load(DataType.FLOAT);
        if (!java.util.Arrays.equals(x.shape(), xStart.shape()))
            throw new MalformedCaseException(c.dir(), "case.json: x_start " + java.util.Arrays.toString(xStart.shape()) + " and noise "
                    + java.util.Arrays.toString(x.shape()) + " differ in shape");
        INDArray epsPerStep = c.input("eps_per_step", DataType.FLOAT);         // (steps, ...) model outputs by loop iteration
        long[] ts = s.timesteps().toLongVector();
        if (epsPerStep.size(0) != ts.length)
            throw new MalformedCaseException(c.dir(), "case.json: eps_per_step has " + epsPerStep.size(0) + " entries for " + ts.length + " steps");

        JsonNode outs = call.path("outputs");
        String timestepsKey = indexed(c, outs, "model call j: timestep"), sampleKey = indexed(c, outs, "yield j: sample"),
                x0Key = indexed(c, outs, "yield j: pred_xstart");
        long[] shape = x.shape();
        long[] stacked = new long[shape.length + 1];
        stacked[0] = ts.length;
        System.arraycopy(shape, 0, stacked, 1, shape.length);
        INDArray samples = Nd4j.create(DataType.FLOAT, stacked), x0s = Nd4j.create(DataType.FLOAT, stacked);
        for (int j = 0; j < ts.length; j++) {
            INDArray eps = epsPerStep.get(NDArrayIndex.point(j)).dup('c');    // the stand-in model's answer at (x ‖ x_start, ts[j])
            StepOutput r = s.step(eps, ts[j], x);
            samples.get(NDArrayIndex.point(j)).assign(r.prevSample());
            x0s.get(NDArrayIndex.point(j)).assign(r.predOriginalSample());
            x = r.prevSample();
        }
        out.put(timestepsKey, Nd4j.createFromArray(ts));
        out.put(sampleKey, samples);
        out.put(x0Key, x0s);
    }

    /** {@code "out.loop.sample[j]"} -> {@code "out.loop.sample"}. */
    private static String indexed(GoldenCase c, JsonNode outs, String what) throws MalformedCaseException {
        String ref = outs.path(what).asText("");
        if (!ref.startsWith("out.") || !ref.endsWith("[j]"))
            throw new MalformedCaseException(c.dir(), "case.json: output '" + what + "' must be out.<name>[j], got '" + ref + "'");
        return ref.substring(0, ref.length() - 3);
    }

    private static String outName(GoldenCase c, String ref) throws MalformedCaseException {
        if (!ref.startsWith("out.")) throw new MalformedCaseException(c.dir(), "case.json: output '" + ref + "' is not out.<name>");
        return ref;
    }
}
