package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Grad;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TorchCheckpoint;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class InterpolationCheckpointsTest {
    private static final Path CASE = TestData.goldenCase("unet_interp");

    private static INDArray run(UNet3DConditionModel unet) {
        TestSeeds.seed(61);
        INDArray x = Nd4j.randn(DataType.FLOAT, 1, 8, 3, 8, 8), ctx = Nd4j.randn(DataType.FLOAT, 1, 77, 32);
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(999L)), Tensor.of(ctx)).data().dup();
        }
    }

    @Test void ptWithEmaAndSafetensorsLoadTheSameModel() throws IOException {
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(CASE.resolve("weights.pt"))) {
            assertEquals("ema", ckpt.stateDictKey());
        }
        UNet3DConditionModel pt = InterpolationCheckpoints.loadInterpolation(CASE.resolve("weights.pt"), UNetConfig.tinyInterpolation());
        UNet3DConditionModel st = InterpolationCheckpoints.loadInterpolation(CASE.resolve("weights.safetensors"), UNetConfig.tinyInterpolation());
        assertFalse(pt.isTraining());
        Map<String, Parameter> a = pt.namedEntries(), b = st.namedEntries();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertEquals(b.get(k).data(), a.get(k).data(), k);
        assertEquals(run(st), run(pt));
    }

    @Test void aBareStateDictWithModulePrefixLoads(@TempDir Path dir) throws IOException {
        Map<String, INDArray> prefixed = new LinkedHashMap<>();
        try (TensorFile w = SafeTensors.read(CASE.resolve("weights.safetensors"))) {
            for (String k : w.keys()) prefixed.put("module." + k, w.get(k).load());
        }
        Path file = dir.resolve("module.safetensors");
        SafeTensors.write(file, prefixed, null);
        assertEquals(run(InterpolationCheckpoints.loadInterpolation(CASE.resolve("weights.safetensors"), UNetConfig.tinyInterpolation())),
                run(InterpolationCheckpoints.loadInterpolation(file, UNetConfig.tinyInterpolation())));
    }

    @Test void wrongFilesAndConfigsGiveClearErrors(@TempDir Path dir) {
        var base = assertThrows(LoadReport.CheckpointMismatchException.class,
                () -> InterpolationCheckpoints.loadInterpolation(TestData.goldenCase("unet_base").resolve("weights.pt"), UNetConfig.tinyInterpolation()));
        assertTrue(base.getMessage().contains("conv_in.weight") && base.getMessage().contains("time_rel_pos_bias"), base.getMessage());
        var missing = assertThrows(NoSuchFileException.class, () -> InterpolationCheckpoints.loadInterpolation(dir.resolve("lavie_interpolation.pt")));
        assertTrue(missing.getMessage().contains("lavie_interpolation.pt"));
        var config = assertThrows(IllegalArgumentException.class, () -> InterpolationCheckpoints.loadInterpolation(CASE.resolve("weights.pt"), UNetConfig.tiny()));
        assertTrue(config.getMessage().contains("BASE"), config.getMessage());
    }
}
