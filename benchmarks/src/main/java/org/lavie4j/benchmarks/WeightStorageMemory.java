package org.lavie4j.benchmarks;

import org.bytedeco.javacpp.Pointer;
import org.lavie4j.core.Init;
import org.lavie4j.core.Grad;
import org.lavie4j.core.HalfFloats;
import org.lavie4j.core.Memory;
import org.lavie4j.core.Lavie4j;
import org.lavie4j.core.Tape;
import org.lavie4j.core.Tensor;
import org.lavie4j.nn.unet.UNet3DConditionModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Locale;

/**
 * Resident memory of the full-size LaVie base UNet ({@link UNetConfig#lavieBase()}, random weights) with its weights
 * stored as fp32, fp16 or bf16 ({@code Module.storeWeightsAs}; ops compute in fp32), and of a few forwards at a small
 * latent, to show that the per-op fp32 copies of half-stored weights do not accumulate.
 * <pre>java -Xmx4g -cp benchmarks/target/benchmarks.jar org.lavie4j.benchmarks.WeightStorageMemory bf16 [frames h w forwards]</pre>
 * Run each dtype in its own JVM (peak RSS is per process). {@code compare} instead runs one forward with fp32, fp16
 * and bf16 storage of the same weights in one JVM and prints the max |Δ| against fp32 (ND4J's seeded random weights
 * are not the same from one JVM to the next, so outputs of separate runs cannot be compared).
 *
 * <p>Measured (2 shared cores, MALLOC_MMAP_THRESHOLD_=4 MiB as the launcher sets, -Xmx4g, 1x4x2x16x16 latent, 3
 * forwards): fp32 weights: RSS 3.75 GB with the weights, 4.02-4.03 GB after each forward, peak 4.14 GB; bf16: 2.06 GB
 * stored, 2.18-2.20 GB after each forward, peak 2.44 GB (fp16 the same within 0.1 GB); no growth from one forward to
 * the next. {@code compare}: max|y - y_fp32| / max|y_fp32| = 8.7e-4 (fp16), 6.4e-3 (bf16).
 */
