package org.lavie4j.nn.layers;

import org.lavie4j.core.Module;
import org.lavie4j.core.Ops;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * LaVie's {@code ResnetBlock3D} (base/models/resnet.py), the residual block of every UNet level:
 * <pre>
 * h   = conv1(silu(norm1(x)))                     norm1: GroupNorm over C/G × F × H × W (all frames share statistics)
 * h   = h + time_emb_proj(silu(temb))[:, :, None, None, None]            ("default" time embedding norm)
 * h   = conv2(dropout(silu(norm2(h))))            ("scale_shift": norm2(h)·(1 + scale) + shift before the silu)
 * out = (shortcut(x) + h) / output_scale_factor   shortcut: 1×1 InflatedConv3d when used, else identity
 * </pre>
 * Keys: {@code norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut} ({@code .weight/.bias}). Options the
 * reference accepts but never reads ({@code pre_norm}, {@code conv_shortcut}) have no field here; {@code mish} and a
 * non-zero dropout are not supported (LaVie uses neither).
 */
public final class ResnetBlock3D extends Module {
    /** How the time embedding enters the block (diffusers {@code time_embedding_norm}). */
    public enum TimeEmbeddingNorm {
        /** Added to the output of conv1 ({@code "default"}, LaVie's setting). */
        DEFAULT,
        /** Projected to 2·C_out and applied as {@code norm2(h)·(1 + scale) + shift} ({@code "scale_shift"}). */
        SCALE_SHIFT;

        /** Maps the diffusers string. */
        public static TimeEmbeddingNorm parse(String s) {
            return switch (s) {
                case "default" -> DEFAULT;
                case "scale_shift" -> SCALE_SHIFT;
                default -> throw new IllegalArgumentException("unknown time_embedding_norm '" + s + "' (supported: default, scale_shift)");
            };
        }
    }

    /**
     * The block's constructor arguments. {@code tembChannels} 0 means no time embedding ({@code temb_channels=None}:
     * no {@code time_emb_proj}); {@code useInShortcut} is whether {@code conv_shortcut} exists (by default iff the
     * channel count changes).
     */
    public record Config(int inChannels, int outChannels, int tembChannels, int groups, int groupsOut, double eps,
                         TimeEmbeddingNorm timeEmbeddingNorm, double outputScaleFactor, boolean useInShortcut) {
        public Config {
            if (inChannels <= 0 || outChannels <= 0 || tembChannels < 0)
                throw new IllegalArgumentException("ResnetBlock3D: invalid channels in=" + inChannels + ", out=" + outChannels + ", temb=" + tembChannels);
            if (groups <= 0 || inChannels % groups != 0)
                throw new IllegalArgumentException("ResnetBlock3D: in_channels " + inChannels + " not divisible into " + groups + " groups");
            if (groupsOut <= 0 || outChannels % groupsOut != 0)
                throw new IllegalArgumentException("ResnetBlock3D: out_channels " + outChannels + " not divisible into " + groupsOut + " groups");
            if (!(eps > 0)) throw new IllegalArgumentException("ResnetBlock3D: eps must be positive, got " + eps);
            if (timeEmbeddingNorm == null) throw new IllegalArgumentException("ResnetBlock3D: timeEmbeddingNorm is null");
            if (!(outputScaleFactor != 0) || !Double.isFinite(outputScaleFactor))
                throw new IllegalArgumentException("ResnetBlock3D: output_scale_factor must be finite and non-zero, got " + outputScaleFactor);
            if (!useInShortcut && inChannels != outChannels)
                throw new IllegalArgumentException("ResnetBlock3D: use_in_shortcut=false needs in_channels == out_channels, got "
                        + inChannels + " -> " + outChannels);
        }

        /** LaVie's UNet resnet: additive time embedding, output scale 1, shortcut iff in != out, groups_out = groups. */
        public static Config of(int inChannels, int outChannels, int tembChannels, int groups, double eps) {
            return new Config(inChannels, outChannels, tembChannels, groups, groups, eps, TimeEmbeddingNorm.DEFAULT, 1.0,
                    inChannels != outChannels);
        }

        /** The same block with another {@code output_scale_factor} (the mid block's {@code mid_block_scale_factor}). */
        public Config withOutputScaleFactor(double factor) {
            return new Config(inChannels, outChannels, tembChannels, groups, groupsOut, eps, timeEmbeddingNorm, factor, useInShortcut);
        }
    }

