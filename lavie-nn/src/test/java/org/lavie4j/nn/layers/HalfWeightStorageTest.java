package org.lavie4j.nn.layers;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.clip.CLIPTextConfig;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Module.storeWeightsAs: half-precision storage of frozen weights, FLOAT compute, FLOAT copies freed after use. */
class HalfWeightStorageTest {
    private static Linear frozenLinear() {
        TestSeeds.seed(7);
        Linear l = new Linear(16, 8, true);
        l.setTrainable(false);
        return l;
    }

    /** A FLOAT Linear holding {@code src}'s weights rounded to {@code type}: what half storage must compute exactly. */
    private static Linear roundedTwin(Linear src, DataType type) {
        Linear twin = new Linear(16, 8, true);
        twin.weight().set(src.weight().data().castTo(type).castTo(DataType.FLOAT));
        twin.bias().set(src.bias().data().castTo(type).castTo(DataType.FLOAT));
        return twin;
    }

    @Test void halfStoredLinearComputesInFloatWithTheRoundedWeights() {
        for (DataType type : new DataType[]{DataType.HALF, DataType.BFLOAT16}) {
            Linear l = frozenLinear();
            Linear twin = roundedTwin(l, type);
            l.storeWeightsAs(type);
            assertEquals(type, l.weight().dtype());
            assertEquals(type, l.bias().dtype());
            assertEquals(DataType.FLOAT, l.weight().computeType());
            assertTrue(l.weight().isHalfStored());
            assertEquals(2L * (16 * 8 + 8), l.parameterBytes());

            INDArray x = Nd4j.randn(DataType.FLOAT, 3, 16);
            Tensor y = l.forward(Tensor.of(x));
            assertEquals(DataType.FLOAT, y.dtype());
            assertEquals(twin.forward(Tensor.of(x)).data(), y.data(), type + ": not the FLOAT product of the rounded weights");
        }
    }

    @Test void theFloatCopyIsFreshAndReleasable() {
        Linear l = frozenLinear();
        Parameter w = l.weight();
        assertSame(w.tensor(), w.tensor(), "FLOAT storage hands out its leaf");
        w.tensor().release();                                   // a no-op on the leaf
        assertEquals(DataType.FLOAT, w.data().dataType());

        l.storeWeightsAs(DataType.BFLOAT16);
        Tensor a = w.tensor(), b = w.tensor();
        assertNotSame(a, b);
        assertFalse(a.sharesMemoryWith(b));
        assertEquals(DataType.FLOAT, a.dtype());
        a.release();
        assertThrows(IllegalStateException.class, a::data, "released copy must be freed");
        assertEquals(DataType.BFLOAT16, w.data().dataType(), "releasing the copy leaves the stored values");
        b.release();
    }

    @Test void trainableParametersRefuseHalfStorage() {
        Linear l = new Linear(16, 8, true);                     // trainable, as built
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> l.storeWeightsAs(DataType.HALF));
        assertTrue(e.getMessage().contains("weight") && e.getMessage().contains("setTrainable(false)"), e.getMessage());
        assertEquals(DataType.FLOAT, l.weight().dtype(), "nothing changed");
        assertEquals(DataType.FLOAT, l.bias().dtype(), "nothing changed");
        assertThrows(IllegalStateException.class, () -> l.weight().storeAs(DataType.BFLOAT16));

        Linear f = frozenLinear();
        f.storeWeightsAs(DataType.BFLOAT16);
        IllegalStateException e2 = assertThrows(IllegalStateException.class, () -> f.setTrainable(true));
        assertTrue(e2.getMessage().contains("BFLOAT16"), e2.getMessage());
        f.storeWeightsAs(DataType.FLOAT);                       // back to FLOAT storage (rounding kept): trainable again
        assertEquals(DataType.FLOAT, f.weight().dtype());
        assertFalse(f.weight().isHalfStored());
        f.setTrainable(true);
        assertTrue(f.weight().isTrainable());
    }

    @Test void onlyFloatHalfAndBfloat16AreStorageTypes() {
        Linear l = frozenLinear();
        assertThrows(IllegalArgumentException.class, () -> l.storeWeightsAs(DataType.DOUBLE));
        assertThrows(IllegalArgumentException.class, () -> l.storeWeightsAs(DataType.INT));
    }

    @Test void loadingConvertsStraightToTheStoredDtype() {
        Linear src = frozenLinear();
        Linear dst = new Linear(16, 8, true);
        dst.setTrainable(false);
        dst.storeWeightsAs(DataType.HALF);
        dst.load(src.stateDict());
        assertEquals(DataType.HALF, dst.weight().dtype());
        assertEquals(src.weight().data().castTo(DataType.HALF), dst.weight().data());
        assertEquals(DataType.FLOAT, src.weight().dtype(), "the source is untouched");
        src.weight().data().addi(0);                           // and still alive (not freed by the conversion)
    }

    @Test void buffersKeepTheirDtypeAndWeightBytesHalve() {
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.tiny());
        CLIPTextModel clip = new CLIPTextModel(CLIPTextConfig.tiny());
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.tiny());
        for (Module m : new Module[]{unet, clip, vae}) {
            long fp32 = m.parameterBytes();
            assertEquals(4 * m.parameterCount(), fp32);
            m.setTrainable(false);
            m.storeWeightsAs(DataType.BFLOAT16);
            assertEquals(fp32 / 2, m.parameterBytes());
            System.out.printf("weights held, %s tiny: %d parameters, fp32 %d B, bf16 %d B%n", m.getClass().getSimpleName(),
                    m.parameterCount(), fp32, m.parameterBytes());
            m.namedEntries().forEach((k, p) -> {
                if (p.isBuffer()) assertFalse(p.isHalfStored(), k + ": buffers keep their dtype");
                else assertEquals(DataType.BFLOAT16, p.dtype(), k);
            });
            if (m != vae) assertTrue(m.namedEntries().values().stream().anyMatch(Parameter::isBuffer), "the model has buffers");
        }
    }

    /** A frozen half-stored layer inside a recorded graph (e.g. LoRA on a frozen base): gradients reach the input. */
    @Test void recordedBackwardThroughHalfStoredWeights() {
        Linear l = frozenLinear();
        Linear twin = roundedTwin(l, DataType.BFLOAT16);
        twin.setTrainable(false);
        l.storeWeightsAs(DataType.BFLOAT16);
        INDArray x0 = Nd4j.randn(DataType.FLOAT, 3, 16);
        INDArray[] grads = new INDArray[2];
        Linear[] layers = {l, twin};
        for (int i = 0; i < 2; i++) {
            Tensor x = Tensor.leaf(x0.dup(), true);
            try (Tape tape = Grad.record()) {
                Tensor y = layers[i].forward(x);
                tape.backward(y, Nd4j.ones(DataType.FLOAT, 3, 8));
            }
            grads[i] = x.grad();
        }
        assertEquals(grads[1], grads[0]);
    }
}