public final class WeightStorageMemory {
    private WeightStorageMemory() {}

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("compare")) {
            compare(args);
            return;
        }
        DataType type = switch (args.length > 0 ? args[0] : "fp32") {
            case "fp32" -> DataType.FLOAT;
            case "fp16" -> DataType.HALF;
            case "bf16" -> DataType.BFLOAT16;
            default -> throw new IllegalArgumentException("dtype must be fp32, fp16 or bf16, got " + args[0]);
        };
        int frames = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int h = args.length > 2 ? Integer.parseInt(args[2]) : 16, w = args.length > 3 ? Integer.parseInt(args[3]) : 16;
        int forwards = args.length > 4 ? Integer.parseInt(args[4]) : 3;
        Lavie4j.setup();
        report("start");
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        long t0 = System.nanoTime();
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.lavieBase());
        unet.eval();
        unet.setTrainable(false);
        report(String.format(Locale.ROOT, "built (fp32, %.1f s)", (System.nanoTime() - t0) / 1e9));
        t0 = System.nanoTime();
        unet.storeWeightsAs(type);
        gc();
        report(String.format(Locale.ROOT, "stored as %s (%.1f s), %d params, weights %.3f GB", args.length > 0 ? args[0] : "fp32",
                (System.nanoTime() - t0) / 1e9, unet.parameterCount(), unet.parameterBytes() / 1e9));
        if (type != DataType.FLOAT) {                           // the per-forward cost of the FLOAT copies alone
            java.util.List<org.lavie4j.core.Parameter> params = unet.parameters();
            for (int r = 0; r < 2; r++) {
                long c0 = System.nanoTime();
                for (org.lavie4j.core.Parameter p : params) p.tensor().release();          // HalfFloats.toFloat
                long c1 = System.nanoTime();
                for (org.lavie4j.core.Parameter p : params) Memory.free(HalfFloats.toFloatNaive(p.data()));
                System.out.printf(Locale.ROOT, "widening all weights to FLOAT: table %.2f s, ND4J castTo %.2f s%n",
                        (c1 - c0) / 1e9, (System.nanoTime() - c1) / 1e9);
            }
            report("after widening");
            gc();
            report("after widening + gc");
        }
        ProcessMemory.resetPeak();
        INDArray sample = Nd4j.randn(DataType.FLOAT, 1, 4, frames, h, w);
        INDArray timestep = Nd4j.createFromArray(500L);
        INDArray context = Nd4j.randn(DataType.FLOAT, 1, 77, 768);
        INDArray first = null;
        for (int i = 0; i < forwards; i++) {
            t0 = System.nanoTime();
            try (Tape off = Grad.disabled()) {
                Tensor y = unet.forward(Tensor.of(sample), Tensor.of(timestep), Tensor.of(context));
                if (first == null) first = y.data().dup();
                y.release();
            }
            report(String.format(Locale.ROOT, "forward %d at 1x4x%dx%dx%d: %.2f s", i + 1, frames, h, w, (System.nanoTime() - t0) / 1e9));
        }
        gc();
        report("after forwards + gc");
        System.out.printf(Locale.ROOT, "output max|y| %.4f (checksum %.6f)%n", first.amaxNumber().doubleValue(), first.sumNumber().doubleValue());
    }

    private static void compare(String[] args) {
        int frames = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int h = args.length > 2 ? Integer.parseInt(args[2]) : 16, w = args.length > 3 ? Integer.parseInt(args[3]) : 16;
        Lavie4j.setup();
        Nd4j.getRandom().setSeed(0);
        Init.seed(0);
        UNet3DConditionModel unet = new UNet3DConditionModel(UNetConfig.lavieBase());
        unet.eval();
        unet.setTrainable(false);
        INDArray sample = Nd4j.randn(DataType.FLOAT, 1, 4, frames, h, w);
        INDArray timestep = Nd4j.createFromArray(500L);
        INDArray context = Nd4j.randn(DataType.FLOAT, 1, 77, 768);
        java.util.Map<String, INDArray> fp32 = new java.util.LinkedHashMap<>();
        unet.namedParameters().forEach((k, p) -> fp32.put(k, p.data().dup()));
        INDArray ref = null;
        for (DataType t : new DataType[]{DataType.FLOAT, DataType.HALF, DataType.BFLOAT16}) {
            unet.storeWeightsAs(DataType.FLOAT);
            unet.namedParameters().forEach((k, p) -> p.set(fp32.get(k)));
            unet.storeWeightsAs(t);
            long t0 = System.nanoTime();
            INDArray y;
            try (Tape off = Grad.disabled()) {
                y = unet.forward(Tensor.of(sample), Tensor.of(timestep), Tensor.of(context)).data();
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            if (ref == null) ref = y;
            double scale = ref.amaxNumber().doubleValue(), d = y.sub(ref).amaxNumber().doubleValue();
            System.out.printf(Locale.ROOT, "%-8s forward %.2f s at 1x4x%dx%dx%d: max|y| %.4f, max|y - y_fp32| %.3e (rel to max|y_fp32| %.3e)%n",
                    t, secs, frames, h, w, y.amaxNumber().doubleValue(), d, d / scale);
        }
    }

    private static void gc() {
        System.gc();
        try {
            Thread.sleep(500);                                  // ND4J's deallocator thread frees collected buffers
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void report(String what) {
        System.out.printf(Locale.ROOT, "%-55s rss %.2f GB, peak rss %.2f GB, javacpp physical %.2f GB%n", what,
                ProcessMemory.rssBytes() / 1e9, ProcessMemory.peakRssBytes() / 1e9, Pointer.physicalBytes() / 1e9);
    }
}
