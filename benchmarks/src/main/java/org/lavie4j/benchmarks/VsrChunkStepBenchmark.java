package org.lavie4j.benchmarks;

import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.attention.VsrTransformerBlock;
import org.lavie4j.nn.layers.Downsample3D;
import org.lavie4j.nn.layers.GroupNorm;
import org.lavie4j.nn.layers.InflatedConv3d;
import org.lavie4j.nn.layers.ResnetBlock3D;
import org.lavie4j.nn.layers.TemporalConvModule;
import org.lavie4j.nn.layers.Upsample3D;
import org.lavie4j.nn.pipeline.OutputType;
import org.lavie4j.nn.pipeline.SuperResolutionModel;
import org.lavie4j.nn.pipeline.SuperResolutionPipeline;
import org.lavie4j.nn.pipeline.UpscaleOptions;
import org.lavie4j.nn.unet.UNet3DVSRModel;
import org.lavie4j.nn.unet.VsrConfig;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.Tiling;
import org.lavie4j.nn.vae.VaeConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Locale;

/**
 * One denoising step of one VSR chunk ({@link SuperResolutionPipeline}: 8 frames, classifier-free guidance = UNet batch 2,
 * latents 4 × h × w + the 3-channel low-res frames, text (1, 77, 1024)) with the full-size {@link VsrConfig#lavieVsr()}
 * UNet (random weights) and the default attention / feed-forward budgets. A plain {@code main} (single runs of minutes;
 * JMH adds nothing here). At the real size (320×512 latents) one step is ~100 TMAC, too slow for one run on 2 cores, so
 * the modes split it:
 * <ul>
 *   <li>{@code step [h w [full|low]]}: the whole step through the pipeline (upscale with 1 step, outputType LATENTS) at a
 *       reduced size (default 80×128 = 1/16 of the real area) in the full-batch (default) or low-memory mode; prints the
 *       multiply-adds at that size and at 320×512 and the time extrapolated by their ratio;</li>
 *   <li>{@code firstblock [frames]}: at the real size, conv_in + down block 0 (two resnets at 256 channels and the
 *       down-sampler) + down temporal module 0, holding their skips as the forward does;</li>
 *   <li>{@code uplevel0 [frames]}: at the real size, the last level of the up path, where a chunk's memory peaks: up
 *       block 2's up-sampler to 512 channels at 320×512, up temporal module 2, up block 3's three resnets on
 *       [h ‖ skip] (768 → 256, then 512 → 256) consuming the three level-0 skips, up temporal module 3, and the output
 *       convolution; default 2 frames (memory and work are proportional to the frames; ×4 gives 8);</li>
 *   <li>{@code unet [frames batch slice]}: one forward of the whole UNet at the real size, {@code batch} samples (1 = one
 *       guidance half, as the low-memory mode runs it), frame slices of {@code slice} (0 = whole tensors);</li>
 *   <li>{@code estimate}: the pipeline's memory estimate per chunk size and the multiply-add counts, no tensors.</li>
 * </ul>
 * Each mode prints its time, the multiply-adds it ran, and the process's peak RSS over the loaded weights (VmHWM reset
 * after setup through {@code /proc/self/clear_refs}), i.e. the chunk's working memory including held skips.
 * <pre>
 * OPENBLAS_CORETYPE=SkylakeX MALLOC_MMAP_THRESHOLD_=4194304 java -Xmx2g -Dorg.bytedeco.javacpp.maxphysicalbytes=22G \
 *     -cp benchmarks/target/benchmarks.jar org.lavie4j.benchmarks.VsrChunkStepBenchmark step 80 128
 * </pre>
 */
public final class VsrChunkStepBenchmark {
    static final int FRAMES = 8, REAL_H = 320, REAL_W = 512, TEXT = 77;

    private VsrChunkStepBenchmark() {}

