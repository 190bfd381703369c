package org.lavie4j.train;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Which training timesteps are drawn more often ({@code timestep_bias}; diffusers' {@code train_text_to_image_sdxl.py
 * --timestep_bias_strategy / _multiplier / _portion / _begin / _end}): every timestep has weight 1, the biased ones
 * {@code multiplier}, and a sample's timestep is drawn with probability proportional to its weight. The biased ones
 * are the last {@code portion} of the timesteps ({@code later}: the noisiest, where a sampler settles colours, layout
 * and motion), the first ({@code earlier}: fine detail), or {@code [begin, end)} ({@code range}). {@code none} (the
 * default, LaVie's) draws uniformly, exactly as a run without the setting.
 *
 * @param strategy   none | earlier | later | range
 * @param multiplier weight of the biased timesteps (> 0; below 1 draws them less often)
 * @param portion    fraction of the timesteps biased by {@code earlier} / {@code later}, in (0, 1]
 * @param begin      first biased timestep of {@code range}
 * @param end        end (exclusive) of {@code range}; at most the schedule's timestep count (checked by {@link #weights})
 */
public record TimestepBias(Strategy strategy, double multiplier, double portion, int begin, int end) {
    /** Which timesteps are biased. */
    public enum Strategy {
        NONE, EARLIER, LATER, RANGE;

        public String key() { return name().toLowerCase(Locale.ROOT); }
    }

    public TimestepBias {
        if (strategy == null) throw ConfigNode.error("timestep_bias.strategy", "is required (none, earlier, later or range)");
        if (!(multiplier > 0) || Double.isInfinite(multiplier))
            throw ConfigNode.error("timestep_bias.multiplier", "must be a number > 0, got " + multiplier);
        if (!(portion > 0 && portion <= 1)) throw ConfigNode.error("timestep_bias.portion", "must be in (0, 1], got " + portion);
        if (begin < 0) throw ConfigNode.error("timestep_bias.begin", "must be >= 0, got " + begin);
        if (end <= begin) throw ConfigNode.error("timestep_bias.end", "must be above begin (" + begin + "), got " + end);
    }

    /** Uniform draws (diffusers' defaults for the other settings: multiplier 1, portion 0.25, range [0, 1000)). */
    public static TimestepBias none() { return new TimestepBias(Strategy.NONE, 1.0, 0.25, 0, 1000); }

    /** Whether the draws are uniform (strategy none, or a multiplier of 1). */
    public boolean uniform() { return strategy == Strategy.NONE || multiplier == 1.0; }

    /**
     * The draw probability of each of {@code numTimesteps} timesteps (summing to 1), as diffusers'
     * {@code generate_timestep_weights}.
     *
     * @throws IllegalArgumentException a {@code range} that ends past the schedule, or a portion that biases no timestep
     */
    public double[] weights(int numTimesteps) {
        double[] w = new double[numTimesteps];
        Arrays.fill(w, 1.0);
        int from, to;
        int count = (int) (portion * numTimesteps);
        switch (strategy) {
            case NONE -> { from = 0; to = 0; }
            case EARLIER -> { from = 0; to = count; }
            case LATER -> { from = numTimesteps - count; to = numTimesteps; }
            default -> {
                if (end > numTimesteps)
                    throw ConfigNode.error("timestep_bias.end", "must be at most the schedule's " + numTimesteps + " timesteps, got " + end);
                from = begin;
                to = end;
            }
        }
        if (strategy != Strategy.NONE && to <= from)
            throw ConfigNode.error("timestep_bias.portion", portion + " of " + numTimesteps + " timesteps biases none of them");
        for (int t = from; t < to; t++) w[t] *= multiplier;
        double sum = 0;
        for (double v : w) sum += v;
        for (int t = 0; t < numTimesteps; t++) w[t] /= sum;
        return w;
    }

    /**
     * {@code count} timesteps in [0, numTimesteps) as INT64, drawn from {@code g}: uniform ones exactly as
     * {@link StepRandom#randint} (one {@code nextInt} each, so runs without a bias are unchanged), biased ones by
     * inverting the cumulative weights with one {@code nextDouble} each.
     */
    public INDArray draw(SplittableRandom g, int numTimesteps, int count) {
        if (uniform()) return StepRandom.randint(g, numTimesteps, count);
        double[] w = weights(numTimesteps);
        double[] cdf = new double[numTimesteps];
        double acc = 0;
        for (int t = 0; t < numTimesteps; t++) cdf[t] = acc += w[t];
        long[] out = new long[count];
        for (int i = 0; i < count; i++) {
            double u = g.nextDouble() * acc;
            int k = Arrays.binarySearch(cdf, u);
            k = k >= 0 ? k + 1 : -k - 1;                        // the first t with cdf[t] > u
            out[i] = Math.min(k, numTimesteps - 1);
        }
        return Nd4j.createFromArray(out);
    }
}
