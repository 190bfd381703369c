package org.lavie4j.examples.cli;

import org.lavie4j.core.io.DType;
import org.lavie4j.core.media.VideoIO;
import org.lavie4j.nn.pipeline.GenerateOptions;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.train.CaptionProbe;
import org.lavie4j.train.PromptFollowing;
import org.lavie4j.train.data.ShapeCaption;
import org.lavie4j.train.data.SyntheticShapes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lavie eval-shapes}: measures a model's prompt following on the synthetic domain ({@link PromptFollowing}):
 * generates each prompt (by default the held-out combinations of a {@code synthetic-data} folder's {@code heldout.txt})
 * with seeds 0..N-1, reads each video's colour, direction and shape back by pixel statistics, and prints a line per
 * video and the accuracies.
 */
@Command(name = "eval-shapes",
        mixinStandardHelpOptions = true,
        description = {"Measure prompt following on synthetic-shapes prompts: generate each prompt with seeds 0..N-1, detect the "
                + "moving blob's colour and direction by pixel statistics, print the accuracy (colour and direction both right)."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:measured", "1:generation failed", "2:bad input"})
public final class EvalShapesCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "Model folder (default: the embedded model).")
    Path model;

    @Option(names = "--heldout", paramLabel = "FILE", description = "Prompts, one a line (a synthetic-data folder's heldout.txt).")
    Path heldout;

    @Option(names = "--prompts", paramLabel = "LIST", description = "Or combinations, comma-separated (\"red circle left, blue square up\").")
    String prompts;

    @Option(names = "--seeds", paramLabel = "N", description = "Seeds 0..N-1 per prompt (default: ${DEFAULT-VALUE}).")
    int seeds = 4;

    @Option(names = "--steps", paramLabel = "N", description = "Denoising steps (default: the model's).")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "S", description = "Guidance scale (default: the model's).")
    Double guidance;

    @Option(names = "--save", paramLabel = "DIR", description = "Also write each video as DIR/<prompt>_seed<N>.gif.")
    Path save;

    @Option(names = "--vae-only", description = "Instead of generating, pass each prompt's synthetic clip (seeded) through the model's VAE "
            + "and score the reconstruction: the ceiling a generated video can reach.")
    boolean vaeOnly;

    @Option(names = "--probe", description = "Instead of generating, probe whether the UNet uses the prompt: for each prompt's synthetic "
            + "clip (seed 0), the error of the clean latents it predicts at t = 300, 600, 800, 950 with the right, the empty and "
            + "the next prompt's caption (CaptionProbe; at least two prompts).")
    boolean probe;

    @Option(names = "--travel", paramLabel = "MIN[,MAX]",
            description = "With --probe: how far the probe clips' shapes move, as synthetic-data --travel (the model's training data; default: 0.55,0.85).")
    String travel;

    @Option(names = "--publish", paramLabel = "DIR",
            description = "Then write the model to DIR (F16, marked trained) with the measured accuracy in its description (lavie4j.json).")
    Path publish;

    @Option(names = "--name", paramLabel = "NAME", description = "Name of the --publish model (default: ${DEFAULT-VALUE}).")
    String name = "lavie-tiny-shapes";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<ShapeCaption> list = new ArrayList<>();
        try {
            if ((heldout == null) == (prompts == null)) throw new IllegalArgumentException("give exactly one of --heldout FILE and --prompts LIST");
            if (seeds < 1) throw new IllegalArgumentException("--seeds must be >= 1, got " + seeds);
            if (heldout != null) {
                for (String line : Files.readAllLines(heldout, StandardCharsets.UTF_8))
                    if (!line.isBlank()) list.add(ShapeCaption.parse(line.trim()));
            } else {
                list.addAll(ShapeCaption.parseList(prompts));
            }
            if (list.isEmpty()) throw new IllegalArgumentException("no prompts");
            if (publish != null && (vaeOnly || probe))
                throw new IllegalArgumentException("--publish measures generated videos: not with --vae-only or --probe");
            if (vaeOnly && probe) throw new IllegalArgumentException("give at most one of --vae-only and --probe");
            if (probe && list.size() < 2) throw new IllegalArgumentException("--probe needs at least two prompts (the wrong caption of each is the next one's)");
            if (travel != null && !probe) throw new IllegalArgumentException("--travel is read with --probe only");
            if (publish != null && Files.exists(publish)) throw new IllegalArgumentException("--publish " + publish + ": already exists; choose a new folder");
        } catch (IOException | IllegalArgumentException e) {
            err.println("eval-shapes: " + e.getMessage());
            return 2;
        }
        try {
            TextToVideoModel m = model == null ? EmbeddedModel.load() : TextToVideoModel.load(model);
            ModelInfo info = m.info();
            if (probe) {
                stdout.printf(Locale.ROOT, "%s (%s): x0 error of the UNet's prediction, mean over %d synthetic clips%n", info.name(),
                        m.schedulerConfig().predictionType().json(), list.size());
                stdout.printf(Locale.ROOT, "  %5s  %12s  %12s  %12s  %12s  %14s  %s%n", "t", "right", "empty", "wrong", "opposite dir",
                        "wrong vs right", "opposite vs right");
                double[] t = travel == null ? new double[]{SyntheticShapes.Options.TRAVEL_MIN, SyntheticShapes.Options.TRAVEL_MAX}
                        : SyntheticDataCommand.travelRange(travel);
                for (CaptionProbe.Row r : CaptionProbe.probe(m, list, new int[]{300, 600, 800, 950}, 0, t[0], t[1]))
                    stdout.printf(Locale.ROOT, "  %5d  %12.4f  %12.4f  %12.4f  %12.4f  %+13.1f%%  %+.1f%%%n", r.timestep(), r.right(), r.empty(),
                            r.wrong(), r.opposite(), 100 * r.wrongPenalty(), 100 * r.oppositePenalty());
                return 0;
            }
            GenerateOptions base = GenerateOptions.builder().prompt("-").frames(info.frames()).size(info.height(), info.width())
                    .steps(steps != null ? steps : info.steps()).guidanceScale(guidance != null ? guidance : info.guidanceScale()).build();
            stdout.printf(Locale.ROOT, "%s: %d prompts x %d seeds, %d frames %dx%d, %d steps, guidance %s%n", info.name(), list.size(), seeds,
                    base.frames(), base.height(), base.width(), base.steps(), base.guidanceScale());
            List<Long> seedList = new ArrayList<>();
            for (long s = 0; s < seeds; s++) seedList.add(s);
            if (save != null) Files.createDirectories(save);
            long t0 = System.nanoTime();
            java.util.function.BiConsumer<PromptFollowing.Sample, org.lavie4j.core.media.Video> each = (s, v) -> {
                stdout.printf(Locale.ROOT, "  %-32s seed %d -> %-32s %s%n", s.prompt().caption(), s.seed(), s.seen().caption(),
                        s.ok() ? "ok" : (s.colourOk() ? "colour ok" : s.directionOk() ? "direction ok" : "wrong"));
                stdout.flush();
                if (save != null) {
                    try {
                        VideoIO.write(v, save.resolve(s.prompt().caption().replace(' ', '_') + "_seed" + s.seed() + ".gif"));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            };
            if (vaeOnly) stdout.println("VAE round trip of the synthetic clips (no generation):");
            PromptFollowing.Report r = vaeOnly ? PromptFollowing.reconstruct(m, list, seedList, base.frames(), base.height(), base.width(), each)
                    : PromptFollowing.evaluate(m, list, seedList, base, each);
            int n = r.samples().size();
            stdout.printf(Locale.ROOT, "accuracy (colour and direction): %.1f%% of %d videos; colour %.1f%%, direction %.1f%%, shape %.1f%% (%.0f s)%n",
                    100 * r.accuracy(), n, 100 * r.colourAccuracy(), 100 * r.directionAccuracy(), 100 * r.shapeAccuracy(),
                    (System.nanoTime() - t0) / 1e9);
            if (publish != null) {
                String measured = String.format(Locale.ROOT, "prompt following on %d prompts%s x %d seeds (eval-shapes, %d steps, guidance %s): "
                        + "colour and direction right in %.1f%% (colour %.1f%%, direction %.1f%%, shape %.1f%%)", list.size(),
                        heldout != null ? " held out from training" : "", seeds, base.steps(), base.guidanceScale(), 100 * r.accuracy(),
                        100 * r.colourAccuracy(), 100 * r.directionAccuracy(), 100 * r.shapeAccuracy());
                ModelInfo published = info.describedAs(name, info.description() + "; " + measured, true);
                new TextToVideoModel(m.tokenizer(), m.textEncoder(), m.unet(), m.vae(), m.schedulerConfig(), published)
                        .save(publish, DType.F16);
                stdout.printf(Locale.ROOT, "wrote %s (F16): %s%n", publish.toAbsolutePath(), published.description());
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("eval-shapes: " + e.getMessage());
            return 1;
        }
    }
}
