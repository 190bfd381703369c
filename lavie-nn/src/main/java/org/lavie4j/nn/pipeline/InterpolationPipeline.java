package org.lavie4j.nn.pipeline;

import org.lavie4j.core.Grad;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.core.Views;
import org.lavie4j.core.media.Video;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.attention.BlockVariant;
import org.lavie4j.nn.clip.CLIPTextModel;
import org.lavie4j.nn.clip.CLIPTokenizer;
import org.lavie4j.nn.schedulers.RespacedDDIMScheduler;
import org.lavie4j.nn.schedulers.StepOutput;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.vae.AutoencoderKL;
import org.lavie4j.nn.vae.DiagonalGaussian;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.random.RandomGenerator;

/**
 * LaVie's temporal interpolation stage, 16 frames to 61: {@code interpolation/sample.py} ({@code get_input} and
 * {@code auto_inpainting_copy_no_mask}) with the guided-diffusion DDIM loop and {@code forward_with_cfg}
 * (interpolation-unet.md §2–5). The loop is written out in {@link #run}:
 * <ol>
 *   <li>frames: {@code np.linspace(0, T−1, 61, dtype=int)} of the T input frames ({@link #frameIndices}; i/4 for 16),
 *       {@code /255}, bilinear resize to the output size, {@code (x − 0.5)/0.5};</li>
 *   <li>VAE posterior sample {@code (mean + std·ε)·0.18215} of those frames;</li>
 *   <li>conditioning ("copy_no_mask"): frames 0, 4, …, 60 of those latents (= the input frames), each repeated 4 times,
 *       the first one and the last two dropped: slot p holds key frame ⌊(p+1)/4⌋ ({@link #conditioning});</li>
 *   <li>text states in the order <b>[cond, uncond]</b> (cond FIRST, the opposite of the base pipeline): the prompt with
 *       the suffix {@code ", 4k."}, and the literal negative prompt {@code "None"};</li>
 *   <li>respaced DDIM ({@link RespacedDDIMScheduler}, 50 steps, eta 0) from noise z (1, 4, 61, h, w); each step runs the
 *       UNet on {@code [x ‖ cond]} (8 channels) twice in one batch with the text [cond, uncond] and the ORIGINAL timestep,
 *       ε = ε_u + s·(ε_c − ε_u) with ε_c the first half, s = 4.0;</li>
 *   <li>decode of latents / 0.18215, {@code framesPerSlice} frames at a time → (1, 3, 61, H, W).</li>
 * </ol>
 * Deviations, none of which changes a number beyond float rounding: the reference duplicates x and the conditioning for
 * its batch of two and uses only the first half (here one copy is kept); it calls the UNet twice per step with
 * identical inputs (a failing {@code .sample} access retried by a bare except; here once); it VAE-encodes all 61 selected
 * frames but keeps only frames 0, 4, …, 60 (here only those 16 are encoded, each with the posterior noise row the
 * reference gives it, so the result is the same); noise comes from seeded Java generators, not torch's. The pipeline keeps
 * no per-run state (each call makes its own scheduler).
 */
public final class InterpolationPipeline {
    private static final Logger LOG = LoggerFactory.getLogger(InterpolationPipeline.class);

    /** The base video's length the model was trained on, and the interpolated length ({@code 4·15 + 1}). */
    public static final int INPUT_FRAMES = 16, OUTPUT_FRAMES = 61;
    /** Output slots per input frame: key frame k sits at slot 4k ({@code lr_indice = range(0, 62, 4)}). */
    public static final int STRIDE = 4;
    /** The original writes the interpolated video at 24 fps ({@code fps_list: [24]}). */
    public static final double FPS = 24.0;
    /** Frames worth reading from a file: {@link #frameIndices} of a longer clip are those of 62 frames (0..60). */
    public static final int MAX_READ_FRAMES = OUTPUT_FRAMES + 1;

