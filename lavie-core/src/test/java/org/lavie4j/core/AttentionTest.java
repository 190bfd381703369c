package org.lavie4j.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;
import static org.lavie4j.core.GradAssert.assertGradients;
import static org.lavie4j.core.GradAssert.rand;

/** Chunked attention against its naive twin ({@link Attention#naive}) and plain loops; gradient checks. */
class AttentionTest {
    static final int B = 2, H = 3, LQ = 7, LK = 5, D = 4, DV = 6;
    static final double SCALE = 1 / Math.sqrt(D);

    /** Budget giving {@code rows} query rows per chunk for (B, H, ·, LK) scores of the given item size. */
    static long budget(int rows, int itemSize) { return (long) B * H * LK * itemSize * rows; }

    /** Budget of blocks of {@code unit} slices and {@code rows} query rows (unit: 1, or H with a per-head/batch bias). */
    static long sliceBudget(int unit, int rows, int itemSize) { return (long) unit * LK * itemSize * rows; }

    /** Budget of blocks of {@code slices} whole (LQ, LK) score slices. */
    static long groupBudget(int slices, int itemSize) { return (long) slices * LQ * LK * itemSize; }

    static INDArray q() { return rand(1, B, H, LQ, D).muli(2); }
    static INDArray k() { return rand(2, B, H, LK, D).muli(2); }
    static INDArray v() { return rand(3, B, H, LK, DV); }

