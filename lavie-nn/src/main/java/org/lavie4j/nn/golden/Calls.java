package org.lavie4j.nn.golden;

import com.fasterxml.jackson.databind.JsonNode;
import org.lavie4j.core.Module;
import org.lavie4j.core.golden.GoldenCase;
import org.lavie4j.core.golden.MalformedCaseException;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/** Reading the calls of single-object golden cases: config integers, the calls, their tensor inputs and output keys. */
final class Calls {
    private Calls() {}

    /**
     * Freezes {@code model} and stores its weights as {@code weights} (FLOAT, HALF or BFLOAT16; ops compute in FLOAT)
     * before it is loaded; FLOAT leaves the model as built (the golden contract).
     */
    static <M extends Module> M storeWeights(M model, DataType weights) {
        if (weights == DataType.FLOAT) return model;
        model.setTrainable(false);
        model.storeWeightsAs(weights);
        return model;
    }

    /** Rejects config keys that are not arguments of {@code what} (every key is honoured or rejected, never dropped). */
    static void checkKeys(GoldenCase c, JsonNode cfg, Set<String> known, String what) throws MalformedCaseException {
        for (Iterator<String> it = cfg.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) throw new MalformedCaseException(c.dir(), "case.json: config." + k + " is not a " + what + " argument");
        }
    }

    static int requiredInt(GoldenCase c, JsonNode cfg, String key) throws MalformedCaseException {
        JsonNode v = cfg.get(key);
        if (v == null || !v.canConvertToInt())
            throw new MalformedCaseException(c.dir(), "case.json: config." + key + " missing or not an integer");
        return v.asInt();
    }

    /** The case's calls, each of which must be {@code method}. */
    static List<JsonNode> of(GoldenCase c, String method) throws MalformedCaseException {
        JsonNode calls = c.calls();
        if (calls == null || !calls.isArray() || calls.isEmpty())
            throw new MalformedCaseException(c.dir(), "case.json: no calls");
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode call : calls) {
            if (!method.equals(call.path("call").asText()))
                throw new MalformedCaseException(c.dir(), "case.json: unsupported call '" + call.path("call").asText() + "' (expected " + method + ")");
            out.add(call);
        }
        return out;
    }

    /** The float32 tensor an argument names ({@code "in.<name>"} or an earlier {@code "out.<name>"}); null if absent and optional. */
    static INDArray input(GoldenCase c, JsonNode call, String argument, boolean required) throws MalformedCaseException {
        JsonNode v = call.path("inputs").get(argument);
        if (v == null || v.isNull()) {
            if (required) throw new MalformedCaseException(c.dir(), "case.json: call " + call.path("call").asText() + " lacks input " + argument);
            return null;
        }
        String ref = v.asText();
        if (!ref.startsWith("in.") && !ref.startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: input " + argument + " = '" + ref + "' is not a stored tensor");
        return c.source(ref).load(DataType.FLOAT);
    }

    /** The {@code out.<name>} key the call's {@code return} is stored under. */
    static String returnKey(GoldenCase c, JsonNode call) throws MalformedCaseException {
        return outputKey(c, call, "return");
    }

    /** The {@code out.<name>} key of one of the call's outputs ({@code return}, {@code return.sample}, ...). */
    static String outputKey(GoldenCase c, JsonNode call, String what) throws MalformedCaseException {
        String key = call.path("outputs").path(what).asText("");
        if (!key.startsWith("out."))
            throw new MalformedCaseException(c.dir(), "case.json: call " + call.path("call").asText() + " has no outputs." + what);
        return key;
    }
}