    /** Sees every denoising step (tests and debugging); the arrays are valid only during the call. */
    @FunctionalInterface
    public interface StepObserver {
        /**
         * @param step      0-based step index
         * @param timestep  the original timestep the UNet received
         * @param x         the latents entering the step (1, 4, 61, h, w)
         * @param guidedEps the guided noise prediction ε_u + s·(ε_c − ε_u) (1, 4, 61, h, w)
         */
        void onStep(int step, long timestep, INDArray x, INDArray guidedEps);
    }

    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet3DConditionModel unet;
    private final AutoencoderKL vae;

    /**
     * @param tokenizer   may be null when every call passes precomputed text states
     * @param textEncoder may be null under the same condition
     * @param unet        an interpolation-variant UNet with 2 × the VAE's latent channels in and the latent channels out
     */
    public InterpolationPipeline(CLIPTokenizer tokenizer, CLIPTextModel textEncoder, UNet3DConditionModel unet, AutoencoderKL vae) {
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = Objects.requireNonNull(unet, "unet");
        this.vae = Objects.requireNonNull(vae, "vae");
        if (unet.config().variant() != BlockVariant.INTERPOLATION)
            throw new IllegalArgumentException("InterpolationPipeline needs an interpolation-variant UNet (UNetConfig.lavieInterpolation()), got "
                    + unet.config().variant());
        int latent = vae.config().latentChannels();
        if (unet.config().inChannels() != 2 * latent || unet.config().outChannels() != latent)
            throw new IllegalArgumentException("InterpolationPipeline: the UNet must take [noisy ‖ conditioning] latents, 2 × " + latent
                    + " channels in and " + latent + " out; it has " + unet.config().inChannels() + " in and " + unet.config().outChannels() + " out");
        if (textEncoder != null && textEncoder.config().hiddenSize() != unet.config().crossAttentionDim())
            throw new IllegalArgumentException("InterpolationPipeline: the text encoder's hidden_size " + textEncoder.config().hiddenSize()
                    + " differs from the UNet's cross_attention_dim " + unet.config().crossAttentionDim());
    }

    public UNet3DConditionModel unet() { return unet; }
    public AutoencoderKL vae() { return vae; }

    // ------------------------------------------------------------------------------------------------ frame layout

    /**
     * The original's frame selection for a clip of {@code total} frames: {@code TemporalRandomCrop(61)} then
     * {@code np.linspace(start, end − 1, 61, dtype=int)}. For 16 frames: {@code i / 4} (input frame k at slots 4k..4k+3,
     * frame 15 only at 60). Up to 62 frames the crop is the whole clip; above, the original starts the 61-frame window
     * at a random frame (Python's {@code random}) and this port at frame 0.
     *
     * @throws IllegalArgumentException for fewer than {@value #INPUT_FRAMES} frames
     */
    public static int[] frameIndices(int total) {
        checkFrameCount(total);
        int end = Math.min(OUTPUT_FRAMES, total);              // begin 0; end = min(begin + 61, total)
        int[] idx = new int[OUTPUT_FRAMES];
        double step = (double) (end - 1) / (OUTPUT_FRAMES - 1);  // numpy linspace: i·step + start, last = stop exactly
        for (int i = 0; i < OUTPUT_FRAMES; i++) idx[i] = (int) (i * step);
        idx[OUTPUT_FRAMES - 1] = end - 1;
        return idx;
    }

    /** The input frames the conditioning keeps: {@link #frameIndices}{@code (total)} at slots 0, 4, …, 60 (0..15 for 16). */
    public static int[] keyFrameIndices(int total) {
        int[] all = frameIndices(total);
        int[] key = new int[INPUT_FRAMES];
        for (int k = 0; k < INPUT_FRAMES; k++) key[k] = all[STRIDE * k];
        return key;
    }

    /** The key frame conditioning slot {@code p} (0..60) copies: ⌊(p + 1)/4⌋ (repeat_interleave 4, drop the first and the last two). */
    public static int conditioningSource(int p) {
        if (p < 0 || p >= OUTPUT_FRAMES) throw new IllegalArgumentException("slot " + p + " is outside [0, " + OUTPUT_FRAMES + ")");
        return (p + 1) / STRIDE;
    }

