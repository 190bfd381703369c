package org.lavie4j.core.golden;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Runs golden cases with the {@link CaseRunner} registered for their kind and compares every output with the
 * case's tolerance. A kind of the golden format without a runner gives NOT_IMPLEMENTED (never PASS); a kind that is
 * neither in the format nor registered is an {@link UnknownKindException}.
 */
public final class GoldenRunner {
    private static final Logger LOG = LoggerFactory.getLogger(GoldenRunner.class);

    /** The case kinds defined by the golden format (golden/README.md, "Kinds"). */
    public static final Set<String> KNOWN_KINDS = Collections.unmodifiableSet(new TreeSet<>(List.of(
            "tokenizer", "layer_inflated_conv", "layer_resnet3d", "layer_downsample3d", "layer_upsample3d",
            "layer_transformer3d", "layer_temporal_attention", "layer_cross_attention", "clip_text", "vae",
            "unet_base", "unet_interp", "unet_vsr", "schedulers", "sched_interp_ddim", "pipeline_base", "train_step",
            "pipeline_interp", "pipeline_vsr")));

    private final Map<String, CaseRunner> runners;

    /** A runner over an explicit registry (kind -> runner). */
    public GoldenRunner(Map<String, CaseRunner> runners) {
        Map<String, CaseRunner> copy = new TreeMap<>();
        for (Map.Entry<String, CaseRunner> e : runners.entrySet()) {
            if (!e.getKey().equals(e.getValue().kind())) {
                throw new IllegalArgumentException("runner " + e.getValue().getClass().getName() + " implements kind '"
                        + e.getValue().kind() + "' but is registered as '" + e.getKey() + "'");
            }
            copy.put(e.getKey(), e.getValue());
        }
        this.runners = Collections.unmodifiableMap(copy);
    }

    /** A runner over every {@link CaseRunner} on the class path ({@link ServiceLoader}). */
    public static GoldenRunner discover() {
        return new GoldenRunner(discoverRunners(Thread.currentThread().getContextClassLoader()));
    }

    /** Every {@link CaseRunner} registered in {@code META-INF/services}; two runners for one kind is an error. */
    public static Map<String, CaseRunner> discoverRunners(ClassLoader loader) {
        Map<String, CaseRunner> found = new TreeMap<>();
        for (CaseRunner r : ServiceLoader.load(CaseRunner.class, loader)) {
            CaseRunner previous = found.putIfAbsent(r.kind(), r);
            if (previous != null && previous.getClass() != r.getClass()) {
                throw new IllegalStateException("two golden runners for kind '" + r.kind() + "': "
                        + previous.getClass().getName() + " and " + r.getClass().getName());
            }
        }
        LOG.debug("golden runners: {}", found.keySet());
        return found;
    }

    /** Kinds with a runner. */
    public Set<String> implementedKinds() { return runners.keySet(); }

    /** Kinds this runner accepts: the format's kinds plus any registered ones. */
    public Set<String> knownKinds() {
        Set<String> all = new TreeSet<>(KNOWN_KINDS);
        all.addAll(runners.keySet());
        return Collections.unmodifiableSet(all);
    }

    /** Throws when {@code c}'s kind is neither in the format nor registered. */
    public void checkKind(GoldenCase c) throws UnknownKindException {
        if (!runners.containsKey(c.kind()) && !KNOWN_KINDS.contains(c.kind())) {
            throw new UnknownKindException(c.name(), c.kind(), String.join(", ", knownKinds()));
        }
    }

    /** Opens, runs and closes the case in {@code dir}. */
    public CaseResult run(Path dir) throws MalformedCaseException, UnknownKindException {
        try (GoldenCase c = GoldenCase.open(dir)) {
            return run(c);
        }
    }

    /** Runs one case and compares each declared output. */
    public CaseResult run(GoldenCase c) throws UnknownKindException {
        checkKind(c);
        long t0 = System.nanoTime();
        CaseRunner runner = runners.get(c.kind());
        List<Comparison> results = new ArrayList<>();
        if (runner == null) {
            String why = "no runner for kind '" + c.kind() + "' yet";
            for (String name : c.outputs().keySet()) {
                results.add(Comparison.notImplemented(name, c.ruleFor(name).describe(), why));
            }
            return new CaseResult(c.name(), c.kind(), Comparison.Status.NOT_IMPLEMENTED, results, why, since(t0));
        }
        Map<String, INDArray> actual;
        try {
            actual = runner.run(c);
            if (actual == null) throw new IllegalStateException("runner returned null");
        } catch (Exception | LinkageError | AssertionError e) {
            LOG.warn("golden case {} ({}): runner {} failed", c.name(), c.kind(), runner.getClass().getName(), e);
            String why = "runner threw " + e;
            for (String name : c.outputs().keySet()) results.add(Comparison.failed(name, c.ruleFor(name).describe(), why));
            return new CaseResult(c.name(), c.kind(), Comparison.Status.FAIL, results, why, since(t0));
        }
        boolean allPass = true;
        for (String name : c.outputs().keySet()) {
            Tolerance.Applied rule = c.ruleFor(name);
            INDArray a = actual.get("out." + name);
            Comparison cmp;
            if (a == null) {
                cmp = Comparison.failed(name, rule.describe(), "runner produced no 'out." + name + "'"
                        + (actual.containsKey(name) ? " (it returned '" + name + "': keys must start with 'out.')" : ""));
            } else {
                cmp = Comparison.compare(name, a, c.expected(name), rule); // small arrays: left to the GC
            }
            allPass &= cmp.passed();
            results.add(cmp);
        }
        return new CaseResult(c.name(), c.kind(), allPass ? Comparison.Status.PASS : Comparison.Status.FAIL, results,
                null, since(t0));
    }

    private static Duration since(long t0) { return Duration.ofNanos(System.nanoTime() - t0); }
}
