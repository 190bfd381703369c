package org.lavie4j.benchmarks;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Locale;

/**
 * An FMA loop that measures the FP32 peak: each thread runs 12 independent chains of fused multiply-adds on the
 * widest float vectors the Vector API offers (16 lanes with AVX-512), enough to cover the FMA latency on the x86 cores
 * of today, so the loop issues as many FMAs per cycle as the core can. GFLOPS = 2 · FMAs · lanes / s, the best of five
 * rounds, all threads at once. Needs {@code --add-modules jdk.incubator.vector} ({@link PeakFlops#measure} starts it
 * so); from the shell: {@code java --add-modules jdk.incubator.vector -cp benchmarks.jar org.lavie4j.benchmarks.FmaLoop
 * [threads]} prints {@code peak_gflops=<value>} as its last line.
 *
 * <p>A floor, not the exact peak: on the AVX-512 Zen 4 machines it matched a C loop (115 GFLOPS a core), but on an AVX2
 * Zen 3 it reaches ~80 GFLOPS a core where the same 12 chains in C ({@code gcc -O2 -mavx2 -mfma}) reach 95-100. Where a
 * C loop measures more, pass its figure with {@code -Dlavie.peakGflops}.
 */
public final class FmaLoop {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final long ITERATIONS = 40_000_000;
    private static final int ROUNDS = 5;

    private FmaLoop() {}

    /** Prints each round and {@code peak_gflops=<best>} last. Argument: threads (default: the available processors). */
    public static void main(String[] args) throws InterruptedException {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        // compile the method before timing it: many short calls get it compiled whole by C2; two long ones only got the
        // loop compiled on stack (OSR), which ran 10-25% slower on an AVX2 Zen 3 (65-77 against 80-82 GFLOPS a core)
        float warm = 0;
        for (int i = 0; i < 20_000; i++) warm += chains(100);
        if (!(warm > 0)) throw new IllegalStateException("warm-up sum " + warm);
        float one = 1f;                                                      // the loop computes what it claims
        for (int i = 0; i < 1000; i++) one = Math.fma(one, 0.999999f, 1e-7f);
        float want = 12 * SPECIES.length() * one, got = chains(1000);
        if (!(Math.abs(got - want) <= 1e-4f * want)) {
            System.out.printf(Locale.ROOT, "the FMA chains summed to %s, expected %s%n", got, want);
            System.exit(1);
        }
        double best = 0;
        for (int round = 0; round < ROUNDS; round++) {
            Thread[] workers = new Thread[threads];
            float[] sink = new float[threads];
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                int id = t;
                workers[t] = new Thread(() -> sink[id] = chains(ITERATIONS));
                workers[t].start();
            }
            for (Thread w : workers) w.join();
            double seconds = (System.nanoTime() - t0) / 1e9;
            double gflops = 2.0 * 12 * SPECIES.length() * ITERATIONS * threads / seconds / 1e9;
            best = Math.max(best, gflops);
            System.out.printf(Locale.ROOT, "round %d: %d threads x %d lanes: %.1f GFLOPS (%.3f s; chain sum %s)%n", round, threads,
                    SPECIES.length(), gflops, seconds, sink[0]);
        }
        System.out.printf(Locale.ROOT, "peak_gflops=%.1f%n", best);
    }

    /** 12 independent FMA chains of {@code iterations} steps; returns their sum (so nothing is optimised away). */
    static float chains(long iterations) {
        FloatVector a0 = FloatVector.broadcast(SPECIES, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
                a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        FloatVector m = FloatVector.broadcast(SPECIES, 0.999999f), c = FloatVector.broadcast(SPECIES, 1e-7f);
        for (long i = 0; i < iterations; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
            a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }
}