    /**
     * The copy_no_mask conditioning: key-frame latents (1, C, 16, h, w) → (1, C, 61, h, w) with slot p =
     * key frame {@link #conditioningSource}(p).
     */
    public static INDArray conditioning(INDArray keyLatents) {
        long[] s = keyLatents.shape();
        if (s.length != 5 || s[2] != INPUT_FRAMES)
            throw new IllegalArgumentException("conditioning: key-frame latents must be (B, C, " + INPUT_FRAMES + ", h, w), got " + Arrays.toString(s));
        INDArray out = Memory.uninitialized(keyLatents.dataType(), s[0], s[1], OUTPUT_FRAMES, s[3], s[4]);
        for (int p = 0; p < OUTPUT_FRAMES; p++)
            frame(out, p).assign(frame(keyLatents, conditioningSource(p)));
        return out;
    }

    /** Frames 0, 4, …, 60 of latents of the 61 selected frames (1, C, 61, h, w) → (1, C, 16, h, w) ({@code index_select}). */
    public static INDArray keyFrames(INDArray latents61) {
        long[] s = latents61.shape();
        if (s.length != 5 || s[2] != OUTPUT_FRAMES)
            throw new IllegalArgumentException("keyFrames: latents must be (B, C, " + OUTPUT_FRAMES + ", h, w), got " + Arrays.toString(s));
        INDArray out = Memory.uninitialized(latents61.dataType(), s[0], s[1], INPUT_FRAMES, s[3], s[4]);
        for (int k = 0; k < INPUT_FRAMES; k++) frame(out, k).assign(frame(latents61, STRIDE * k));
        return out;
    }

