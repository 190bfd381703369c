package org.lavie4j.core;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The backward rule of one op: given the gradient of the loss with respect to the op's output, returns the
 * gradient with respect to each input (null for inputs that need none). Returned arrays are never mutated by
 * the tape; they may alias {@code gradOutput}.
 */
@FunctionalInterface
public interface Backward {
    INDArray[] apply(INDArray gradOutput);
}
