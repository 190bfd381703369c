package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.lavie4j.core.GradAssert.assertGradients;
import static org.lavie4j.core.GradAssert.rand;
import static org.junit.jupiter.api.Assertions.*;

/** Finite-difference gradient checks (double precision) of every op in {@link Ops}. */
class OpsGradTest {
    @Test void broadcastArithmetic() {
        INDArray a = rand(1, 2, 3, 4), b = rand(2, 3, 1), c = rand(3, 4).addi(3);
        assertGradients("add(broadcast)", t -> Ops.add(t[0], t[1]), a, b);
        assertGradients("sub(broadcast)", t -> Ops.sub(t[0], t[1]), a, b);
        assertGradients("mul(broadcast)", t -> Ops.mul(t[0], t[1]), a, b);
        assertGradients("div(broadcast)", t -> Ops.div(t[0], t[1]), a, c);
        assertGradients("scale/addScalar/neg", t -> Ops.neg(Ops.addScalar(Ops.scale(t[0], 0.7), 2.0)), a);
    }

    @Test void addIntoWritesIntoAFreshOperandOnlyWhenNothingRecordsIt() {
        INDArray a = rand(2, 2, 3, 4), b = rand(3, 3, 1), expected = a.add(b);
        Tensor ta = Tensor.of(a.dup());
        Tensor sum = Ops.addInto(ta, Tensor.of(b));
        assertSame(ta, sum, "unrecorded, c-contiguous, b broadcasts into a: in place");
        assertEquals(expected, sum.data());
        // b that would grow a, a permuted (non-contiguous) a, and a recorded a: a fresh result, a untouched
        INDArray small = rand(4, 3, 1);
        Tensor ts = Tensor.of(small.dup());
        Tensor grown = Ops.addInto(ts, Tensor.of(a));
        assertNotSame(ts, grown);
        assertEquals(small, ts.data());
        assertEquals(small.add(a), grown.data());
        INDArray permuted = rand(5, 4, 3, 2).permute(2, 1, 0);
        Tensor tp = Tensor.of(permuted);
        Tensor fromView = Ops.addInto(tp, Tensor.of(a));
        assertNotSame(tp, fromView);
        assertEquals(permuted.add(a), fromView.data());
        assertGradients("addInto of a fresh intermediate", t -> Ops.addInto(Ops.scale(t[0], 1.5), t[1]), a, b);
    }

    @Test void nestedConcatOfSlicesOfOneInput() {
        // concat backward hands out views of the incoming gradient at non-zero offsets: the tape must not take them
        // for independent buffers (it once freed or accumulated into them in place)
        INDArray x = rand(7, 1, 3, 2, 2);
        assertGradients("concat(concat(slices))", t -> Ops.concat(2, Ops.scale(t[0], 2),
                Ops.concat(1, Ops.slice(t[0], 1, 0, 1), Ops.slice(t[0], 1, 0, 2))), x);
        assertGradients("concat of views summed", t -> Ops.add(Ops.slice(Ops.concat(1, t[0], t[0]), 1, 1, 4),
                Ops.slice(Ops.concat(1, t[0], t[0]), 1, 2, 5)), x);
    }

