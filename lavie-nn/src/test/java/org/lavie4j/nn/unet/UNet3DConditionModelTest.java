package org.lavie4j.nn.unet;

import org.lavie4j.core.TestSeeds;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.Grad;
import org.lavie4j.core.LoadReport;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.StateDict;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.core.io.TensorFile;
import org.lavie4j.core.io.TorchCheckpoint;
import org.lavie4j.core.testing.Manifest;
import org.lavie4j.core.testing.TestData;
import org.lavie4j.nn.attention.FrameLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class UNet3DConditionModelTest {
    /** The tiny model with the unet_base golden weights. */
    private static UNet3DConditionModel goldenTiny() throws IOException {
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.tiny());
        try (TensorFile w = SafeTensors.read(TestData.goldenCase("unet_base").resolve("weights.safetensors"))) {
            unet.load(StateDict.of(w.path().toString(), w.asMap()));
        }
        unet.eval();
        return unet;
    }

    private static INDArray run(UNet3DConditionModel unet, INDArray x, INDArray ctx, FrameLayout layout) {
        try (Tape off = Grad.disabled()) {
            return unet.forward(Tensor.of(x), Tensor.of(Nd4j.createFromArray(937L)), Tensor.of(ctx), layout).data().dup();
        }
    }

    private static INDArray rand(long seed, long... shape) {
        TestSeeds.seed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    @Test void lavieBaseHasExactlyTheKeysAndShapesOfTheRealCheckpoint() {
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.lavieBase());
        Manifest.assertMatches("lavie_base_unet", unet.stateDict());
        assertEquals(830, unet.stateDict().size());
    }

    @Test void lavieCheckpointLayoutLoadsTheSameAsSafetensors() throws Exception {
        Path dir = TestData.goldenCase("unet_base");
        UNet3DConditionModel fromPt = new UNet3DConditionModel(UNetConfig.tiny());
        try (TorchCheckpoint ckpt = TorchCheckpoint.read(dir.resolve("weights.pt"))) {
            assertEquals("ema", ckpt.stateDictKey());
            LoadReport r = fromPt.load(StateDict.of(dir.resolve("weights.pt").toString(), ckpt.stateDict().asMap()));
            assertTrue(r.isClean(), r.toString());
        }
        fromPt.eval();
        INDArray x = rand(1, 1, 4, 4, 16, 16), ctx = rand(2, 1, 77, 32);
        assertEquals(run(goldenTiny(), x, ctx, FrameLayout.video(4)), run(fromPt, x, ctx, FrameLayout.video(4)));
    }

    @Test void samplesOfABatchAreIndependent() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        INDArray x = rand(3, 2, 4, 3, 8, 8), ctx = rand(4, 2, 77, 32);
        INDArray both = run(unet, x, ctx, FrameLayout.video(3));
        for (int b = 0; b < 2; b++) {
            INDArray one = run(unet, x.get(NDArrayIndex.interval(b, b + 1)).dup(), ctx.get(NDArrayIndex.interval(b, b + 1)).dup(), FrameLayout.video(3));
            assertTrue(one.equalsWithEps(both.get(NDArrayIndex.interval(b, b + 1)), 1e-5), "sample " + b);
        }
    }

    @Test void withoutTemporalOutputFramesArePermutationEquivariant() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        // zero every temporal output projection: frames then interact only through order-free GroupNorm statistics
        unet.namedEntries().forEach((k, p) -> {
            if (k.contains("attn_temp.to_out.0.")) p.data().assign(0);
        });
        INDArray x = rand(5, 1, 4, 4, 8, 8), ctx = rand(6, 1, 77, 32);
        int[] perm = {2, 0, 3, 1};
        INDArray y = run(unet, x, ctx, FrameLayout.video(4));
        INDArray yPermuted = run(unet, permuteFrames(x, perm), ctx, FrameLayout.video(4));
        assertTrue(permuteFrames(y, perm).equalsWithEps(yPermuted, 1e-5));
        // ... and with the temporal branch active, the order matters
        INDArray yFull = run(goldenTiny(), permuteFrames(x, perm), ctx, FrameLayout.video(4));
        assertFalse(permuteFrames(run(goldenTiny(), x, ctx, FrameLayout.video(4)), perm).equalsWithEps(yFull, 1e-5));
    }

    private static INDArray permuteFrames(INDArray v, int[] perm) {
        INDArray out = v.dup();
        for (int i = 0; i < perm.length; i++) {
            INDArrayIndex[] dst = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all()};
            INDArrayIndex[] src = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(perm[i]), NDArrayIndex.all(), NDArrayIndex.all()};
            out.get(dst).assign(v.get(src));
        }
        return out;
    }

    @Test void attentionBudgetChangesMemoryNotResults() throws IOException {
        INDArray x = rand(12, 1, 4, 3, 8, 8), ctx = rand(13, 1, 77, 32);
        INDArray whole = run(goldenTiny(), x, ctx, FrameLayout.video(3));
        INDArray chunked = run(goldenTiny().maxScoreBytes(1024), x, ctx, FrameLayout.video(3));   // a few query rows per block
        double diff = whole.sub(chunked).amaxNumber().doubleValue(), scale = whole.amaxNumber().doubleValue();
        System.out.printf("attention budget: max abs diff %.3e (output max %.3e)%n", diff, scale);
        assertTrue(diff <= 1e-6 * scale, "chunked attention changed the output by " + diff);
    }

    @Test void saveLoadGivesIdenticalOutput(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        Path file = tmp.resolve("unet.safetensors");
        SafeTensors.write(file, unet.stateDict().asMap(), Map.of(), null);
        UNet3DConditionModel again = new UNet3DConditionModel(UNetConfig.tiny());
        try (TensorFile w = SafeTensors.read(file)) {
            again.load(StateDict.of(file.toString(), w.asMap()));
        }
        again.eval();
        INDArray x = rand(7, 1, 4, 2, 8, 8), ctx = rand(8, 1, 77, 32);
        assertEquals(run(unet, x, ctx, FrameLayout.video(2)), run(again, x, ctx, FrameLayout.video(2)));
    }

    @Test void jointLayoutRunsWithOneCaptionPerImage() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        // 3 video frames + 2 images, one caption for the clip and one per image
        INDArray x = rand(9, 1, 4, 5, 8, 8), ctx = rand(10, 1, 3, 77, 32);
        INDArray y = run(unet, x, ctx, new FrameLayout(3, 2));
        assertArrayEquals(new long[]{1, 4, 5, 8, 8}, y.shape());
        // the per-image captions matter: another caption for image 2 changes its frame
        INDArray ctx2 = ctx.dup();
        ctx2.get(NDArrayIndex.point(0), NDArrayIndex.point(2)).assign(rand(11, 77, 32));
        INDArray y2 = run(unet, x, ctx2, new FrameLayout(3, 2));
        assertFalse(y.equalsWithEps(y2, 1e-5));
    }

    @Test void badInputIsNamed() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        INDArray ctx = rand(11, 1, 77, 32);
        var e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(1, 1, 3, 2, 8, 8), ctx, FrameLayout.video(2)));
        assertTrue(e.getMessage().contains("(B, 4, F, H, W)") && e.getMessage().contains("[1, 3, 2, 8, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(1, 1, 4, 2, 7, 8), ctx, FrameLayout.video(2)));
        assertTrue(e.getMessage().contains("divisible by 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(1, 1, 4, 2, 8, 8), ctx, new FrameLayout(2, 1)));
        assertTrue(e.getMessage().contains("2 video frames + 1 images"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(1, 1, 4, 2, 8, 8), rand(2, 1, 77, 48), FrameLayout.video(2)));
        assertTrue(e.getMessage().contains("[1, 77, 48]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(unet, rand(1, 1, 4, 4, 8, 8), rand(2, 1, 2, 77, 32), new FrameLayout(2, 2)));
        assertTrue(e.getMessage().contains("[1, 2, 77, 32]") && e.getMessage().contains("2 images"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new FrameLayout(0, 0));
        // a checkpoint of another model
        UNet3DConditionModel base = new UNet3DConditionModel(UNetConfig.tiny());
        StateDict other = new StateDict("vae.safetensors").put("encoder.conv_in.weight", Nd4j.zeros(DataType.FLOAT, 32, 3, 3, 3));
        var mismatch = assertThrows(LoadReport.CheckpointMismatchException.class, () -> base.load(other));
        assertTrue(mismatch.getMessage().contains("unexpected keys:\n    encoder.conv_in.weight") && mismatch.getMessage().contains("conv_in.weight"), mismatch.getMessage());
    }

    @Test void rotaryModuleIsSharedAndSerialisedUnderEveryTemporalAttention() throws IOException {
        UNet3DConditionModel unet = goldenTiny();
        long copies = unet.stateDict().keys().stream().filter(k -> k.endsWith("attn_temp.rotary_emb.freqs")).count();
        long blocks = unet.stateDict().keys().stream().filter(k -> k.endsWith("attn_temp.to_q.weight")).count();
        assertEquals(blocks, copies);
        Parameter freqs = unet.rotary().localParameters().get("freqs");
        assertFalse(freqs.isTrainable());
    }
}
