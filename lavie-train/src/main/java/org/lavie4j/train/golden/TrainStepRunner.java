package org.lavie4j.train.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.schedulers.Scheduler;
import org.lavie4j.nn.schedulers.SchedulerConfig;
import org.lavie4j.nn.schedulers.SchedulerKind;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.train.loss.DiffusionLoss;
import org.lavie4j.train.optim.AdamW;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Golden kind {@code train_step}: one training step of LaVie's base UNet in train mode (golden README, "Kinds"):
 * {@code noisy = DDPM.add_noise(latents, noise, t)}; {@code pred = unet(noisy, t, encoder_hidden_states)};
 * {@code loss = mean((pred − noise)²)}; backward → every parameter's gradient; one {@code torch.optim.AdamW} step →
 * every parameter after the step.
 */
public final class TrainStepRunner implements CaseRunner {
    private static final List<String> CALLS = List.of("add_noise", "forward", "mse_loss", "backward", "step");
    private static final Set<String> OPTIMIZER_KEYS = Set.of("class", "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
            "foreach", "capturable", "differentiable", "fused");

    private final DataType compute;

    /** The runner the golden harness uses: the step in float32, as the reference. */
    public TrainStepRunner() { this(DataType.FLOAT); }

    /**
     * A runner computing the model, loss, backward and optimizer step in {@code compute} (DOUBLE: a float64 re-run to
     * tell float32 rounding from errors); {@code add_noise} stays float32 and outputs are float32.
     */
    public TrainStepRunner(DataType compute) {
        if (compute != DataType.FLOAT && compute != DataType.DOUBLE) throw new IllegalArgumentException("compute must be FLOAT or DOUBLE, got " + compute);
        this.compute = compute;
    }

    @Override
    public String kind() { return "train_step"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        List<JsonNode> calls = calls(c);
        JsonNode addNoise = calls.get(0), forward = calls.get(1), mse = calls.get(2);
        if (forward.path("inputs").path("use_image_num").asInt(0) != 0 || c.config().path("use_image_num").asInt(0) != 0)
            throw new MalformedCaseException(c.dir(), "case.json: use_image_num > 0 has no reference semantics (golden README)");
        if (!"mean".equals(mse.path("inputs").path("reduction").asText("mean")))
            throw new MalformedCaseException(c.dir(), "case.json: mse_loss reduction must be mean");

        UNet3DConditionModel unet = new UNet3DConditionModel(unetConfig(c));
        unet.load(c.weightsStateDict());
        unet.train(true);
        unet.to(compute);
        Scheduler scheduler = scheduler(c);
        AdamW optimizer = new AdamW(unet.namedParameters(), optimizerConfig(c));

        Map<String, INDArray> out = new HashMap<>();
        INDArray latents = tensor(c, addNoise, "original_samples", DataType.FLOAT);
        INDArray noise = tensor(c, addNoise, "noise", DataType.FLOAT);
        INDArray timesteps = tensor(c, addNoise, "timesteps", null);
        INDArray noisy = scheduler.addNoise(latents, noise, timesteps);
        out.put(outputKey(c, addNoise, "return"), noisy.dup('c'));

        INDArray context = tensor(c, forward, "encoder_hidden_states", compute);
        INDArray target = tensor(c, mse, "target", compute);
        try (Tape tape = Grad.record()) {
            Tensor pred = unet.forward(Tensor.of(noisy.castTo(compute)), Tensor.of(timesteps), Tensor.of(context));
            Tensor loss = DiffusionLoss.mse(pred, target);
            out.put(mseOutputKey(c, mse), loss.data().castTo(DataType.FLOAT).dup('c').reshape(1));
            tape.backward(loss);
        }
        for (Map.Entry<String, Parameter> e : unet.namedParameters().entrySet()) {
            INDArray g = e.getValue().grad();
            out.put("out.grad." + e.getKey(), g == null ? Nd4j.zeros(DataType.FLOAT, e.getValue().shape()) : g.castTo(DataType.FLOAT).dup('c'));
        }
        optimizer.step();
        for (Map.Entry<String, Parameter> e : unet.namedParameters().entrySet())
            out.put("out.param." + e.getKey(), e.getValue().data().castTo(DataType.FLOAT).dup('c'));
        return out;
    }