    private final GroupNorm norm1;
    private final InflatedConv3d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Dropout dropout;
    private final InflatedConv3d conv2;
    private final InflatedConv3d convShortcut;
    private final Config config;

    public ResnetBlock3D(Config config) {
        this.config = config;
        int in = config.inChannels(), out = config.outChannels();
        int projOut = config.timeEmbeddingNorm() == TimeEmbeddingNorm.SCALE_SHIFT ? 2 * out : out;
        norm1 = child("norm1", new GroupNorm(config.groups(), in, config.eps()));
        conv1 = child("conv1", new InflatedConv3d(in, out, 3, 1, 1));
        timeEmbProj = config.tembChannels() > 0 ? child("time_emb_proj", new Linear(config.tembChannels(), projOut)) : null;
        norm2 = child("norm2", new GroupNorm(config.groupsOut(), out, config.eps()));
        dropout = child("dropout", new Dropout());
        conv2 = child("conv2", new InflatedConv3d(out, out, 3, 1, 1));
        convShortcut = config.useInShortcut() ? child("conv_shortcut", new InflatedConv3d(in, out, 1, 1, 0)) : null;
    }

    /** LaVie's UNet resnet (see {@link Config#of}). */
    public ResnetBlock3D(int inChannels, int outChannels, int tembChannels, int groups, double eps) {
        this(Config.of(inChannels, outChannels, tembChannels, groups, eps));
    }

    public Config config() { return config; }

    /**
     * x: (B, C_in, F, H, W), temb: (B, temb_channels) (or (1, temb_channels), broadcast) or null (then no time embedding is applied, as in the
     * reference) -> (B, C_out, F, H, W).
     */
    public Tensor forward(Tensor x, Tensor temb) {
        checkInputs(x.shape(), temb);
        Tensor a1 = norm1.forwardSilu(x);                        // silu(norm1(x)), one pass in inference
        Tensor proj = null, t = null;
        if (temb != null) {
            Tensor act = Ops.silu(temb);
            proj = timeEmbProj.forward(act);                     // (b, c_out) or (b, 2·c_out)
            act.release();
            t = Ops.reshape(proj, proj.size(0), proj.size(1), 1, 1, 1);   // (b, c', 1, 1, 1), a view of proj
        }
        // conv1(h) + temb, broadcast over f, h, w: added as the convolution writes its output (InflatedConv3d.forwardAdd)
        Tensor h = t != null && config.timeEmbeddingNorm() == TimeEmbeddingNorm.DEFAULT
                ? conv1.forwardAdd(a1, t) : conv1.forward(a1);  // (b, c_out, f, h, w)
        a1.release();

        boolean scaleShiftNorm = t != null && config.timeEmbeddingNorm() == TimeEmbeddingNorm.SCALE_SHIFT;
        // silu(norm2(h)) in one pass in inference, unless the scale-shift comes between them
        Tensor n2 = scaleShiftNorm ? norm2.forward(h) : norm2.forwardSilu(h);  // (b, c_out, f, h, w)
        h.release();
        if (scaleShiftNorm) {
            Tensor[] scaleShift = Ops.chunk(t, 2, 1);           // 2 × (b, c_out, 1, 1, 1)
            Tensor onePlus = Ops.addScalar(scaleShift[0], 1.0);
            Tensor scaled = Ops.mul(n2, onePlus);
            Tensor shifted = Ops.add(scaled, scaleShift[1]);
            Tensor.release(n2, onePlus, scaled);
            n2 = shifted;
        }
        if (proj != null) proj.release();
        Tensor s2 = scaleShiftNorm ? Ops.siluInPlace(n2) : n2;
        Tensor a2 = dropout.forward(s2);                         // dropout p = 0: the identity
        if (s2 != n2) n2.release();
        Tensor shortcut = convShortcut == null ? x : convShortcut.forward(x);   // (b, c_out, f, h, w)
        // conv2 + shortcut (the same floats as shortcut + conv2), added as the convolution writes its output
        Tensor out = conv2.forwardAdd(a2, shortcut);            // (b, c_out, f, h, w)
        a2.release();
        if (shortcut != x) shortcut.release();
        if (config.outputScaleFactor() != 1.0) {
            // the reference divides; x·(1/s) differs from x/s by at most one rounding for s != 1
            Tensor scaled = Ops.scale(out, 1.0 / config.outputScaleFactor());
            out.release();
            out = scaled;
        }
        return out;
    }