    /** softmax(scale·QKᵀ + bias)·V with bias (H, LQ, LK) by index loops, in double. */
    static double[][][][] loops(INDArray q, INDArray k, INDArray v, INDArray bias) {
        double[][][][] out = new double[B][H][LQ][DV];
        for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int i = 0; i < LQ; i++) {
            double[] s = new double[LK];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < LK; j++) {
                for (int c = 0; c < D; c++) s[j] += q.getDouble(b, h, i, c) * k.getDouble(b, h, j, c);
                s[j] = s[j] * SCALE + bias.getDouble(h, i, j);
                max = Math.max(max, s[j]);
            }
            for (int j = 0; j < LK; j++) sum += s[j] = Math.exp(s[j] - max);
            for (int j = 0; j < LK; j++) for (int c = 0; c < DV; c++) out[b][h][i][c] += s[j] / sum * v.getDouble(b, h, j, c);
        }
        return out;
    }

    @Test void naiveTwinMatchesLoops() {
        INDArray q = q(), k = k(), v = v(), bias = rand(4, H, LQ, LK);
        double[][][][] expected = loops(q, k, v, bias);
        INDArray naive = Attention.naive(Tensor.of(q), Tensor.of(k), Tensor.of(v), Tensor.of(bias), SCALE).data();
        INDArray chunked = Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), Tensor.of(bias), SCALE, budget(3, 8)).data();
        double worstNaive = 0, worstChunked = 0;
        for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int i = 0; i < LQ; i++) for (int c = 0; c < DV; c++) {
            worstNaive = Math.max(worstNaive, Math.abs(naive.getDouble(b, h, i, c) - expected[b][h][i][c]));
            worstChunked = Math.max(worstChunked, Math.abs(chunked.getDouble(b, h, i, c) - expected[b][h][i][c]));
        }
        System.out.printf("attention vs loops: naive %.3e, chunked %.3e%n", worstNaive, worstChunked);
        assertTrue(worstNaive < 1e-12 && worstChunked < 1e-12, worstNaive + " " + worstChunked);
    }

    @Test void chunkedEqualsNaiveForward() {
        long[][] biasShapes = {null, {1, H, LQ, LK}, {LQ, LK}, {B, 1, 1, LK}, {H, LQ, 1}};
        for (DataType type : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            double tol = type == DataType.DOUBLE ? 1e-12 : 1e-5;
            int w = type.width();
            // one block; groups of 4 + 2 and of single whole slices; one slice (or H with a per-head bias) with 5 + 2,
            // 4 + 3 or single query rows; a budget below one row
            long[] budgets = {Long.MAX_VALUE, groupBudget(4, w), groupBudget(1, w), sliceBudget(1, 5, w), sliceBudget(H, 4, w),
                    sliceBudget(1, 1, w), 1};
            INDArray q = q().castTo(type), k = k().castTo(type), v = v().castTo(type);
            for (long[] bs : biasShapes) {
                Tensor bias = bs == null ? null : Tensor.of(rand(5, bs).muli(2).castTo(type));
                INDArray expected = Attention.naive(Tensor.of(q), Tensor.of(k), Tensor.of(v), bias, SCALE).data();
                for (long budget : budgets) {
                    INDArray got = Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), bias, SCALE, budget).data();
                    double diff = got.sub(expected).amaxNumber().doubleValue();
                    System.out.printf("blocked vs naive %s bias %s budget %d: %.3e%n", type,
                            bs == null ? "none" : java.util.Arrays.toString(bs), budget, diff);
                    assertTrue(diff < tol, type + " budget " + budget + ": " + diff);
                }
            }
        }
    }

    static Function<Tensor[], Tensor> blocked(long budget) {
        return t -> Attention.scaledDotProduct(t[0], t[1], t[2], t.length > 3 ? t[3] : null, SCALE, budget);
    }

    @Test void gradientsWithoutBias() {
        assertGradients("sdpa one block", blocked(Long.MAX_VALUE), q(), k(), v());
        assertGradients("sdpa groups of 4+2 slices", blocked(groupBudget(4, 8)), q(), k(), v());
        assertGradients("sdpa 1 slice x rows 4+3", blocked(sliceBudget(1, 4, 8)), q(), k(), v());
        assertGradients("sdpa 1 slice x rows 3+3+1", blocked(sliceBudget(1, 3, 8)), q(), k(), v());
    }

    @Test void gradientsWithBias() {
        assertGradients("sdpa bias(1,H,Lq,Lk) H slices x rows 4+3", blocked(sliceBudget(H, 4, 8)), q(), k(), v(), rand(6, 1, H, LQ, LK));
        assertGradients("sdpa bias(Lq,Lk) 1 slice x rows 3+3+1", blocked(sliceBudget(1, 3, 8)), q(), k(), v(), rand(7, LQ, LK));
        assertGradients("sdpa bias(Lq,Lk) groups of 4+2", blocked(groupBudget(4, 8)), q(), k(), v(), rand(7, LQ, LK));
        assertGradients("sdpa bias(B,H,Lq,Lk) H slices x rows 2x", blocked(sliceBudget(H, 2, 8)), q(), k(), v(), rand(8, B, H, LQ, LK));
        assertGradients("sdpa bias(B,1,1,Lk) one batch entry a block", blocked(groupBudget(H, 8)), q(), k(), v(), rand(9, B, 1, 1, LK));
        assertGradients("sdpa bias(H,Lq,1) one block", blocked(Long.MAX_VALUE), q(), k(), v(), rand(10, H, LQ, 1));
    }

    @Test void gradientsOfSomeInputsOnly() {
        INDArray q = q(), k = k(), v = v(), bias = rand(11, H, LQ, LK);
        long budget = budget(3, 8);
        assertGradients("sdpa d/dq only", t -> Attention.scaledDotProduct(t[0], Tensor.of(k), Tensor.of(v), Tensor.of(bias), SCALE, budget), q);
        assertGradients("sdpa d/dv only", t -> Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), t[0], null, SCALE, budget), v);
        assertGradients("sdpa d/dbias only", t -> Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), t[0], SCALE, budget), bias);
    }

    @Test void chunkedGradientsEqualNaiveGradients() {
        INDArray g = rand(12, B, H, LQ, DV);
        INDArray[] inputs = {q(), k(), v(), rand(13, 1, H, LQ, LK)};
        INDArray[] naive = grads(t -> Attention.naive(t[0], t[1], t[2], t[3], SCALE), g, inputs);
        INDArray[] chunked = grads(blocked(sliceBudget(H, 3, 8)), g, inputs);
        for (int i = 0; i < inputs.length; i++) {
            double diff = chunked[i].sub(naive[i]).amaxNumber().doubleValue();
            System.out.printf("chunked vs naive gradient of input %d: %.3e%n", i, diff);
            assertTrue(diff < 1e-12, "input " + i + ": " + diff);
        }
    }

    static INDArray[] grads(Function<Tensor[], Tensor> f, INDArray g, INDArray... inputs) {
        Tensor[] leaves = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) leaves[i] = Tensor.leaf(inputs[i].dup(), true);
        try (Tape tape = Grad.record()) {
            tape.backward(f.apply(leaves), g);
        }
        INDArray[] out = new INDArray[inputs.length];
        for (int i = 0; i < inputs.length; i++) out[i] = leaves[i].grad();
        return out;
    }

    @Test void oneTapeNodeAndNothingRecordedOutsideAScope() {
        Tensor q = Tensor.leaf(q(), true), k = Tensor.leaf(k(), true), v = Tensor.leaf(v(), true);
        assertFalse(Attention.scaledDotProduct(q, k, v, null, SCALE, budget(2, 8)).requiresGrad());
        try (Tape tape = Grad.record()) {
            Tensor out = Attention.scaledDotProduct(q, k, v, null, SCALE, budget(2, 8));
            assertTrue(out.requiresGrad());
            assertEquals(1, tape.size());
        }
    }

    @Test void temporalAttentionLayout() {
        // LaVie's attn_temp: (n, f, c) tokens, heads split, bias (H, F, F) shared over n, pre-scaled q and scale 1
        int n = 6, f = 4, heads = 2, d = 3;
        INDArray x = rand(14, n, f, heads * d), bias = rand(15, heads, f, f);
        Function<Tensor[], Tensor> attn = t -> {
            Tensor qh = Attention.splitHeads(t[0], heads);
            Tensor o = Attention.scaledDotProduct(Ops.scale(qh, 1 / Math.sqrt(d)), qh, qh, t[1], 1.0, (long) n * heads * f * 8);
            return Attention.mergeHeads(o);
        };
        assertGradients("temporal self-attention", attn, x, bias);
        INDArray expected = Attention.mergeHeads(Attention.naive(
                Ops.scale(Attention.splitHeads(Tensor.of(x), heads), 1 / Math.sqrt(d)),
                Attention.splitHeads(Tensor.of(x), heads), Attention.splitHeads(Tensor.of(x), heads), Tensor.of(bias), 1.0)).data();
        assertArrayEquals(new long[]{n, f, heads * d}, expected.shape());
        assertTrue(attn.apply(new Tensor[]{Tensor.of(x), Tensor.of(bias)}).data().sub(expected).amaxNumber().doubleValue() < 1e-12);
    }

    @Test void splitHeadsMatchesDiffusersOrder() {
        int b = 2, l = 3, heads = 4, d = 5;
        INDArray x = rand(16, b, l, heads * d);
        INDArray split = Attention.splitHeads(Tensor.of(x), heads).data();
        assertArrayEquals(new long[]{b, heads, l, d}, split.shape());
        // reshape_heads_to_batch_dim: (b*heads, l, d) with batch index b*heads + h
        INDArray batched = split.reshape('c', b * heads, l, d);
        for (int i = 0; i < b; i++) for (int h = 0; h < heads; h++) for (int t = 0; t < l; t++) for (int c = 0; c < d; c++) {
            assertEquals(x.getDouble(i, t, h * d + c), split.getDouble(i, h, t, c), 0.0);
            assertEquals(x.getDouble(i, t, h * d + c), batched.getDouble(i * heads + h, t, c), 0.0);
        }
        assertEquals(x, Attention.mergeHeads(Tensor.of(split)).data());
        assertGradients("splitHeads", t -> Attention.splitHeads(t[0], heads), x);
        assertGradients("mergeHeads", t -> Attention.mergeHeads(t[0]), split.dup());
    }

    @Test void largeLogitsStayFinite() {
        // scores around ±2000 overflow exp() in double without the row-max subtraction
        INDArray q = q().muli(500), k = k(), v = v(), bias = rand(4, H, LQ, LK);
        double[][][][] expected = loops(q, k, v, bias);
        INDArray got = Attention.scaledDotProduct(Tensor.of(q), Tensor.of(k), Tensor.of(v), Tensor.of(bias), SCALE, budget(3, 8)).data();
        double worst = 0;
        for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int i = 0; i < LQ; i++) for (int c = 0; c < DV; c++)
            worst = Math.max(worst, Math.abs(got.getDouble(b, h, i, c) - expected[b][h][i][c]));
        assertTrue(worst < 1e-12, "max error " + worst);
    }

    @Test void blocksFollowTheBudgetAndTheCache() {
        // LaVie spatial self-attention at 320x512 with guidance: (2*16 frames * 8 heads, 2,560 tokens) in float32
        long rowBytes = 2560L * 4;
        assertArrayEquals(new long[]{1, Attention.CACHE_BLOCK_BYTES / rowBytes}, Attention.plan(256, 2560, 2560, DataType.FLOAT, Attention.DEFAULT_MAX_SCORE_BYTES),
                "one head, as many query rows as fit the cache block");
        assertArrayEquals(new long[]{1, 3}, Attention.plan(256, 2560, 2560, DataType.FLOAT, 3 * rowBytes + 5), "a budget below the cache block wins");
        assertArrayEquals(new long[]{1, 1}, Attention.plan(256, 2560, 2560, DataType.FLOAT, 1), "a single row may exceed the budget");
        // temporal attention: 16 frames; whole problems grouped up to the cache block
        assertArrayEquals(new long[]{Attention.CACHE_BLOCK_BYTES / (16 * 16 * 4), 16}, Attention.plan(81920, 16, 16, DataType.FLOAT, Long.MAX_VALUE));
        assertArrayEquals(new long[]{6, 16}, Attention.plan(6, 16, 16, DataType.FLOAT, Long.MAX_VALUE), "never more than there is");
    }

    @Test void badShapesAreNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> Attention.scaledDotProduct(Tensor.of(q()), Tensor.of(rand(1, B, H, LK, D + 1)), Tensor.of(v()), null, SCALE));
        assertTrue(e.getMessage().contains("[2, 3, 5, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Attention.scaledDotProduct(Tensor.of(q()), Tensor.of(k()), Tensor.of(v()), Tensor.of(rand(1, LK, LQ)), SCALE));
        assertTrue(e.getMessage().contains("[5, 7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Attention.splitHeads(Tensor.of(rand(1, 2, 3, 10)), 4));
        assertTrue(e.getMessage().contains("[2, 3, 10]"), e.getMessage());
    }
}