    private static List<JsonNode> calls(GoldenCase c) throws MalformedCaseException {
        JsonNode calls = c.calls();
        List<JsonNode> out = new ArrayList<>();
        if (calls.isArray()) calls.forEach(out::add);
        List<String> names = out.stream().map(n -> n.path("call").asText()).toList();
        if (!names.equals(CALLS))
            throw new MalformedCaseException(c.dir(), "case.json: calls " + names + ", expected " + CALLS);
        return out;
    }

    private static UNetConfig unetConfig(GoldenCase c) throws MalformedCaseException {
        try {
            return UNetConfig.fromJson(c.config("config.unet")).config();
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config.unet: " + e.getMessage());
        }
    }

    private static Scheduler scheduler(GoldenCase c) throws MalformedCaseException {
        JsonNode cfg = c.config("config.scheduler");
        try {
            SchedulerKind kind = SchedulerKind.fromClassName(cfg.path("class").asText("DDPMScheduler"));
            return Scheduler.create(SchedulerConfig.fromJson(cfg, kind));
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config.scheduler: " + e.getMessage());
        }
    }

    /** torch.optim.AdamW keyword arguments; options that change the maths away from plain AdamW are rejected. */
    private static AdamW.Config optimizerConfig(GoldenCase c) throws MalformedCaseException {
        JsonNode cfg = c.config("config.optimizer");
        if (!cfg.isObject()) throw new MalformedCaseException(c.dir(), "case.json: config.optimizer missing");
        for (Iterator<String> it = cfg.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!OPTIMIZER_KEYS.contains(k)) throw new MalformedCaseException(c.dir(), "case.json: config.optimizer." + k + " is not an AdamW argument");
        }
        if (!cfg.path("class").asText("AdamW").equals("AdamW"))
            throw new MalformedCaseException(c.dir(), "case.json: config.optimizer.class " + cfg.path("class").asText() + " is not AdamW");
        if (cfg.path("amsgrad").asBoolean(false) || cfg.path("maximize").asBoolean(false))
            throw new MalformedCaseException(c.dir(), "case.json: config.optimizer: amsgrad / maximize are not supported");
        AdamW.Config d = AdamW.Config.defaults();
        JsonNode betas = cfg.path("betas");
        if (!betas.isMissingNode() && (!betas.isArray() || betas.size() != 2))
            throw new MalformedCaseException(c.dir(), "case.json: config.optimizer.betas must be a pair, got " + betas);
        try {
            return new AdamW.Config(cfg.path("lr").asDouble(d.lr()),
                    betas.isArray() ? betas.get(0).asDouble() : d.beta1(), betas.isArray() ? betas.get(1).asDouble() : d.beta2(),
                    cfg.path("eps").asDouble(d.eps()), cfg.path("weight_decay").asDouble(d.weightDecay()));
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config.optimizer: " + e.getMessage());
        }
    }

    /** The tensor a call argument names ({@code in.<name>} or an earlier {@code out.<name>}), in {@code type} (null: as stored). */
    private static INDArray tensor(GoldenCase c, JsonNode call, String argument, DataType type) throws MalformedCaseException {
        String ref = call.path("inputs").path(argument).asText("");
        if (!ref.startsWith("in.") && !ref.startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: call " + call.path("call").asText() + ": input " + argument + " = '" + ref + "' is not a stored tensor");
        return type == null ? c.source(ref).load() : c.source(ref).load(type);
    }

    private static String outputKey(GoldenCase c, JsonNode call, String what) throws MalformedCaseException {
        String key = call.path("outputs").path(what).asText("");
        if (!key.startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: call " + call.path("call").asText() + " has no outputs." + what);
        return key;
    }

    /** The loss output: the mse_loss call's only output (its key says it was reshaped to [1]). */
    private static String mseOutputKey(GoldenCase c, JsonNode call) throws MalformedCaseException {
        JsonNode outputs = call.path("outputs");
        if (!outputs.isObject() || outputs.size() != 1)
            throw new MalformedCaseException(c.dir(), "case.json: call mse_loss must have one output");
        String key = outputs.elements().next().asText("");
        if (!key.startsWith("out.")) throw new MalformedCaseException(c.dir(), "case.json: call mse_loss output '" + key + "' is not out.<name>");
        return key;
    }
}