    private void checkInputs(long[] xs, Tensor temb) {
        if (xs.length != 5 || xs[1] != config.inChannels())
            throw new IllegalArgumentException("ResnetBlock3D(in=" + config.inChannels() + "): input_tensor must be (B, "
                    + config.inChannels() + ", F, H, W), got " + Arrays.toString(xs));
        if (temb != null) {
            if (timeEmbProj == null)
                throw new IllegalArgumentException("ResnetBlock3D was built without time_emb_proj (temb_channels=None) but got temb "
                        + Arrays.toString(temb.shape()));
            long[] ts = temb.shape();
            if (ts.length != 2 || (ts[0] != xs[0] && ts[0] != 1) || ts[1] != config.tembChannels())
                throw new IllegalArgumentException("ResnetBlock3D: temb must be (B, temb_channels) = (" + xs[0] + ", "
                        + config.tembChannels() + ") for input_tensor " + Arrays.toString(xs) + ", got " + Arrays.toString(ts));
        }
    }

    /**
     * The same block on the channel concatenation of {@code parts} (e.g. an up block's [features ‖ skip], which is then
     * never built as a whole), computed {@code sliceFrames} frames at a time ({@link Slices}): it holds the parts, the
     * output and one slice's temporaries instead of the whole-video intermediates. Equal to
     * {@code forward(concat(parts), temb)} up to float rounding. Inference only ("default" time embedding).
     */
    public Tensor forwardSliced(Tensor[] parts, Tensor temb, int sliceFrames) {
        Slices.checkInference("ResnetBlock3D.forwardSliced");
        if (config.timeEmbeddingNorm() != TimeEmbeddingNorm.DEFAULT)
            throw new UnsupportedOperationException("ResnetBlock3D.forwardSliced supports the default time embedding norm, not " + config.timeEmbeddingNorm());
        INDArray[] in = new INDArray[parts.length];
        long channels = 0;
        for (int i = 0; i < parts.length; i++) {
            in[i] = parts[i].data();
            long[] ps = in[i].shape(), p0 = in[0].shape();
            if (ps.length != 5 || ps[0] != p0[0] || ps[2] != p0[2] || ps[3] != p0[3] || ps[4] != p0[4])
                throw new IllegalArgumentException("ResnetBlock3D: parts must be (B, C_i, F, H, W) with equal B, F, H, W, got "
                        + Arrays.toString(p0) + " and " + Arrays.toString(ps));
            channels += ps[1];
        }
        long[] xs = in[0].shape().clone();
        xs[1] = channels;
        checkInputs(xs, temb);
        Tensor proj = null;
        if (temb != null) {
            Tensor act = Ops.silu(temb);
            proj = timeEmbProj.forward(act);                     // (b, c_out)
            act.release();
        }
        try {
            return Slices.resnet(in, Slices.FRAMES, Slices.sliceLength(xs, Slices.FRAMES, sliceFrames), norm1, conv1::forward,
                    proj == null ? null : proj.data(), norm2, conv2::forward, convShortcut == null ? null : convShortcut::forward,
                    config.outputScaleFactor());
        } finally {
            if (proj != null) proj.release();
        }
    }
}
