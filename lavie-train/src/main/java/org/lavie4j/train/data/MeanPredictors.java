package org.lavie4j.train.data;

import org.lavie4j.core.media.Video;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What the caption can tell a denoiser at the highest noise, where its input is all but pure noise and the best
 * prediction of the clean clip is the mean of the clips that fit what it knows: the mean squared error (pixels in
 * [-1, 1], every frame) of three such predictors over a synthetic data set, each the data set's own mean video of the
 * clips that share
 * <ul>
 *   <li>nothing (the unconditional mean: what a model that ignores the caption can reach),</li>
 *   <li>the colour and shape (a model that reads those words but draws every frame alike), and</li>
 *   <li>the colour, shape and direction (a model that also places the shape frame by frame as the direction says).</li>
 * </ul>
 * The gap between the last two is what reading the direction word is worth at t -> T (training/README.md). Pixel space,
 * not the VAE's latents: a proxy for the ratio, not the UNet's loss.
 */
public final class MeanPredictors {
    private MeanPredictors() {}

    /** The three errors over the clips of {@code o} (means and errors over the same clips). */
    public record Errors(int clips, double unconditional, double colourShape, double colourShapeDirection) {
        /** How much lower the error is when the direction is known too, relative to colour and shape alone. */
        public double directionGain() { return (colourShape - colourShapeDirection) / colourShape; }

        /** How much lower the error is when colour and shape are known, relative to knowing nothing. */
        public double colourShapeGain() { return (unconditional - colourShape) / unconditional; }
    }

    public static Errors of(SyntheticShapes.Options o) {
        int n = (int) Math.min(Integer.MAX_VALUE, o.count()), size = o.frames() * o.height() * o.width() * 3;
        float[][] clips = new float[n][];
        String[] what = new String[n], which = new String[n];
        double[] all = new double[size];
        Map<String, double[]> byWhat = new HashMap<>(), byWhich = new HashMap<>();
        Map<String, Integer> nWhat = new HashMap<>(), nWhich = new HashMap<>();
        for (int k = 0; k < n; k++) {
            ShapeCaption c = SyntheticShapes.combination(o, k);
            clips[k] = pixels(SyntheticShapes.clip(o, k), size);
            what[k] = c.colour() + " " + c.shape();
            which[k] = what[k] + " " + c.direction();
            double[] a = byWhat.computeIfAbsent(what[k], x -> new double[size]), b = byWhich.computeIfAbsent(which[k], x -> new double[size]);
            for (int i = 0; i < size; i++) {
                all[i] += clips[k][i];
                a[i] += clips[k][i];
                b[i] += clips[k][i];
            }
            nWhat.merge(what[k], 1, Integer::sum);
            nWhich.merge(which[k], 1, Integer::sum);
        }
        double e0 = 0, e1 = 0, e2 = 0;
        for (int k = 0; k < n; k++) {
            double[] a = byWhat.get(what[k]), b = byWhich.get(which[k]);
            double na = nWhat.get(what[k]), nb = nWhich.get(which[k]);
            for (int i = 0; i < size; i++) {
                double x = clips[k][i], d0 = x - all[i] / n, d1 = x - a[i] / na, d2 = x - b[i] / nb;
                e0 += d0 * d0;
                e1 += d1 * d1;
                e2 += d2 * d2;
            }
        }
        double count = (double) n * size;
        return new Errors(n, e0 / count, e1 / count, e2 / count);
    }

    private static float[] pixels(Video v, int size) {
        float[] out = new float[size];
        int frame = v.height() * v.width() * 3;
        for (int f = 0; f < v.frames(); f++) {
            byte[] rgb = v.rgb(f);
            for (int i = 0; i < frame; i++) out[f * frame + i] = (rgb[i] & 255) / 127.5f - 1;
        }
        return out;
    }

    /**
     * {@code MeanPredictors COUNT SIZE FRAMES SEED TRAVEL_MIN TRAVEL_MAX}: the three errors of that data set (the
     * embedded model's data: 2048 32 8 1 0.55 0.85; no held-out combinations: they change the means little).
     */
    public static void main(String[] args) {
        if (args.length != 6) {
            System.err.println("usage: MeanPredictors COUNT SIZE FRAMES SEED TRAVEL_MIN TRAVEL_MAX");
            System.exit(2);
        }
        int size = Integer.parseInt(args[1]);
        SyntheticShapes.Options o = SyntheticShapes.Options.of(Integer.parseInt(args[0]), size, Integer.parseInt(args[2]))
                .withSeed(Long.parseLong(args[3])).withTravel(Double.parseDouble(args[4]), Double.parseDouble(args[5]));
        Errors e = of(o);
        System.out.printf(Locale.ROOT, "%d clips, travel %s..%s: MSE of the mean video of the clips sharing nothing %.5f, colour+shape %.5f"
                        + " (%.1f%% lower), colour+shape+direction %.5f (%.1f%% lower again)%n", e.clips(), args[4], args[5], e.unconditional(),
                e.colourShape(), 100 * e.colourShapeGain(), e.colourShapeDirection(), 100 * e.directionGain());
    }
}
