package org.lavie4j.nn.pipeline;

import org.lavie4j.core.media.Video;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.time.Duration;
import java.util.List;

/**
 * What {@link CascadePipeline} returns: the last stage's video and the 8-bit frames of every stage that ran.
 *
 * @param video  the last stage's decoded video (1, 3, T, H, W) float32 in [−1, 1], as that stage returns it (base and
 *               interpolation: not clamped; VSR: clamped)
 * @param stages every stage that ran, in order (at least one)
 */
public record CascadeResult(INDArray video, List<StageOutput> stages) {

    /**
     * One stage's output as the original writes it to its mp4: 8-bit frames rounded as that stage's script rounds
     * (base and interpolation half up, VSR truncating; {@link Video.Rounding}) at the stage's frame rate.
     *
     * @param stage   the stage
     * @param video   its frames and frame rate (8 fps base, 24 interpolation, VSR its input's)
     * @param elapsed the stage's wall time, including the conversion of its output
     */
    public record StageOutput(CascadeStage stage, Video video, Duration elapsed) {
        public StageOutput {
            if (stage == null || video == null || elapsed == null) throw new IllegalArgumentException("StageOutput: every part is required");
        }
    }

    public CascadeResult {
        if (video == null) throw new IllegalArgumentException("CascadeResult: video must not be null");
        if (stages == null || stages.isEmpty()) throw new IllegalArgumentException("CascadeResult: at least one stage must have run");
        stages = List.copyOf(stages);
    }

    /** The stage that made {@link #video()}. */
    public CascadeStage lastStage() { return stages.get(stages.size() - 1).stage(); }

    /** The final 8-bit frames at the final frame rate (the last stage's {@link StageOutput#video()}). */
    public Video frames() { return stages.get(stages.size() - 1).video(); }

    /** The final frame rate: 8 after the base stage, 24 after interpolation; VSR keeps its input's. */
    public double fps() { return frames().fps(); }

    /** The output of {@code stage}. @throws IllegalArgumentException when that stage did not run */
    public StageOutput output(CascadeStage stage) {
        for (StageOutput s : stages) if (s.stage() == stage) return s;
        throw new IllegalArgumentException("CascadeResult: the " + stage.id() + " stage did not run (ran: "
                + stages.stream().map(s -> s.stage().id()).toList() + ")");
    }
}