    public static void main(String[] args) throws IOException {
        String mode = args.length > 0 ? args[0] : "step";
        Lavie4j.setup();
        System.out.println("# backend: " + Lavie4j.describeBackend());
        System.out.println("# threads: " + Runtime.getRuntime().availableProcessors() + " cores, OMP_NUM_THREADS="
                + System.getenv("OMP_NUM_THREADS") + ", load " + loadAverage());
        switch (mode) {
            case "step" -> step(args.length > 2 ? Integer.parseInt(args[1]) : 80, args.length > 2 ? Integer.parseInt(args[2]) : 128,
                    args.length > 3 ? UpscaleOptions.MemoryMode.parse(args[3]) : UpscaleOptions.MemoryMode.FULL_BATCH);
            case "firstblock" -> firstBlock(args.length > 1 ? Integer.parseInt(args[1]) : FRAMES);
            case "uplevel0" -> upLevel0(args.length > 1 ? Integer.parseInt(args[1]) : 2);
            case "estimate" -> estimate();
            case "unet" -> wholeUnet(args.length > 1 ? Integer.parseInt(args[1]) : 1, args.length > 2 ? Integer.parseInt(args[2]) : 1,
                    args.length > 3 ? Integer.parseInt(args[3]) : 1);
            default -> throw new IllegalArgumentException("mode must be step [h w], firstblock [frames], uplevel0 [frames], unet [frames batch slice] or estimate, got " + mode);
        }
    }

    private static UNet3DVSRModel unet() {
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        UNet3DVSRModel unet = new UNet3DVSRModel(VsrConfig.lavieVsr());
        unet.eval();
        return unet;
    }

    // ------------------------------------------------------------------------------------------------ step

