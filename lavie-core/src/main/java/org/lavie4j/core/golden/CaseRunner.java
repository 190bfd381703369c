package org.lavie4j.core.golden;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * Runs the golden cases of one kind on the current code. Implementations register themselves for
 * {@link java.util.ServiceLoader} in {@code META-INF/services/org.lavie4j.core.golden.CaseRunner} and need a public
 * no-argument constructor.
 *
 * <p>A runner builds what the case's {@code objects} describe (config from {@link GoldenCase#config()}, weights from
 * {@link GoldenCase#weights()}), makes the case's {@code calls} with its inputs, and returns every output. It must
 * work for any case of its kind, including other shapes, batch sizes and seeds than the shipped ones.
 */
public interface CaseRunner {
    /** The case kind this runner implements, e.g. {@code layer_inflated_conv}. */
    String kind();

    /**
     * Runs the case.
     *
     * @return {@code "out.<name>"} -> computed array, for every output the case declares; the arrays must have the
     *         declared dtype (F32 for float outputs, I64 / U8 where the case stores those)
     */
    Map<String, INDArray> run(GoldenCase c) throws Exception;
}
