package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.schedulers.DDPMScheduler;
import org.lavie4j.nn.schedulers.EulerDiscreteScheduler;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.schedulers.StepOutput;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Golden kind {@code schedulers}: replays the case's {@code calls} on fresh schedulers, one per object id
 * ({@code K}, {@code K@50}, {@code K@traj}, ...), each built from the config its {@code objects} entry names.
 * Calls: {@code __init__} (attr.alphas_cumprod), {@code set_timesteps} (attr.timesteps, and for Euler attr.sigmas,
 * attr.init_noise_sigma), {@code scale_model_input}, {@code step}, {@code add_noise}. DDPM steps use the recorded
 * draw named by {@code random_draws.variance_noise} as the variance noise (and return it as that output); Euler's
 * draw is multiplied by 0 in the reference (s_churn 0) and is not needed.
 */
public final class SchedulersRunner implements CaseRunner {
    private static final Pattern INDEXED = Pattern.compile("((?:in|out)\\.[A-Za-z0-9_.]+)(?:\\[(\\d+)])?");

    @Override
    public String kind() { return "schedulers"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        Map<String, Scheduler> objects = new HashMap<>();
        Map<String, INDArray> out = new LinkedHashMap<>();
        JsonNode calls = c.calls();
        if (!calls.isArray() || calls.isEmpty()) throw new MalformedCaseException(c.dir(), "case.json: no calls");
        for (JsonNode call : calls) {
            String method = call.path("call").asText();
            String id = call.path("object").asText();
            Scheduler s = objects.get(id);
            if (s == null) {
                s = create(c, id);
                objects.put(id, s);
            }
            JsonNode in = call.path("inputs");
            JsonNode outs = call.path("outputs");
            switch (method) {
                case "__init__" -> {
                    for (Iterator<Map.Entry<String, JsonNode>> it = outs.fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        if (!e.getKey().equals("attr.alphas_cumprod"))
                            throw new MalformedCaseException(c.dir(), "case.json: unsupported __init__ output " + e.getKey());
                        put(c, out, e.getValue().asText(), s.schedule().alphasCumprodArray());
                    }
                }
                case "set_timesteps" -> {
                    s.setTimesteps(in.path("num_inference_steps").asInt());
                    for (Iterator<Map.Entry<String, JsonNode>> it = outs.fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        INDArray v = switch (e.getKey()) {
                            case "attr.timesteps" -> s.timesteps();
                            case "attr.sigmas" -> euler(c, s).sigmas();
                            case "attr.init_noise_sigma" -> Nd4j.createFromArray(new float[] {s.initNoiseSigma()});
                            default -> throw new MalformedCaseException(c.dir(), "case.json: unsupported set_timesteps output " + e.getKey());
                        };
                        put(c, out, e.getValue().asText(), v);
                    }
                }
                case "scale_model_input" -> put(c, out, Calls.returnKey(c, call),
                        s.scaleModelInput(tensor(c, out, in.get("sample")), scalar(c, out, in.get("timestep"))));
                case "step" -> {
                    INDArray mo = tensor(c, out, in.get("model_output"));
                    INDArray x = tensor(c, out, in.get("sample"));
                    double t = scalar(c, out, in.get("timestep"));
                    StepOutput r;
                    if (s instanceof DDPMScheduler ddpm) {
                        String noiseKey = call.path("random_draws").path("variance_noise").asText("");
                        if (!noiseKey.startsWith("out."))
                            throw new MalformedCaseException(c.dir(), "case.json: DDPM step without random_draws.variance_noise");
                        INDArray noise = c.source(noiseKey).load(DataType.FLOAT);
                        put(c, out, noiseKey, noise);
                        r = ddpm.step(mo, Scheduler.discrete(t), x, noise);
                    } else {
                        r = s.step(mo, t, x, null);
                    }
                    put(c, out, Calls.outputKey(c, call, "return.prev_sample"), r.prevSample());
                    if (outs.has("return.pred_original_sample")) {
                        if (r.predOriginalSample() == null)
                            throw new MalformedCaseException(c.dir(), "case.json: " + id + " returns no pred_original_sample");
                        put(c, out, Calls.outputKey(c, call, "return.pred_original_sample"), r.predOriginalSample());
                    }
                }
                case "add_noise" -> put(c, out, Calls.returnKey(c, call), s.addNoise(tensor(c, out, in.get("original_samples")),
                        tensor(c, out, in.get("noise")), tensor(c, out, in.get("timesteps"))));
                default -> throw new MalformedCaseException(c.dir(), "case.json: unsupported call '" + method + "'");
            }
        }
        return out;
    }