    /** The whole step through the pipeline at h × w latents (= low-res pixels). */
    private static void step(int h, int w, UpscaleOptions.MemoryMode mode) throws IOException {
        UNet3DVSRModel unet = unet();
        Nd4j.getRandom().setSeed(1);
        Init.seed(1);
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.x4Upscaler());
        vae.eval();
        SuperResolutionPipeline pipeline = new SuperResolutionPipeline(null, null, unet, vae, SuperResolutionModel.lavieScheduler(),
                SuperResolutionModel.lowResScheduler());
        INDArray lowRes = Nd4j.rand(DataType.FLOAT, 1, 3, FRAMES, h, w).muli(2).subi(1);
        UpscaleOptions o = UpscaleOptions.builder()
                .embeddings(Nd4j.randn(DataType.FLOAT, 1, TEXT, 1024), Nd4j.randn(DataType.FLOAT, 1, TEXT, 1024))
                .steps(1).chunkFrames(FRAMES).outputType(OutputType.LATENTS).memoryMode(mode).build();
        System.out.printf(Locale.ROOT, "# VSR UNet %d parameters; budgets: attention scores %d MB, feed-forward %d MB%n", unet.parameterCount(),
                o.maxScoreBytes() >> 20, o.maxFeedForwardBytes() >> 20);
        MacCount here = MacCount.of(unet, unet.config().levels(), 2, FRAMES, h, w, TEXT);
        MacCount real = MacCount.of(unet, unet.config().levels(), 2, FRAMES, REAL_H, REAL_W, TEXT);
        System.out.println("# multiply-adds per step at " + h + "x" + w + ": " + here + "; uncounted parameters " + here.uncountedParameters());
        System.out.println("# multiply-adds per step at " + REAL_H + "x" + REAL_W + ": " + real);
        long base = resetPeak();
        long t0 = System.nanoTime();
        pipeline.upscale(lowRes, o);
        double s = (System.nanoTime() - t0) / 1e9;
        report("step " + h + "x" + w + " " + mode, s, here.total(), base);
        System.out.printf(Locale.ROOT, "# extrapolated to %dx%d by multiply-adds (x%.2f): %.0f s per step%n", REAL_H, REAL_W,
                real.total() / here.total(), s * real.total() / here.total());
        System.out.println("# pipeline estimate at this size: " + pipeline.estimateMemory(FRAMES, h, w, o));
    }

    // ------------------------------------------------------------------------------------------------ whole UNet, real size

    /**
     * One forward of the whole UNet at 320×512 latents with {@code batch} samples of {@code frames} frames (batch 1 = one
     * half of classifier-free guidance run on its own), frame slices of {@code slice} frames (0 = whole tensors), the
     * default attention / feed-forward budgets.
     */
    private static void wholeUnet(int frames, int batch, int slice) throws IOException {
        UNet3DVSRModel unet = unet().sliceFrames(slice);
        UpscaleOptions o = UpscaleOptions.builder().prompt("x").build();
        unet.maxScoreBytes(o.maxScoreBytes()).maxFeedForwardBytes(o.maxFeedForwardBytes());
        MacCount macs = MacCount.of(unet, unet.config().levels(), batch, frames, REAL_H, REAL_W, TEXT);
        System.out.println("# whole UNet at " + REAL_H + "x" + REAL_W + ", batch " + batch + ", " + frames + " frames, frame slices " + slice + ": " + macs);
        long base = rss();
        INDArray latents = Nd4j.randn(DataType.FLOAT, batch, 4, frames, REAL_H, REAL_W);
        INDArray image = Nd4j.randn(DataType.FLOAT, batch, 3, frames, REAL_H, REAL_W);
        INDArray text = Nd4j.randn(DataType.FLOAT, batch, TEXT, 1024);
        resetPeak();
        long t0 = System.nanoTime();
        try (Tape off = Grad.disabled()) {
            Tensor v = unet.forward(Tensor.of(latents), Tensor.of(Nd4j.createFromArray(981L)), Tensor.of(image), Tensor.of(text),
                    Tensor.of(Nd4j.createFromArray(50L)));
            v.release();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        report("unet " + frames + " frames batch " + batch + " slices " + slice, s, macs.total(), base);
    }

    // ------------------------------------------------------------------------------------------------ first down block

    private static void firstBlock(int frames) throws IOException {
        UNet3DVSRModel unet = unet();
        Module down0 = unet.children().get("down_blocks").children().get("0");
        InflatedConv3d convIn = (InflatedConv3d) unet.children().get("conv_in");
        ResnetBlock3D r0 = (ResnetBlock3D) down0.children().get("resnets").children().get("0");
        ResnetBlock3D r1 = (ResnetBlock3D) down0.children().get("resnets").children().get("1");
        Downsample3D downsampler = (Downsample3D) down0.children().get("downsamplers").children().get("0");
        TemporalConvModule temporal0 = (TemporalConvModule) unet.children().get("down_temporal_blocks").children().get("0");
        int levels = unet.config().levels();
        MacCount macs = new MacCount(2, frames, REAL_H, REAL_W, levels, TEXT).add(convIn, 0).add(r0, 0).add(r1, 0)
                .add(downsampler, 1).add(temporal0, 1);
        System.out.println("# first down block at " + REAL_H + "x" + REAL_W + ", batch 2, " + frames + " frames: " + macs);
        long base = rss();
        INDArray latents = Nd4j.randn(DataType.FLOAT, 2, 4, frames, REAL_H, REAL_W);
        INDArray image = Nd4j.randn(DataType.FLOAT, 2, 3, frames, REAL_H, REAL_W);
        Tensor emb = Tensor.of(Nd4j.randn(DataType.FLOAT, 2, unet.config().timeEmbedDim()));
        resetPeak();
        long t0 = System.nanoTime();
        Deque<Tensor> skips = new ArrayDeque<>();
        try (Tape off = Grad.disabled()) {
            Tensor x = Ops.concat(1, Tensor.of(latents), Tensor.of(image));    // (2, 7, f, 320, 512)
            Tensor h = convIn.forward(x);
            x.release();
            skips.push(h);
            h = r0.forward(h, emb);
            skips.push(h);
            h = r1.forward(h, emb);
            skips.push(h);
            h = downsampler.forward(h);
            skips.push(h);
            Tensor out = temporal0.forward(h, emb);                            // (2, 256, f, 160, 256), not a skip
            out.release();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        report("firstblock " + frames + " frames", s, macs.total(), base);
        for (Tensor t : skips) t.release();
    }

    // ------------------------------------------------------------------------------------------------ last up level

    private static void upLevel0(int frames) throws IOException {
        UNet3DVSRModel unet = unet();
        Module ups = unet.children().get("up_blocks"), upTemporal = unet.children().get("up_temporal_blocks");
        Upsample3D upsampler = (Upsample3D) ups.children().get("2").children().get("upsamplers").children().get("0");
        TemporalConvModule t2 = (TemporalConvModule) upTemporal.children().get("2");
        Module up3 = ups.children().get("3");
        ResnetBlock3D[] resnets = new ResnetBlock3D[3];
        for (int i = 0; i < 3; i++) resnets[i] = (ResnetBlock3D) up3.children().get("resnets").children().get(String.valueOf(i));
        TemporalConvModule t3 = (TemporalConvModule) upTemporal.children().get("3");
        GroupNorm normOut = (GroupNorm) unet.children().get("conv_norm_out");
        InflatedConv3d convOut = (InflatedConv3d) unet.children().get("conv_out");
        int levels = unet.config().levels();
        MacCount macs = new MacCount(2, frames, REAL_H, REAL_W, levels, TEXT).add(upsampler, 0).add(t2, 0);
        for (ResnetBlock3D r : resnets) macs.add(r, 0);
        macs.add(t3, 0).add(convOut, 0);
        System.out.println("# last up level at " + REAL_H + "x" + REAL_W + ", batch 2, " + frames + " frames: " + macs);
        int c0 = unet.config().blockOutChannels().get(0), c1 = unet.config().blockOutChannels().get(1);
        long base = rss();
        // the state when up block 2's resnets are done: its output at level 1 and the three level-0 skips
        Deque<Tensor> skips = new ArrayDeque<>();
        for (int i = 0; i < 3; i++) skips.push(Tensor.of(Nd4j.randn(DataType.FLOAT, 2, c0, frames, REAL_H, REAL_W)));
        Tensor h = Tensor.of(Nd4j.randn(DataType.FLOAT, 2, c1, frames, REAL_H / 2, REAL_W / 2));
        Tensor emb = Tensor.of(Nd4j.randn(DataType.FLOAT, 2, unet.config().timeEmbedDim()));
        resetPeak();
        long t0 = System.nanoTime();
        try (Tape off = Grad.disabled()) {
            Tensor up = upsampler.forward(h);                                  // (2, 512, f, 320, 512)
            h.release();
            h = t2.forward(up, emb);
            up.release();
            for (ResnetBlock3D r : resnets) {                                  // as VsrBlocks.UpBlock.forward
                Tensor skip = skips.pop();
                Tensor cat = Ops.concat(1, h, skip);
                Tensor.release(h, skip);
                h = r.forward(cat, emb);
                cat.release();
            }
            Tensor t = t3.forward(h, emb);
            h.release();
            Tensor n = normOut.forward(t);
            t.release();
            Tensor a = Ops.silu(n);
            n.release();
            Tensor out = convOut.forward(a);
            Tensor.release(a, out);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        report("uplevel0 " + frames + " frames", s, macs.total(), base);
    }

    // ------------------------------------------------------------------------------------------------ estimate

    private static void estimate() {
        VsrConfig u = VsrConfig.lavieVsr();
        VaeConfig v = VaeConfig.x4Upscaler();
        UpscaleOptions o = UpscaleOptions.builder().prompt("x").build();
        for (UpscaleOptions.MemoryMode mode : new UpscaleOptions.MemoryMode[]{UpscaleOptions.MemoryMode.FULL_BATCH, UpscaleOptions.MemoryMode.LOW_MEMORY})
            for (int chunk = 8; chunk >= 1; chunk /= 2) {
                UpscaleOptions oc = o.toBuilder().chunkFrames(chunk).memoryMode(mode).build();
                System.out.printf(Locale.ROOT, "# estimate %s, 61 frames %dx%d, chunks of %d: untiled %s; tiled %s%n", mode, REAL_H, REAL_W, chunk,
                        SuperResolutionPipeline.estimateMemory(u, v, 61, REAL_H, REAL_W, oc),
                        SuperResolutionPipeline.estimateMemory(u, v, 61, REAL_H, REAL_W, oc.toBuilder().tiling(Tiling.defaults(v)).build()));
            }
        UNet3DVSRModel unet = unet();
        System.out.println("# VSR UNet parameters: " + unet.parameterCount() + " (" + unet.parameterCount() * 4 / 1e9 + " GB float32)");
        System.out.println("# multiply-adds per step at 320x512, batch 2, 8 frames: "
                + MacCount.of(unet, u.levels(), 2, FRAMES, REAL_H, REAL_W, TEXT));
        System.out.println("# feed-forward budget default " + (VsrTransformerBlock.DEFAULT_MAX_FEED_FORWARD_BYTES >> 20) + " MB");
    }

    // ------------------------------------------------------------------------------------------------ measuring

    static void report(String what, double seconds, double macs, long baseRss) {
        long peak = ProcessMemory.peakRssBytes();
        System.out.printf(Locale.ROOT, "RESULT %s: %.1f s, %.3f TMAC, %.1f GMAC/s; peak RSS %.2f GB, of which over the weights %.2f GB; %s; load %s%n",
                what, seconds, macs / 1e12, macs / 1e9 / seconds, peak / 1e9, (peak - baseRss) / 1e9, ProcessMemory.describe(), loadAverage());
    }

    /** Resets the process's peak RSS (VmHWM) to the current RSS (Linux clear_refs 5); returns the current RSS. */
    static long resetPeak() throws IOException {
        Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        return rss();
    }

    /** Current resident set size (VmRSS) in bytes. */
    static long rss() throws IOException {
        // TODO share with ProcessMemory.peakRssBytes
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024L;
        return -1;
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim().split(" ")[0];
        } catch (IOException e) {
            return "?";
        }
    }
}