    @Test void intervalViewsOfOffsetViewsShareMemory() {
        // ND4J M2.1's get() returns an array without data for this case (leading dim 1, view of an offset view)
        INDArray g = rand(3, 1, 3, 4, 2);
        INDArray v1 = Views.interval(g, 2, 2, 4);
        INDArray a1 = Views.interval(v1, 1, 1, 3);
        INDArray expected = g.dup().get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 4), org.nd4j.linalg.indexing.NDArrayIndex.all()).dup();
        assertEquals(expected, a1.dup());
        a1.addi(1.0);
        assertEquals(expected.getDouble(0, 0, 0, 0) + 1.0, g.getDouble(0, 1, 2, 0), 1e-15, "writes go to the parent");
        assertEquals(0, Views.interval(g, 1, 2, 2).length());
        assertThrows(IllegalArgumentException.class, () -> Views.interval(g, 1, 2, 4));
    }

    /** Bias and broadcast gradients: the leading-axes sum is each column's double sum rounded once. */
    @Test void leadingSumIsTheColumnSumRoundedOnce() {
        Object[][] cases = {{new long[]{4096, 256}, 1}, {new long[]{3, 5, 7}, 2}, {new long[]{1, 1, 6}, 2}, {new long[]{9, 2, 3}, 1},
                {new long[]{5}, 1}, {new long[]{700, 3}, 1}};
        for (Object[] c : cases) {
            long[] shape = (long[]) c[0];
            int lead = (int) c[1];
            INDArray d = rand(51, shape).muli(1000).addi(3);                  // large offsets: float partial sums would drift
            INDArray f = d.castTo(DataType.FLOAT);
            int[] dims = new int[lead];
            for (int i = 0; i < lead; i++) dims[i] = i;
            INDArray want = f.castTo(DataType.DOUBLE).sum(false, dims);
            INDArray got = Ops.leadingSum(f, lead);
            assertArrayEquals(want.shape(), got.shape(), java.util.Arrays.toString(shape));
            assertEquals(DataType.FLOAT, got.dataType());
            double[] w = want.data().asDouble();
            float[] g = got.data().asFloat();
            for (int i = 0; i < g.length; i++)
                assertTrue(Math.abs(g[i] - w[i]) <= Math.ulp((float) w[i]), java.util.Arrays.toString(shape) + "[" + i + "]: " + g[i] + " vs " + w[i]);
            INDArray gd = Ops.leadingSum(d, lead);                                 // double: ND4J's sum
            assertEquals(0.0, gd.sub(d.sum(false, dims)).amaxNumber().doubleValue(), 1e-9 * d.amaxNumber().doubleValue() * shape[0]);
        }
        // a c-contiguous view at an offset, and a strided view (ND4J's sum)
        INDArray big = rand(52, 6, 4, 8).castTo(DataType.FLOAT);
        INDArray view = big.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 5), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.all());
        assertEquals(0.0, Ops.leadingSum(view, 1).sub(view.dup().sum(0)).amaxNumber().doubleValue(), 1e-5);
        INDArray strided = big.permute(2, 1, 0);
        assertEquals(0.0, Ops.leadingSum(strided, 1).sub(strided.dup('c').sum(0)).amaxNumber().doubleValue(), 1e-5);
        // the bias gradient of linear is that sum of the output gradient's rows
        Tensor x = Tensor.leaf(rand(53, 50, 3).castTo(DataType.FLOAT), false), w = Tensor.leaf(rand(54, 4, 3).castTo(DataType.FLOAT), true);
        Tensor b = Tensor.leaf(Nd4j.zeros(DataType.FLOAT, 4), true);
        INDArray go = rand(55, 50, 4).muli(100).castTo(DataType.FLOAT);
        try (Tape tape = Grad.record()) { tape.backward(Ops.linear(x, w, b), go); }
        assertEquals(Ops.leadingSum(go, 1), b.grad());
    }

    @Test void elementwise() {
        INDArray x = rand(3, 4, 5), pos = rand(4, 4, 5).addi(2);
        assertGradients("exp", t -> Ops.exp(t[0]), x);
        assertGradients("sin", t -> Ops.sin(t[0]), x);
        assertGradients("cos", t -> Ops.cos(t[0]), x);
        assertGradients("sqrt", t -> Ops.sqrt(t[0]), pos);
        assertGradients("rsqrt", t -> Ops.rsqrt(t[0]), pos);
        assertGradients("pow", t -> Ops.pow(t[0], 2.5), pos);
        assertGradients("square", t -> Ops.square(t[0]), x);
        assertGradients("sigmoid", t -> Ops.sigmoid(t[0]), x);
        assertGradients("tanh", t -> Ops.tanh(t[0]), x);
        assertGradients("silu", t -> Ops.silu(t[0]), x.mul(3));
        assertGradients("gelu", t -> Ops.gelu(t[0]), x.mul(3));
        assertGradients("quickGelu", t -> Ops.quickGelu(t[0]), x.mul(3));
        assertGradients("clamp", t -> Ops.clamp(t[0], -0.5, 0.5), x);
    }

    @Test void castSendsGradientBackInSourceType() {
        Tensor x = Tensor.leaf(rand(3, 4, 5), true);
        try (Tape tape = Grad.record()) {
            Tensor y = Ops.cast(x, DataType.FLOAT);
            assertEquals(DataType.FLOAT, y.dtype());
            tape.backward(Ops.sum(Ops.scale(y, 2), false));
        }
        assertEquals(DataType.DOUBLE, x.grad().dataType());
        assertEquals(2.0 * 20, x.grad().sumNumber().doubleValue(), 1e-12);
    }

    @Test void reductions() {
        INDArray x = rand(5, 2, 3, 4);
        assertGradients("sum(all)", t -> Ops.sum(t[0], false), x);
        assertGradients("sum(1,keep)", t -> Ops.sum(t[0], true, 1), x);
        assertGradients("mean(-1)", t -> Ops.mean(t[0], false, -1), x);
        assertGradients("mean(0,2,keep)", t -> Ops.mean(t[0], true, 0, 2), x);
        assertGradients("mseLoss", t -> Ops.mseLoss(t[0], t[1]), x, rand(6, 2, 3, 4));
    }

    @Test void linearAlgebra() {
        assertGradients("matmul", t -> Ops.matmul(t[0], t[1]), rand(7, 2, 3, 4), rand(8, 2, 4, 5));
        assertGradients("matmul(A^T B)", t -> Ops.matmul(t[0], t[1], true, false), rand(9, 2, 4, 3), rand(10, 2, 4, 5));
        assertGradients("matmul(A B^T)", t -> Ops.matmul(t[0], t[1], false, true), rand(11, 3, 4), rand(12, 5, 4));
        assertGradients("matmul(A^T B^T)", t -> Ops.matmul(t[0], t[1], true, true), rand(13, 2, 4, 3), rand(14, 2, 5, 4));
        assertGradients("linear", t -> Ops.linear(t[0], t[1], t[2]), rand(15, 2, 3, 4), rand(16, 5, 4), rand(17, 5));
        assertGradients("linear(no bias)", t -> Ops.linear(t[0], t[1], null), rand(18, 6, 4), rand(19, 5, 4));
    }

    @Test void softmaxAndEmbedding() {
        assertGradients("softmax(-1)", t -> Ops.softmax(t[0], -1), rand(20, 2, 3, 5).muli(3));
        assertGradients("softmax(1)", t -> Ops.softmax(t[0], 1), rand(21, 2, 3, 5).muli(3));
        INDArray ids = Nd4j.createFromArray(new long[][]{{0, 3, 3}, {1, 2, 0}});
        assertGradients("embedding", t -> Ops.embedding(t[0], ids), rand(22, 4, 6));
    }

    @Test void shapeOps() {
        INDArray x = rand(23, 2, 3, 4);
        assertGradients("reshape", t -> Ops.mul(Ops.reshape(t[0], 6, 4), Tensor.of(rand(24, 6, 4))), x);
        assertGradients("permute", t -> Ops.permute(t[0], 2, 0, 1), x);
        assertGradients("transpose+contiguous", t -> Ops.contiguous(Ops.transpose(t[0], 0, -1)), x);
        assertGradients("slice", t -> Ops.slice(t[0], 1, 1, 3), x);
        assertGradients("split", t -> { Tensor[] p = Ops.split(t[0], 2, 1, 3); return Ops.add(Ops.scale(p[0], 2), Ops.sum(p[1], true, 2)); }, x);
        assertGradients("chunk", t -> { Tensor[] p = Ops.chunk(t[0], 2, -1); return Ops.mul(p[0], p[1]); }, x);
        assertGradients("concat", t -> Ops.concat(1, t[0], t[1]), x, rand(25, 2, 2, 4));
        assertGradients("repeat", t -> Ops.repeat(t[0], 2, 1, 3), x);
        assertGradients("repeat one axis of size 1", t -> Ops.repeat(t[0], 1, 4, 1), rand(26, 3, 1, 5));
    }

    /** repeat's copy per repetition (one axis of size 1) gives Nd4j.tile's values, for contiguous inputs and views. */
    @Test void repeatAlongOneAxisIsTile() {
        INDArray x = rand(27, 2, 1, 77, 6).castTo(DataType.FLOAT);
        assertEquals(Nd4j.tile(x, 1, 16, 1, 1), Ops.repeat(Tensor.of(x), 1, 16, 1, 1).data());
        assertEquals(Nd4j.tile(x, 1, 1, 1, 1), Ops.repeat(Tensor.of(x), 1, 1, 1, 1).data());
        INDArray first = rand(28, 1, 5, 3);
        assertEquals(Nd4j.tile(first, 4, 1, 1), Ops.repeat(Tensor.of(first), 4, 1, 1).data(), "the leading axis");
        INDArray last = rand(29, 3, 5, 1);
        assertEquals(Nd4j.tile(last, 1, 1, 7), Ops.repeat(Tensor.of(last), 1, 1, 7).data(), "the trailing axis");
        INDArray permuted = rand(30, 6, 1, 4).permute(2, 1, 0);                          // (4, 1, 6), not c-contiguous
        INDArray before = permuted.dup();
        assertEquals(Nd4j.tile(permuted.dup('c'), 1, 3, 1), Ops.repeat(Tensor.of(permuted), 1, 3, 1).data());
        assertEquals(before, permuted, "the input is left as it was");
        assertEquals(Nd4j.tile(x, 2, 16, 1, 1), Ops.repeat(Tensor.of(x), 2, 16, 1, 1).data(), "two axes take tile");
    }

    @Test void valuesMatchDefinitions() {
        INDArray x = Nd4j.createFromArray(-2.0, -0.5, 0.0, 0.5, 2.0);
        INDArray gelu = Ops.gelu(Tensor.of(x)).data();
        // exact GELU reference values 0.5·x·(1 + erf(x/√2))
        double[] expected = {-0.04550026389635842, -0.15426876942063492, 0.0, 0.3457312305793651, 1.9544997361036416};
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], gelu.getDouble(i), 1e-9); // ND4J's erf is accurate to ~1e-10
        INDArray s = Ops.softmax(Tensor.of(Nd4j.createFromArray(new double[][]{{1, 2, 3}})), -1).data();
        assertEquals(Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), s.getDouble(0, 0), 1e-12);
    }

    @Test void nothingRecordedOutsideScope() {
        Tensor w = Tensor.leaf(rand(26, 3, 3), true);
        Tensor y = Ops.mul(w, w);
        assertTrue(y.isLeaf());
        assertFalse(y.requiresGrad());
        try (Tape tape = Grad.record()) {
            Tensor z = Ops.mul(w, w);
            assertTrue(z.requiresGrad());
            try (Tape off = Grad.disabled()) {
                assertFalse(Ops.mul(w, w).requiresGrad());
            }
            assertEquals(1, tape.size());
        }
    }

    @Test void gradientsAccumulateAcrossBackwards() {
        Tensor w = Tensor.leaf(rand(27, 4), true);
        for (int i = 0; i < 2; i++) {
            try (Tape tape = Grad.record()) {
                tape.backward(Ops.sum(Ops.scale(w, 3), false));
            }
        }
        assertEquals(6.0, w.grad().getDouble(0), 1e-12);
        w.zeroGrad();
        assertNull(w.grad());
    }

    @Test void shapeErrorsNameShapes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Ops.add(Tensor.of(rand(1, 2, 3)), Tensor.of(rand(1, 4))));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.linear(Tensor.of(rand(1, 2, 3)), Tensor.of(rand(1, 4, 5)), null));
        assertTrue(e.getMessage().contains("[4, 5]"), e.getMessage());
    }
}
