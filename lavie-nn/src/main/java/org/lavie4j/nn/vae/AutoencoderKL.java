package org.lavie4j.nn.vae;

import org.lavie4j.core.Memory;
import org.lavie4j.core.Attention;
import org.lavie4j.core.Grad;
import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Rearrange;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.layers.Conv2d;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * diffusers 0.16 {@code AutoencoderKL} (models/autoencoder_kl.py): Stable Diffusion 1.4's VAE (×8) and the x4
 * upscaler's (×4).
 * <pre>
 * encode(x) = DiagonalGaussian(quant_conv(encoder(x)))        x (B, 3, H, W) in [−1, 1]
 * decode(z) = decoder(post_quant_conv(z))                     z (B, 4, H/f, W/f), unscaled
 * </pre>
 * No scaling factor is applied inside encode/decode ({@link VaeConfig#scalingFactor()} is for callers: LaVie decodes
 * {@code z / 0.18215}). Keys {@code encoder.*, decoder.*, quant_conv, post_quant_conv} exactly as diffusers 0.16
 * (mid-block attention {@code query/key/value/proj_attn}).
 *
 * <p>Beyond the reference's single-image calls: {@link #encodeVideo}/{@link #decodeVideo} fold the frames of
 * (B, C, F, H, W) into the batch and run N frames at a time; {@link #encodeTiled}/{@link #decodeTiled} follow
 * diffusers' tiled_encode/tiled_decode (see {@link Tiling}). These paths are for inference: they assemble their
 * result outside the gradient tape and refuse to run while gradients are recorded.
 */
public final class AutoencoderKL extends Module {
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2d quantConv, postQuantConv;
    private final VaeConfig config;

    /** A VAE whose mid-block attention holds at most {@link Attention#DEFAULT_MAX_SCORE_BYTES} of scores at once. */
    public AutoencoderKL(VaeConfig config) { this(config, Attention.DEFAULT_MAX_SCORE_BYTES); }

    /** @param maxAttentionScoreBytes budget of one (B, chunk, H·W) score block of the mid-block attention */
    public AutoencoderKL(VaeConfig config, long maxAttentionScoreBytes) {
        this.config = config;
        int latent = config.latentChannels();
        encoder = child("encoder", new Encoder(config, maxAttentionScoreBytes));
        decoder = child("decoder", new Decoder(config, maxAttentionScoreBytes));
        quantConv = child("quant_conv", new Conv2d(2 * latent, 2 * latent, 1, 1, 0));
        postQuantConv = child("post_quant_conv", new Conv2d(latent, latent, 1, 1, 0));
    }

    public VaeConfig config() { return config; }

    // ------------------------------------------------------------------ images

    /** The posterior of images x (B, in_channels, H, W), H and W multiples of the spatial factor. */
    public DiagonalGaussian encode(Tensor x) {
        checkImage(x, "encode");
        return DiagonalGaussian.fromMoments(moments(x));
    }

    /** Images z (B, latent_channels, h, w) -> (B, out_channels, h·f, w·f). */
    public Tensor decode(Tensor z) {
        checkLatent(z, "decode");
        Tensor h = postQuantConv.forward(z);
        Tensor out = decoder.forward(h);
        h.release();
        return out;
    }

    private Tensor moments(Tensor x) {
        Tensor h = encoder.forward(x);                       // (b, 2*latent, h, w)
        Tensor m = quantConv.forward(h);
        h.release();
        return m;
    }

    // ------------------------------------------------------------------ tiled

    /**
     * {@link #encode} by overlapping tiles (diffusers tiled_encode) when the image is larger than a tile
     * ({@code tiling.latentTile()·f} pixels) in either dimension; otherwise exactly {@link #encode}.
     */
    public DiagonalGaussian encodeTiled(Tensor x, Tiling tiling) {
        checkImage(x, "encodeTiled");
        checkInference("encodeTiled");
        int f = config.spatialFactor(), tile = tiling.latentTile() * f;
        if (x.size(2) <= tile && x.size(3) <= tile) return encode(x);
        INDArray m = Tiling.run(x.data(), tiling.encodePlan(f), 2L * config.latentChannels(), x.size(2) / f, x.size(3) / f, this::moments);
        return DiagonalGaussian.fromMoments(owned("encodeTiled", m));       // releases the stitched moments
    }

    /**
     * {@link #decode} by overlapping tiles (diffusers tiled_decode) when the latent is larger than
     * {@code tiling.latentTile()} in either dimension; otherwise exactly {@link #decode}. Memory is bounded by one
     * tile's activations plus two rows of tile outputs and the result.
     */
    public Tensor decodeTiled(Tensor z, Tiling tiling) {
        checkLatent(z, "decodeTiled");
        checkInference("decodeTiled");
        if (z.size(2) <= tiling.latentTile() && z.size(3) <= tiling.latentTile()) return decode(z);
        int f = config.spatialFactor();
        return owned("decodeTiled", Tiling.run(z.data(), tiling.decodePlan(f), config.outChannels(), z.size(2) * f, z.size(3) * f, this::decode));
    }

    // ------------------------------------------------------------------ video

    /** {@link #encodeVideo(Tensor, int, Tiling)} untiled. */
    public DiagonalGaussian encodeVideo(Tensor video, int framesPerSlice) { return encodeVideo(video, framesPerSlice, null); }

    /**
     * The posterior of a video (B, in_channels, F, H, W) with mean/logvar (B, latent, F, h, w): frames folded into
     * the batch ({@code b c f h w -> (b f) c h w}) and encoded {@code framesPerSlice} at a time (tiled when
     * {@code tiling} is not null). Each frame's result equals {@link #encode} of that frame alone.
     */
    public DiagonalGaussian encodeVideo(Tensor video, int framesPerSlice, Tiling tiling) {
        checkVideo(video, config.inChannels(), "encodeVideo", "image");
        checkInference("encodeVideo");
        Tensor frames = Rearrange.framesToBatch(video);                          // (b*f, c, H, W)
        checkImage(frames, "encodeVideo");
        int f = config.spatialFactor();
        INDArray moments = sliced(frames, video.size(0), video.size(2), framesPerSlice, 2L * config.latentChannels(),
                video.size(3) / f, video.size(4) / f, x -> {
                    if (tiling == null) return moments(x);
                    DiagonalGaussian g = encodeTiled(x, tiling);               // re-join: the posterior clamps once more (idempotent)
                    Tensor m = Ops.concat(1, g.mean(), g.logvar());
                    g.release();
                    return m;
                });
        if (!frames.sharesMemoryWith(video)) frames.release();                   // F = 1: a view of the caller's video
        return DiagonalGaussian.fromMoments(owned("encodeVideo", moments));      // (b, 2*latent, f, h, w)
    }

    /** {@link #decodeVideo(Tensor, int, Tiling)} untiled. */
    public Tensor decodeVideo(Tensor z, int framesPerSlice) { return decodeVideo(z, framesPerSlice, null); }

    /**
     * Decodes latents (B, latent, F, h, w) -> (B, out_channels, F, h·f, w·f), {@code framesPerSlice} frames at a time
     * (diffusers' "sliced" decode), each slice tiled when {@code tiling} is not null. Each frame's result equals
     * {@link #decode} (or {@link #decodeTiled}) of that frame alone.
     */
    public Tensor decodeVideo(Tensor z, int framesPerSlice, Tiling tiling) {
        checkVideo(z, config.latentChannels(), "decodeVideo", "latent");
        checkInference("decodeVideo");
        Tensor frames = Rearrange.framesToBatch(z);                              // (b*f, latent, h, w)
        int f = config.spatialFactor();
        INDArray out = sliced(frames, z.size(0), z.size(2), framesPerSlice, config.outChannels(), z.size(3) * f, z.size(4) * f,
                x -> tiling == null ? decode(x) : decodeTiled(x, tiling));
        if (!frames.sharesMemoryWith(z)) frames.release();
        return owned("decodeVideo", out);                                        // (b, c_out, f, H, W)
    }

    /** Runs {@code fn} on slices of the folded batch (b·f, ...) and writes each frame's result to out[b, :, f]. */
    private static INDArray sliced(Tensor frames, long batch, long numFrames, int framesPerSlice, long outC, long outH, long outW,
                                   java.util.function.UnaryOperator<Tensor> fn) {
        if (framesPerSlice < 1) throw new IllegalArgumentException("framesPerSlice must be >= 1, got " + framesPerSlice);
        long total = frames.size(0);
        INDArray out = Memory.uninitialized(frames.dtype(), batch, outC, numFrames, outH, outW);
        INDArrayIndex all = NDArrayIndex.all();
        for (long s = 0; s < total; s += framesPerSlice) {
            long e = Math.min(total, s + framesPerSlice);
            Tensor part = Ops.slice(frames, 0, s, e);                            // (n, c, H, W), a view
            Tensor y = fn.apply(part);                                           // (n, outC, outH, outW)
            for (long k = s; k < e; k++)
                out.get(NDArrayIndex.point(k / numFrames), all, NDArrayIndex.point(k % numFrames), all, all)
                        .assign(y.data().get(NDArrayIndex.point(k - s), all, all, all));
            y.release();
        }
        return out;
    }

    /** A fresh array as an unrecorded op result, so that {@link Tensor#release()} frees it. */
    private static Tensor owned(String op, INDArray fresh) {
        return Ops.record("AutoencoderKL." + op, fresh, g -> null);
    }

    // ------------------------------------------------------------------ checks

    private void checkImage(Tensor x, String op) {
        int f = config.spatialFactor();
        if (x.rank() != 4 || x.size(1) != config.inChannels())
            throw new IllegalArgumentException("AutoencoderKL." + op + ": x must be images (B, " + config.inChannels() + ", H, W), got "
                    + Arrays.toString(x.shape()));
        if (x.size(2) % f != 0 || x.size(3) % f != 0 || x.size(2) == 0 || x.size(3) == 0)
            throw new IllegalArgumentException("AutoencoderKL." + op + ": image size " + x.size(2) + "x" + x.size(3) + " of "
                    + Arrays.toString(x.shape()) + " is not a positive multiple of the spatial factor " + f);
    }

    private void checkLatent(Tensor z, String op) {
        if (z.rank() != 4 || z.size(1) != config.latentChannels())
            throw new IllegalArgumentException("AutoencoderKL." + op + ": z must be latents (B, " + config.latentChannels() + ", h, w), got "
                    + Arrays.toString(z.shape()));
    }

    private static void checkVideo(Tensor x, int channels, String op, String what) {
        if (x.rank() != 5 || x.size(1) != channels)
            throw new IllegalArgumentException("AutoencoderKL." + op + ": expected a " + what + " video (B, " + channels + ", F, H, W), got "
                    + Arrays.toString(x.shape()));
    }

    private static void checkInference(String op) {
        if (Grad.isRecording())
            throw new IllegalStateException("AutoencoderKL." + op + " is inference-only (its result is assembled outside the tape): "
                    + "call it outside Grad.record(), or use encode/decode");
    }
}
