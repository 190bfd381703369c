package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ModuleTest {
    static final class Shared extends Module {
        final Parameter freqs = buffer("freqs", Nd4j.createFromArray(1f, 2f, 3f));
    }

    static final class Leaf extends Module {
        final Parameter weight, bias;
        final Shared rotary;

        Leaf(Shared shared) {
            weight = parameter("weight", Nd4j.ones(DataType.FLOAT, 2, 3));
            bias = parameter("bias", Nd4j.zeros(DataType.FLOAT, 2));
            rotary = child("rotary_emb", shared);
        }
    }

    static final class Net extends Module {
        final ModuleList<Leaf> blocks;

        Net() {
            Shared shared = new Shared();
            blocks = child("blocks", new ModuleList<>(new Leaf(shared), new Leaf(shared)));
        }
    }

    @Test void keyTreeIsModuleTree() {
        Net net = new Net();
        assertEquals(List.of("blocks.0.weight", "blocks.0.bias", "blocks.0.rotary_emb.freqs",
                "blocks.1.weight", "blocks.1.bias", "blocks.1.rotary_emb.freqs"), List.copyOf(net.stateDict().keys()));
        assertEquals(4, net.parameters().size(), "buffers are not parameters; shared ones counted once");
        assertEquals(2 * (6 + 2), net.parameterCount());
        assertFalse(net.blocks.get(0).rotary.freqs.isTrainable());
    }

    @Test void roundTripAndDtypeConversion() {
        Net a = new Net(), b = new Net();
        a.blocks.get(1).weight.data().assign(7);
        StateDict sd = new StateDict("test");
        a.stateDict().asMap().forEach((k, v) -> sd.put(k, v.load(DataType.DOUBLE)));
        LoadReport r = b.load(sd);
        assertTrue(r.isClean());
        assertEquals(5, r.loadedCount(), "the shared buffer is loaded once");
        assertEquals(DataType.FLOAT, b.blocks.get(1).weight.dtype());
        assertEquals(7f, b.blocks.get(1).weight.data().getFloat(0, 0));
    }

    @Test void strictLoadReportsEveryProblemAtOnceAndChangesNothing() {
        Net net = new Net();
        StateDict sd = new StateDict("ckpt.safetensors");
        net.stateDict().asMap().forEach((k, v) -> sd.put(k, v.load().dup()));
        StateDict bad = new StateDict("ckpt.safetensors");
        sd.asMap().forEach((k, v) -> {
            if (k.equals("blocks.0.bias")) return;                                   // missing
            if (k.equals("blocks.1.weight")) bad.put(k, Nd4j.ones(DataType.FLOAT, 3, 3)); // wrong shape
            else bad.put(k, v);
        });
        bad.put("blocks.9.weight", Nd4j.ones(DataType.FLOAT, 1));                     // unexpected
        var e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> net.load(bad));
        String m = e.getMessage();
        assertTrue(m.contains("ckpt.safetensors"), m);
        assertTrue(m.contains("missing keys:\n    blocks.0.bias"), m);
        assertTrue(m.contains("unexpected keys:\n    blocks.9.weight"), m);
        assertTrue(m.contains("blocks.1.weight: module expects [2, 3], checkpoint has [3, 3]"), m);
        assertEquals(1f, net.blocks.get(0).weight.data().getFloat(0, 0), "nothing changed");

        LoadReport lenient = net.load(bad, false);
        assertEquals(List.of("blocks.0.bias"), lenient.missing());
        assertEquals(List.of("blocks.9.weight"), lenient.unexpected());
        assertEquals(1, lenient.shapeMismatches().size());
    }

    @Test void aliasCopiesMustAgree() {
        Net net = new Net();
        StateDict sd = new StateDict("x.pt");
        net.stateDict().asMap().forEach((k, v) -> sd.put(k, v.load().dup()));
        sd.put("blocks.1.rotary_emb.freqs", Nd4j.createFromArray(1f, 2f, 3.5f));
        var e = assertThrows(LoadReport.CheckpointMismatchException.class, () -> net.load(sd));
        assertTrue(e.getMessage().contains("blocks.1.rotary_emb.freqs disagrees with its alias blocks.0.rotary_emb.freqs"), e.getMessage());
    }

    @Test void trainEvalAndFreeze() {
        Net net = new Net();
        assertFalse(net.isTraining());
        net.train(true);
        assertTrue(net.blocks.get(1).isTraining());
        net.setTrainable(false);
        assertFalse(net.blocks.get(0).weight.tensor().requiresGrad());
        net.to(DataType.DOUBLE);
        assertEquals(DataType.DOUBLE, net.blocks.get(0).rotary.freqs.dtype());
        class Ids extends Module {
            final Parameter ids = buffer("position_ids", Nd4j.createFromArray(new long[][]{{0, 1, 2}}));
        }
        Ids ids = new Ids();
        ids.to(DataType.DOUBLE);
        assertEquals(DataType.LONG, ids.ids.dtype(), "integer buffers keep their dtype");
    }

    @Test void duplicateNamesRejected() {
        class Bad extends Module {
            Bad() {
                parameter("w", Nd4j.ones(1));
                parameter("w", Nd4j.ones(1));
            }
        }
        assertThrows(IllegalArgumentException.class, Bad::new);
    }
}
