package org.lavie4j.nn.schedulers;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The result of one reverse step: x_{t-1} and, where the scheduler computes one, its estimate of x0
 * ({@code null} for PNDM, whose 0.16 output has none).
 */
public record StepOutput(INDArray prevSample, INDArray predOriginalSample) {
    public StepOutput {
        if (prevSample == null) throw new IllegalArgumentException("prevSample must not be null");
    }
}
