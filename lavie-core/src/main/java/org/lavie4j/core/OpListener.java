package org.lavie4j.core;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * An observer of finished ops, for profiling only (benchmarks' {@code UNetProfile}). Off by default: while none is
 * set ({@link Ops#setListener}), ops pay one volatile read. A listener sees every op result as it is wrapped by
 * {@link Ops#record} (including view ops), after ND4J has computed it and in execution order; it must not modify
 * {@code out} or the inputs, so numerics are unchanged. Not for production code paths.
 */
@FunctionalInterface
public interface OpListener {
    /**
     * @param op     the op's name as recorded on the tape ({@code "conv2d"}, {@code "linear"}, ...)
     * @param out    the op's result (read only)
     * @param inputs the op's inputs as passed to {@code record} (entries may be null, e.g. an absent bias)
     */
    void onOp(String op, INDArray out, Tensor[] inputs);
}
