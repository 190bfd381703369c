package org.lavie4j.nn.unet;

import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.golden.CaseResult;
import org.lavie4j.core.golden.GoldenRunner;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.testing.TestData;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.*;

class UNet3DVSRModelTest {
    @Test void goldenCasePasses() throws Exception {
        CaseResult r = GoldenRunner.discover().run(TestData.goldenCase("unet_vsr"));
        System.out.println(r);
        assertTrue(r.passed(), r.toString());
    }
}
