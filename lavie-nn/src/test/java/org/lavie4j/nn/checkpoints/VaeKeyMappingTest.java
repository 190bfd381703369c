package org.lavie4j.nn.checkpoints;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.TensorSource;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class VaeKeyMappingTest {
    private static final String A = "decoder.mid_block.attentions.0.";

    @BeforeEach
    void seed() {
        TestSeeds.seed(20261125);
    }

    @Test void newNamesMapToDiffusers016Names() {
        StateDict in = new StateDict("new.safetensors")
                .put("decoder.conv_in.weight", Nd4j.rand(DataType.FLOAT, 4, 4, 3, 3))
                .put(A + "group_norm.weight", Nd4j.rand(DataType.FLOAT, 4))
                .put(A + "to_q.weight", Nd4j.rand(DataType.FLOAT, 4, 4)).put(A + "to_q.bias", Nd4j.rand(DataType.FLOAT, 4))
                .put(A + "to_k.weight", Nd4j.rand(DataType.FLOAT, 4, 4)).put(A + "to_k.bias", Nd4j.rand(DataType.FLOAT, 4))
                .put(A + "to_v.weight", Nd4j.rand(DataType.FLOAT, 4, 4)).put(A + "to_v.bias", Nd4j.rand(DataType.FLOAT, 4))
                .put(A + "to_out.0.weight", Nd4j.rand(DataType.FLOAT, 4, 4)).put(A + "to_out.0.bias", Nd4j.rand(DataType.FLOAT, 4));
        StateDict out = VaeKeyMapping.toDiffusers016(in);
        assertEquals(List.of("decoder.conv_in.weight", A + "group_norm.weight", A + "query.weight", A + "query.bias",
                A + "key.weight", A + "key.bias", A + "value.weight", A + "value.bias", A + "proj_attn.weight", A + "proj_attn.bias"),
                List.copyOf(out.keys()));
        assertEquals("new.safetensors", out.origin());
        assertSame(in.get("decoder.conv_in.weight"), out.get("decoder.conv_in.weight"), "other keys pass through untouched");
        assertSame(in.get(A + "to_out.0.bias").load(), out.get(A + "proj_attn.bias").load());
        assertEquals(A + "proj_attn.bias", out.get(A + "proj_attn.bias").key());
        assertEquals(10, in.size(), "the input is not changed");
    }

    @Test void convShapedProjectionWeightsAreSqueezedLazily() {
        INDArray w = Nd4j.rand(DataType.FLOAT, 3, 3, 1, 1);
        AtomicInteger loads = new AtomicInteger();
        TensorSource counted = new TensorSource() {
            @Override public String key() { return "encoder.mid_block.attentions.0.to_v.weight"; }
            @Override public DType dtype() { return DType.F32; }
            @Override public long[] shape() { return w.shape().clone(); }
            @Override public INDArray load() { loads.incrementAndGet(); return w.dup(); }
        };
        StateDict out = VaeKeyMapping.toDiffusers016(new StateDict("f")
                .put("encoder.mid_block.attentions.0.to_v.weight", counted)
                .put("encoder.mid_block.attentions.0.proj_attn.weight", Nd4j.rand(DataType.FLOAT, 3, 3, 1, 1)));
        TensorSource v = out.get("encoder.mid_block.attentions.0.value.weight");
        assertArrayEquals(new long[]{3, 3}, v.shape());
        assertEquals(DType.F32, v.dtype());
        assertEquals(0, loads.get(), "nothing is read until loaded");
        assertEquals(w.reshape(3, 3), v.load());
        assertEquals(DataType.DOUBLE, v.load(DataType.DOUBLE).dataType());
        assertArrayEquals(new long[]{3, 3}, out.get("encoder.mid_block.attentions.0.proj_attn.weight").shape(), "old names are squeezed too");
    }

    @Test void otherShapesAndOtherKeysAreLeftForTheLoadReport() {
        StateDict in = new StateDict("f")
                .put(A + "to_q.weight", Nd4j.rand(DataType.FLOAT, 3, 3, 3, 3))                       // not 1x1: a mismatch to report
                .put(A + "to_q.bias", Nd4j.rand(DataType.FLOAT, 3, 1))                               // biases are never reshaped
                .put("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", Nd4j.rand(DataType.FLOAT, 3, 3))
                .put("mid_block.attentions.0.to_k.weight", Nd4j.rand(DataType.FLOAT, 2, 2));        // a bare prefix also maps
        StateDict out = VaeKeyMapping.toDiffusers016(in);
        assertArrayEquals(new long[]{3, 3, 3, 3}, out.get(A + "query.weight").shape());
        assertArrayEquals(new long[]{3, 1}, out.get(A + "query.bias").shape());
        assertTrue(out.contains("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"));
        assertTrue(out.contains("mid_block.attentions.0.key.weight"));
    }

    @Test void bothNamingsForOneKeyIsAnErrorNamingBoth() {
        StateDict in = new StateDict("mixed.safetensors")
                .put(A + "query.weight", Nd4j.rand(DataType.FLOAT, 2, 2))
                .put(A + "to_q.weight", Nd4j.rand(DataType.FLOAT, 2, 2));
        var e = assertThrows(IllegalArgumentException.class, () -> VaeKeyMapping.toDiffusers016(in));
        assertTrue(e.getMessage().contains("mixed.safetensors") && e.getMessage().contains(A + "query.weight")
                && e.getMessage().contains(A + "to_q.weight"), e.getMessage());
    }

    @Test void aDiffusers016StateDictMapsToItself() {
        StateDict sd = new AutoencoderKL(VaeConfig.tiny()).stateDict();
        StateDict out = VaeKeyMapping.toDiffusers016(sd);
        assertEquals(List.copyOf(sd.keys()), List.copyOf(out.keys()));
        for (String k : sd.keys()) {
            assertSame(sd.get(k), out.get(k), k);
            assertTrue(Arrays.equals(sd.get(k).shape(), out.get(k).shape()), k);
        }
    }
}
