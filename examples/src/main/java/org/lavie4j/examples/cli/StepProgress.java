package org.lavie4j.examples.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.lavie4j.nn.pipeline.ProgressListener;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Locale;

/**
 * Shows denoising progress: on a terminal a progress bar (step count, it/s, elapsed and ETA; me.tongfei.progressbar on
 * stderr), otherwise, e.g. when output is redirected to a log, a plain line about every tenth step with the same figures.
 */
final class StepProgress implements ProgressListener, AutoCloseable {
    private final String task;
    private final PrintWriter log;
    private final boolean terminal;
    private ProgressBar bar;
    private int lastLogged;

    /**
     * @param task     label shown before the bar
     * @param log      where the plain lines go when there is no terminal
     * @param terminal true to draw a bar on the console
     */
    StepProgress(String task, PrintWriter log, boolean terminal) {
        this.task = task;
        this.log = log;
        this.terminal = terminal;
    }

    /** A bar when this JVM has a console, plain lines otherwise. */
    static StepProgress auto(String task, PrintWriter log) {
        return new StepProgress(task, log, System.console() != null);
    }

    @Override
    public boolean onStep(int step, int total, double timestep, Duration elapsed) {
        if (terminal) {
            if (bar == null) {
                bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                        .setUnit(" it", 1).showSpeed().setSpeedUnit(ChronoUnit.SECONDS).setUpdateIntervalMillis(250)
                        .continuousUpdate().build();
            }
            bar.stepTo(step);
            return true;
        }
        int every = Math.max(1, total / 10);
        if (step == total || step - lastLogged >= every) {
            lastLogged = step;
            double s = elapsed.toNanos() / 1e9;
            double rate = step / Math.max(s, 1e-9);
            double eta = (total - step) / Math.max(rate, 1e-9);
            log.printf(Locale.ROOT, "%s %d/%d  %.2f it/s  elapsed %s  eta %s%n", task, step, total, rate, clock(s), clock(eta));
            log.flush();
        }
        return true;
    }

    static String clock(double seconds) {
        long t = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
