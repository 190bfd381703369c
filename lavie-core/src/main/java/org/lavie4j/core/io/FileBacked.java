package org.lavie4j.core.io;

import org.lavie4j.core.Memory;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Sources whose {@link TensorSource#load()} returns a fresh array the caller owns (and frees with
 * {@link Memory#free}). Converting loads free the intermediate array in the stored dtype.
 */
interface FileBacked extends TensorSource {
    @Override
    default INDArray load(DataType type) {
        INDArray a = load();
        if (a.dataType() == type) return a;
        INDArray c = a.castTo(type);
        Memory.free(a);
        return c;
    }
}
