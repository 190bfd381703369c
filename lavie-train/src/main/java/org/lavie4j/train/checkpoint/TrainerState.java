package org.lavie4j.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The trainer's counters in a checkpoint ({@code trainer.json}). There is no generator state: the trainer's noise and
 * timesteps come from generators derived from {@code (seed, micro-batch index)} ({@link org.lavie4j.train.StepRandom}),
 * so {@code step} is all a resumed run needs; {@code rng} names that scheme so that a checkpoint written under another
 * one is refused rather than resumed inexactly.
 *
 * @param step          optimizer steps completed
 * @param dataPosition  samples the data source had handed out ({@link org.lavie4j.train.data.SampleSource#position()})
 * @param emaUpdates    updates of the weight average (0 without EMA)
 * @param skippedSteps  optimizer steps skipped because of a non-finite loss or gradient
 * @param seed          the run's seed
 * @param rng           the randomness scheme ({@link #RNG_SCHEME})
 * @param provenance    who wrote it, when, from what
 */
public record TrainerState(long step, long dataPosition, long emaUpdates, long skippedSteps, long seed, String rng, Provenance provenance) {
    /** The current randomness scheme: SplittableRandom(SplitMix64(seed, step × grad_accumulation + micro-batch)). */
    public static final String RNG_SCHEME = "splitmix64-counter-v1";

    public TrainerState {
        if (step < 0 || dataPosition < 0 || emaUpdates < 0 || skippedSteps < 0)
            throw new IllegalArgumentException("TrainerState: counters must be >= 0");
        if (rng == null || provenance == null) throw new IllegalArgumentException("TrainerState: rng and provenance are required");
    }

    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("step", step);
        n.put("data_position", dataPosition);
        n.put("ema_updates", emaUpdates);
        n.put("skipped_steps", skippedSteps);
        n.put("seed", seed);
        n.put("rng", rng);
        n.set("provenance", provenance.toJson());
        return n;
    }

    public static TrainerState fromJson(JsonNode n) {
        if (n == null || !n.isObject()) throw new IllegalArgumentException("trainer state must be an object");
        for (String k : new String[]{"step", "data_position", "ema_updates", "seed", "rng", "provenance"})
            if (!n.hasNonNull(k)) throw new IllegalArgumentException("trainer state: missing key '" + k + "'");
        return new TrainerState(n.get("step").asLong(), n.get("data_position").asLong(), n.get("ema_updates").asLong(),
                n.path("skipped_steps").asLong(0), n.get("seed").asLong(), n.get("rng").asText(), Provenance.fromJson(n.get("provenance")));
    }
}