    private static INDArray frame(INDArray video, long f) {
        return video.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(f), NDArrayIndex.all(), NDArrayIndex.all());
    }

    // ------------------------------------------------------------------------------------------------ pixels

    /**
     * The original's {@code get_input} for the given frames of {@code video}: {@code u8/255} (float32), bilinear resize to
     * height × width ({@code align_corners=False}; none at the same size), {@code (x − 0.5)/0.5} → (1, 3, n, H, W).
     */
    public static INDArray pixels(Video video, int[] frames, int height, int width) {
        int h0 = video.height(), w0 = video.width();
        boolean resize = h0 != height || w0 != width;
        int plane = height * width;
        float[] out = new float[3 * frames.length * plane];        // (c, f, y, x)
        float[] src = new float[h0 * w0];
        for (int i = 0; i < frames.length; i++) {
            byte[] rgb = video.rgb(frames[i]);
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < h0 * w0; p++) src[p] = (rgb[3 * p + c] & 0xff) / 255f;      // ToTensorVideo
                float[] r = resize ? resizeBilinear(src, h0, w0, height, width) : src;          // ResizeVideo
                int base = (c * frames.length + i) * plane;
                for (int p = 0; p < plane; p++) out[base + p] = (r[p] - 0.5f) / 0.5f;         // Normalize(0.5, 0.5)
            }
        }
        return Nd4j.createFromArray(out).reshape('c', 1, 3, frames.length, height, width);
    }

    /**
     * The given frames of a pixel video (3, F, H, W) or (1, 3, F, H, W) in [−1, 1], bilinearly resized to height × width
     * when the size differs → (1, 3, n, H, W) float32.
     */
    public static INDArray pixels(INDArray video, int[] frames, int height, int width) {
        INDArray v = checkPixels(video);
        int h0 = (int) v.size(2), w0 = (int) v.size(3);
        INDArray out = Nd4j.create(DataType.FLOAT, 1, 3, frames.length, height, width);
        for (int i = 0; i < frames.length; i++) {
            for (int c = 0; c < 3; c++) {
                INDArray src = v.get(NDArrayIndex.point(c), NDArrayIndex.point(frames[i]), NDArrayIndex.all(), NDArrayIndex.all());
                INDArray dst = out.get(NDArrayIndex.point(0), NDArrayIndex.point(c), NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all());
                if (h0 == height && w0 == width) {
                    dst.assign(src);
                } else {
                    float[] r = resizeBilinear(src.castTo(DataType.FLOAT).dup('c').data().asFloat(), h0, w0, height, width);
                    dst.assign(Nd4j.createFromArray(r).reshape('c', height, width));
                }
            }
        }
        return out;
    }

    private static INDArray checkPixels(INDArray video) {
        long[] s = video.shape();
        boolean ok = (s.length == 4 && s[0] == 3) || (s.length == 5 && s[0] == 1 && s[1] == 3);
        if (!ok)
            throw new IllegalArgumentException("InterpolationPipeline: a pixel video must be (3, F, H, W) or (1, 3, F, H, W) in [-1, 1], got "
                    + Arrays.toString(s));
        return s.length == 5 ? video.reshape(s[1], s[2], s[3], s[4]) : video;
    }

    /**
     * torch {@code F.interpolate(mode="bilinear", align_corners=False)} of one plane: source coordinate
     * {@code (o + 0.5)·in/out − 0.5} clamped at 0, the two neighbours (the second clamped to the edge) weighted linearly.
     */
    static float[] resizeBilinear(float[] src, int inH, int inW, int outH, int outW) {
        float[] out = new float[outH * outW];
        int[] y0 = new int[outH], y1 = new int[outH], x0 = new int[outW], x1 = new int[outW];
        float[] ly = new float[outH], lx = new float[outW];
        weights((float) inH / outH, inH, y0, y1, ly);
        weights((float) inW / outW, inW, x0, x1, lx);
        for (int y = 0; y < outH; y++) {
            float b = ly[y], a = 1f - b;
            for (int x = 0; x < outW; x++) {
                float d = lx[x], c = 1f - d;
                out[y * outW + x] = a * (c * src[y0[y] * inW + x0[x]] + d * src[y0[y] * inW + x1[x]])
                        + b * (c * src[y1[y] * inW + x0[x]] + d * src[y1[y] * inW + x1[x]]);
            }
        }
        return out;
    }

    private static void weights(float scale, int in, int[] i0, int[] i1, float[] lambda1) {
        for (int o = 0; o < i0.length; o++) {
            float s = Math.max(scale * (o + 0.5f) - 0.5f, 0f);
            int lo = Math.min((int) s, in - 1);
            i0[o] = lo;
            i1[o] = Math.min(lo + 1, in - 1);
            lambda1[o] = Math.min(Math.max(s - lo, 0f), 1f);
        }
    }

    // ------------------------------------------------------------------------------------------------ encoders

    /** The text encoder's last hidden state for one text: (1, L, D) float32. */
    public INDArray encodePrompt(String text) {
        return PipelineSupport.encodePrompt(tokenizer, textEncoder, text, "InterpolationPipeline");
    }

    /**
     * Scaled VAE latents of pixel frames (1, 3, F, H, W): {@code (mean + std·ε)·scaling_factor} with ε (1, C, F, h, w)
     * (the original's {@code vae.encode(x).latent_dist.sample().mul_(0.18215)}), {@code framesPerSlice} frames at a time.
     */
    public INDArray encode(INDArray pixels, INDArray eps, int framesPerSlice) {
        try (Tape off = Grad.disabled()) {
            DiagonalGaussian posterior = vae.encodeVideo(Tensor.of(pixels.castTo(DataType.FLOAT)), framesPerSlice);   // (1, C, F, h, w)
            try {
                if (!Arrays.equals(eps.shape(), posterior.mean().shape()))
                    throw new IllegalArgumentException("InterpolationPipeline: VAE noise " + Arrays.toString(eps.shape()) + " must be "
                            + Arrays.toString(posterior.mean().shape()));
                Tensor z = posterior.sample(Tensor.of(eps.castTo(DataType.FLOAT)));
                INDArray out = z.data().mul(vae.config().scalingFactor());
                z.release();
                return out;
            } finally {
                posterior.release();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ checks

    /** Latent size (h, w) of an output of height × width, after checking that the models can take it. */
    private long[] latentSize(int height, int width) {
        int f = vae.config().spatialFactor();
        int down = 1 << (unet.config().blockOutChannels().size() - 1);
        int m = f * down;
        if (height <= 0 || width <= 0 || height % m != 0 || width % m != 0)
            throw new IllegalArgumentException("InterpolationPipeline: height and width must be multiples of " + m + " for this model (VAE factor "
                    + f + " × UNet down-sampling " + down + "), got " + height + "x" + width + (m == 64 ? " (LaVie: 320x512)" : ""));
        return new long[]{height / f, width / f};
    }

    private static void checkFrameCount(int total) {
        if (total < INPUT_FRAMES)
            throw new IllegalArgumentException("LaVie's interpolation stage needs " + INPUT_FRAMES + " input frames (it turns "
                    + INPUT_FRAMES + " frames into " + OUTPUT_FRAMES + "), got " + total);
    }

    /**
     * Checks what the options alone cannot (text width, a prompt without text encoder); sizes and noise shapes are checked
     * by {@code interpolate} once the input's size is known.
     */
    public void check(InterpolateOptions o) {
        if (o.promptEmbeds() != null && o.promptEmbeds().size(2) != unet.config().crossAttentionDim())
            throw new IllegalArgumentException("InterpolationPipeline: prompt embeddings are " + o.promptEmbeds().size(2)
                    + " wide; the UNet attends to " + unet.config().crossAttentionDim());
        if ((o.prompt() != null || (o.doClassifierFreeGuidance() && o.negativePromptEmbeds() == null)) && (tokenizer == null || textEncoder == null))
            throw new IllegalStateException("InterpolationPipeline: a text prompt needs a tokenizer and text encoder; this pipeline has none (pass embeddings)");
        if (o.height() != 0) latentSize(o.height(), o.width());
    }

    /**
     * Checks a run on an input of {@code frames} frames of height × width before any work: the frame count, the output
     * size ({@code o}'s, or the input's) against the models, and {@link #check(InterpolateOptions)}.
     *
     * @throws IllegalArgumentException naming what does not fit and what would
     */
    public void check(int frames, int height, int width, InterpolateOptions o) {
        checkFrameCount(frames);
        latentSize(o.height() != 0 ? o.height() : height, o.width() != 0 ? o.width() : width);
        check(o);
    }

    // ------------------------------------------------------------------------------------------------ entry points

    /** Interpolates a clip of 8-bit frames (at least 16; the original reads the base stage's mp4). */
    public GenerateResult interpolate(Video video, InterpolateOptions o) {
        checkFrameCount(video.frames());
        warnIfNotSixteen(video.frames());
        int h = o.height() != 0 ? o.height() : video.height(), w = o.width() != 0 ? o.width() : video.width();
        latentSize(h, w);
        INDArray px = pixels(video, keyFrameIndices(video.frames()), h, w);
        return interpolatePixelKeyFrames(px, o);
    }

    /**
     * Interpolates the video file {@code file} ({@link VideoIO#read}: mp4, GIF, a folder of PNG frames, ...). At most
     * {@value #MAX_READ_FRAMES} frames are read: the selection of a longer clip only uses its first 61.
     */
    public GenerateResult interpolate(Path file, InterpolateOptions o) throws IOException {
        return interpolate(VideoIO.read(file, MAX_READ_FRAMES), o);
    }

    /** Interpolates a pixel video (3, F, H, W) or (1, 3, F, H, W) in [−1, 1], F >= 16 (e.g. the base pipeline's output). */
    public GenerateResult interpolate(INDArray pixelVideo, InterpolateOptions o) {
        INDArray v = checkPixels(pixelVideo);
        int frames = (int) v.size(1);
        checkFrameCount(frames);
        warnIfNotSixteen(frames);
        int h = o.height() != 0 ? o.height() : (int) v.size(2), w = o.width() != 0 ? o.width() : (int) v.size(3);
        latentSize(h, w);
        INDArray px = pixels(v, keyFrameIndices(frames), h, w);
        return interpolatePixelKeyFrames(px, o);
    }

    /**
     * Interpolates from the scaled latents of the 16 key frames (1, C, 16, h, w) (= VAE sample · 0.18215, e.g. the base
     * pipeline's latents), skipping the VAE encode; {@code vaeNoise} is not used.
     */
    public GenerateResult interpolateLatents(INDArray keyLatents, InterpolateOptions o) {
        long[] s = keyLatents.shape();
        int c = vae.config().latentChannels();
        if (s.length != 5 || s[0] != 1 || s[1] != c || s[2] != INPUT_FRAMES)
            throw new IllegalArgumentException("InterpolationPipeline: key-frame latents must be (1, " + c + ", " + INPUT_FRAMES
                    + ", h, w), got " + Arrays.toString(s));
        int f = vae.config().spatialFactor();
        latentSize((int) s[3] * f, (int) s[4] * f);
        if (o.height() != 0 && (o.height() != s[3] * f || o.width() != s[4] * f))
            throw new IllegalArgumentException("InterpolationPipeline: latents " + Arrays.toString(s) + " decode to " + s[3] * f + "x" + s[4] * f
                    + ", not the requested " + o.height() + "x" + o.width());
        return run(keyLatents.castTo(DataType.FLOAT), o, System.nanoTime());
    }

    private static void warnIfNotSixteen(int frames) {
        if (frames != INPUT_FRAMES)
            LOG.warn("the interpolation model was trained on {}-frame inputs; with {} frames the original's selection conditions on frames {}",
                    INPUT_FRAMES, frames, Arrays.toString(keyFrameIndices(frames)));
    }

    /** Pixel key frames (1, 3, 16, H, W) → VAE posterior sample → {@link #run}. */
    private GenerateResult interpolatePixelKeyFrames(INDArray px, InterpolateOptions o) {
        long start = System.nanoTime();
        check(o);
        int c = vae.config().latentChannels();
        long h = px.size(3) / vae.config().spatialFactor(), w = px.size(4) / vae.config().spatialFactor();
        INDArray noise61 = o.vaeNoise();
        if (noise61 == null) {
            noise61 = randn(new SplittableRandom(o.seed()), new long[]{OUTPUT_FRAMES, c, h, w});    // sample.py: the VAE draws first
        } else if (!Arrays.equals(noise61.shape(), new long[]{OUTPUT_FRAMES, c, h, w})) {
            throw new IllegalArgumentException("InterpolationPipeline: vaeNoise must be " + Arrays.toString(new long[]{OUTPUT_FRAMES, c, h, w})
                    + " for " + px.size(3) + "x" + px.size(4) + " frames, got " + Arrays.toString(noise61.shape()));
        }
        // key frame k is selected slot 4k: the reference samples it with noise row 4k of its (61, C, h, w) draw
        INDArray eps = Nd4j.create(DataType.FLOAT, 1, c, INPUT_FRAMES, h, w);
        for (int k = 0; k < INPUT_FRAMES; k++)
            frame(eps, k).assign(noise61.get(NDArrayIndex.point((long) STRIDE * k), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all())
                    .reshape(1, c, h, w));
        INDArray keyLatents = encode(px, eps, o.framesPerSlice());                                  // (1, C, 16, h, w)
        Memory.free(px, eps);
        if (o.vaeNoise() == null) Memory.free(noise61);
        try {
            return run(keyLatents, o, start);
        } finally {
            Memory.free(keyLatents);
        }
    }

    /**
     * The stage from the key-frame latents: conditioning, text, the respaced DDIM loop with guidance on [cond, uncond],
     * and the decode.
     */
    private GenerateResult run(INDArray keyLatents, InterpolateOptions o, long start) {
        check(o);
        int c = vae.config().latentChannels();
        long h = keyLatents.size(3), w = keyLatents.size(4);
        long[] shape = {1, c, OUTPUT_FRAMES, h, w};
        boolean cfg = o.doClassifierFreeGuidance();
        try (Tape off = Grad.disabled()) {
            // 1. conditioning latents (1, C, 61, h, w): slot p = key frame ⌊(p+1)/4⌋
            INDArray cond = conditioning(keyLatents);

            // 2. text states, COND FIRST: [prompt + suffix, negative] (interpolation/sample.py prompt_all)
            INDArray condText = o.promptEmbeds() != null ? o.promptEmbeds().castTo(DataType.FLOAT) : encodePrompt(o.conditionalText());
            INDArray ctx = condText;
            if (cfg) {
                INDArray uncondText = o.negativePromptEmbeds() != null ? o.negativePromptEmbeds().castTo(DataType.FLOAT)
                        : encodePrompt(o.negativePrompt());
                if (!Arrays.equals(uncondText.shape(), condText.shape()))
                    throw new IllegalArgumentException("InterpolationPipeline: negative text states " + Arrays.toString(uncondText.shape())
                            + " do not match the prompt's " + Arrays.toString(condText.shape()));
                ctx = Nd4j.concat(0, condText, uncondText);                                        // (2, L, D): [cond, uncond]
                if (o.negativePromptEmbeds() == null) Memory.free(uncondText);                    // encoded here: ours to free
            }
            Tensor context = Tensor.of(ctx);

            // 3. initial noise z (1, C, 61, h, w): the reference re-seeds before drawing it
            RandomGenerator generator = new SplittableRandom(o.seed());
            INDArray x;
            if (o.noise() != null) {
                if (!Arrays.equals(o.noise().shape(), shape))
                    throw new IllegalArgumentException("InterpolationPipeline: noise must be " + Arrays.toString(shape) + ", got "
                            + Arrays.toString(o.noise().shape()));
                x = o.noise().castTo(DataType.FLOAT).dup('c');
            } else {
                x = randn(generator, shape);
            }

            // 4. respaced DDIM (guided-diffusion), the UNet sees the ORIGINAL timestep
            RespacedDDIMScheduler scheduler = new RespacedDDIMScheduler(InterpolateOptions.TRAIN_TIMESTEPS);
            scheduler.setTimesteps(o.steps());
            long[] timesteps = scheduler.timesteps().toLongVector();                                // 999 … 0
            int n = timesteps.length;
            try {
                Memory.StepGuard guard = new Memory.StepGuard();                            // memory flat over the steps
                for (int j = 0; j < n; j++) {
                    long t = timesteps[j];
                    INDArray xin = Nd4j.concat(1, x, cond);                                          // (1, 2C, 61, h, w)
                    INDArray modelIn = cfg ? Nd4j.concat(0, xin, xin) : xin;                         // forward_with_cfg: [half, half]
                    Tensor out = unet.forward(Tensor.of(modelIn), Tensor.of(Nd4j.createFromArray(t)), context);
                    if (modelIn != xin) Memory.free(modelIn);
                    Memory.free(xin);
                    INDArray e = out.data();                                                         // (1 or 2, C, 61, h, w)
                    INDArray guided;
                    if (cfg) {
                        INDArray ec = Views.interval(e, 0, 0, 1), eu = Views.interval(e, 0, 1, 2);   // cond FIRST, uncond second
                        guided = ec.sub(eu).muli(o.guidanceScale()).addi(eu);                        // ε_u + s·(ε_c − ε_u)
                        out.release();
                    } else {
                        guided = e.dup('c');
                        out.release();
                    }
                    if (o.observer() != null) o.observer().onStep(j, t, x, guided);
                    INDArray varianceNoise = o.eta() > 0 && j < n - 1 ? randn(generator, shape) : null;
                    StepOutput step = scheduler.step(guided, t, x, o.eta(), varianceNoise);
                    Memory.free(guided, varianceNoise, step.predOriginalSample(), x);
                    x = step.prevSample();
                    guard.afterStep();
                    Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
                    if (!o.progress().onStep(j + 1, n, t, elapsed))
                        throw new CancellationException("InterpolationPipeline: cancelled after step " + (j + 1) + " of " + n);
                }
            } catch (RuntimeException ex) {
                Memory.free(x);
                throw ex;
            } finally {
                Memory.free(cond);
                if (ctx != condText) Memory.free(ctx);
                if (o.promptEmbeds() == null) Memory.free(condText);
            }

            // 5. decode latents / 0.18215, framesPerSlice frames at a time -> (1, 3, 61, H, W)
            if (o.outputType() == OutputType.LATENTS) return new GenerateResult(x, null);
            INDArray z = x.div(vae.config().scalingFactor());
            Tensor video = vae.decodeVideo(Tensor.of(z), o.framesPerSlice());
            Memory.free(z);
            return new GenerateResult(x, video.data().castTo(DataType.FLOAT));
        }
    }

    /** Standard normal noise of the given shape from an explicit generator (row-major order). */
    static INDArray randn(RandomGenerator g, long[] shape) {
        return PipelineSupport.randn(g, shape);
    }
}