    private static Scheduler create(GoldenCase c, String id) throws MalformedCaseException {
        JsonNode obj = c.objects().path(id);
        if (!obj.isObject()) throw new MalformedCaseException(c.dir(), "case.json: no objects." + id);
        JsonNode cfg = c.config(obj.path("config").asText("config"));
        try {
            SchedulerKind kind = SchedulerKind.fromClassName(obj.path("class").asText(cfg.path("class").asText()));
            return Scheduler.create(SchedulerConfig.fromJson(cfg, kind));
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: objects." + id + ": " + e.getMessage(), e);
        }
    }

    private static EulerDiscreteScheduler euler(GoldenCase c, Scheduler s) throws MalformedCaseException {
        if (s instanceof EulerDiscreteScheduler e) return e;
        throw new MalformedCaseException(c.dir(), "case.json: sigmas requested from " + s.config().kind());
    }

    /** Stores an output in its declared dtype (I64 timesteps, F32 Euler timesteps, F32 otherwise). */
    private static void put(GoldenCase c, Map<String, INDArray> out, String key, INDArray v) throws MalformedCaseException {
        if (!key.startsWith("out.")) throw new MalformedCaseException(c.dir(), "case.json: output '" + key + "' is not out.<name>");
        GoldenCase.TensorSpec spec = c.outputs().get(key.substring(4));
        DataType type = spec != null ? spec.dtype().nd4j() : DataType.FLOAT;
        out.put(key, v.dataType() == type ? v : v.castTo(type));
    }

    /** A tensor argument: in./out. reference (optionally [i]), {"mul": [x, s]}, or {"tensor": [...], "dtype": "I64"}. */
    private static INDArray tensor(GoldenCase c, Map<String, INDArray> out, JsonNode v) throws MalformedCaseException {
        if (v == null || v.isNull()) throw new MalformedCaseException(c.dir(), "case.json: missing tensor argument");
        if (v.isTextual()) {
            Matcher m = INDEXED.matcher(v.asText());
            if (!m.matches()) throw new MalformedCaseException(c.dir(), "case.json: '" + v.asText() + "' is not a tensor reference");
            String key = m.group(1);
            INDArray t;
            if (key.startsWith("out.")) {
                t = out.get(key);
                if (t == null) throw new MalformedCaseException(c.dir(), "case.json: '" + key + "' is used before a call produces it");
            } else {
                t = c.source(key).load(DataType.FLOAT);
            }
            return m.group(2) == null ? t : t.reshape(t.length()).getScalar(Long.parseLong(m.group(2)));
        }
        if (v.has("mul")) {
            JsonNode a = v.get("mul");
            return tensor(c, out, a.get(0)).mul((float) a.get(1).asDouble());
        }
        if (v.has("tensor")) {
            if (!"I64".equals(v.path("dtype").asText()))
                throw new MalformedCaseException(c.dir(), "case.json: literal tensor dtype " + v.path("dtype") + " (expected I64)");
            long[] vals = new long[v.get("tensor").size()];
            for (int i = 0; i < vals.length; i++) vals[i] = v.get("tensor").get(i).asLong();
            return Nd4j.createFromArray(vals);
        }
        throw new MalformedCaseException(c.dir(), "case.json: unsupported argument " + v);
    }

    private static double scalar(GoldenCase c, Map<String, INDArray> out, JsonNode v) throws MalformedCaseException {
        if (v != null && v.isNumber()) return v.asDouble();
        INDArray t = tensor(c, out, v);
        if (t.length() != 1) throw new MalformedCaseException(c.dir(), "case.json: timestep " + v + " is not a scalar");
        return t.getDouble(0);
    }
}
