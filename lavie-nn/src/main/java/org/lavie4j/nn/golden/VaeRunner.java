package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseRunner;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * Golden kind {@code vae}: diffusers {@code AutoencoderKL(**config)}; {@code encode(x).latent_dist} ->
 * {@code .mean}, {@code .logvar}; {@code decode(z).sample}.
 */
public final class VaeRunner implements CaseRunner {
    private final DataType weights;

    /** Full-precision weights: the golden contract. */
    public VaeRunner() { this(DataType.FLOAT); }

    /** Weights stored as {@code weights} (FLOAT, HALF or BFLOAT16) while every op computes in FLOAT. */
    public VaeRunner(DataType weights) { this.weights = weights; }

    @Override
    public String kind() { return "vae"; }

    @Override
    public Map<String, INDArray> run(GoldenCase c) throws Exception {
        VaeConfig config;
        try {
            config = VaeConfig.fromJson(c.config()).config();
        } catch (IllegalArgumentException e) {
            throw new MalformedCaseException(c.dir(), "case.json: config: " + e.getMessage());
        }
        AutoencoderKL vae = new AutoencoderKL(config);
        Calls.storeWeights(vae, weights);   // before load: the checkpoint converts straight to the stored dtype
        vae.load(c.weightsStateDict());
        vae.eval();
        JsonNode calls = c.calls();
        if (calls == null || !calls.isArray() || calls.isEmpty()) throw new MalformedCaseException(c.dir(), "case.json: no calls");
        Map<String, INDArray> out = new HashMap<>();
        try (Tape off = Grad.disabled()) {
            for (JsonNode call : calls) {
                String method = call.path("call").asText();
                switch (method) {
                    case "encode" -> {
                        DiagonalGaussian posterior = vae.encode(Tensor.of(Calls.input(c, call, "x", true)));
                        boolean any = false;
                        if (call.path("outputs").has("return.latent_dist.mean")) {
                            out.put(Calls.outputKey(c, call, "return.latent_dist.mean"), f32(posterior.mean()));
                            any = true;
                        }
                        if (call.path("outputs").has("return.latent_dist.logvar")) {
                            out.put(Calls.outputKey(c, call, "return.latent_dist.logvar"), f32(posterior.logvar()));
                            any = true;
                        }
                        if (!any) throw new MalformedCaseException(c.dir(), "case.json: encode call has no latent_dist.mean / .logvar output");
                        posterior.release();
                    }
                    case "decode" -> {
                        Tensor y = vae.decode(Tensor.of(Calls.input(c, call, "z", true)));
                        out.put(Calls.outputKey(c, call, "return.sample"), f32(y));
                        y.release();
                    }
                    default -> throw new MalformedCaseException(c.dir(), "case.json: unsupported call '" + method + "' (expected encode or decode)");
                }
            }
        }
        return out;
    }

    private static INDArray f32(Tensor t) { return t.data().castTo(DataType.FLOAT).dup('c'); }
}
