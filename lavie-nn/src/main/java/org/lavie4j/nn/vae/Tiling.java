package org.lavie4j.nn.vae;

import org.lavie4j.core.Memory;
import org.lavie4j.core.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Tiled VAE encode/decode with linear blending of overlaps, as diffusers 0.16 {@code AutoencoderKL.tiled_decode} /
 * {@code tiled_encode}: tiles of {@code latentTile} latent pixels ({@code latentTile·f} image pixels) start every
 * {@code ⌊tile·(1 − overlap)⌋} input pixels; each output tile is blended with its (already blended) upper and left
 * neighbours over {@code ⌊outTile·overlap⌋} rows/columns, {@code b[y] = a[y']·(1 − y/E) + b[y]·(y/E)}, then cropped to
 * its first {@code outTile − E} rows and columns and placed.
 *
 * <p>Deliberate deviation: the reference reads the upper/left neighbour at {@code a[−E + y]}, which is the row
 * overlapping {@code b[y]} only when the neighbour is a full tile; here the neighbour is read at the overlapping row
 * ({@code a[outTile − E + y]} with y limited to the rows that exist). The results are identical except where two
 * tiles both reach the bottom/right border (image size not on the tile grid), where the reference blends misaligned
 * rows. Tiles are computed and blended row by row, so only two rows of tile outputs are alive at once (the reference
 * keeps all of them).
 *
 * <p>GroupNorm statistics and the mid-block attention see one tile instead of the whole image, so a tiled result is
 * close to, not equal to, the untiled one (diffusers documents the same).
 *
 * @param latentTile    tile edge in latent pixels (diffusers {@code tile_latent_min_size} = sample_size / f)
 * @param overlapFactor fraction of a tile shared with its neighbour (diffusers {@code tile_overlap_factor}, 0.25)
 */
public record Tiling(int latentTile, double overlapFactor) {
    public Tiling {
        if (latentTile < 1) throw new IllegalArgumentException("Tiling: latentTile must be >= 1, got " + latentTile);
        if (!(overlapFactor >= 0 && overlapFactor < 1))
            throw new IllegalArgumentException("Tiling: overlapFactor must be in [0, 1), got " + overlapFactor);
    }

    /** diffusers' defaults for a config: latent tile {@code sample_size / f}, overlap 0.25 (x4 VAE: 64 latent = 256 px). */
    public static Tiling defaults(VaeConfig config) {
        return new Tiling(Math.max(1, config.sampleSize() / config.spatialFactor()), 0.25);
    }

    /**
     * The geometry of one direction: input tile edge and stride, output blend extent and crop ({@code rowLimit});
     * consecutive tiles are {@code stride} input pixels and {@code rowLimit} output pixels apart.
     */
    record Plan(int inTile, int stride, int blend, int rowLimit) {}

    /** tiled_decode: latent tiles of {@code latentTile}, image blend {@code ⌊latentTile·f·overlap⌋}. */
    Plan decodePlan(int factor) {
        int sampleTile = latentTile * factor;
        int stride = (int) (latentTile * (1 - overlapFactor)), blend = (int) (sampleTile * overlapFactor);
        Plan p = new Plan(latentTile, stride, blend, sampleTile - blend);
        return check(p, factor, stride * factor == p.rowLimit, "decode");
    }

    /** tiled_encode: image tiles of {@code latentTile·f}, latent blend {@code ⌊latentTile·overlap⌋}. */
    Plan encodePlan(int factor) {
        int sampleTile = latentTile * factor;
        int stride = (int) (sampleTile * (1 - overlapFactor)), blend = (int) (latentTile * overlapFactor);
        Plan p = new Plan(sampleTile, stride, blend, latentTile - blend);
        return check(p, factor, p.rowLimit * factor == stride, "encode");
    }

    private Plan check(Plan p, int factor, boolean strideMatchesCrop, String what) {
        if (p.stride < 1 || p.rowLimit < 1 || !strideMatchesCrop)
            throw new IllegalArgumentException("Tiling(" + latentTile + ", " + overlapFactor + "): tiled " + what + " with spatial factor " + factor
                    + " needs a stride that maps onto the crop (stride " + p.stride + ", crop " + p.rowLimit + "); choose a tile whose overlap"
                    + " is a whole number of latent pixels, e.g. overlap 0.25 with latentTile a multiple of 4");
        return p;
    }

    /**
     * Runs {@code tileFn} on the tiles of {@code in} (N, C, H, W) and stitches the blended outputs into
     * (N, outChannels, outH, outW). {@code tileFn} returns a fresh array it does not keep (it is modified and freed here).
     */
    static INDArray run(INDArray in, Plan plan, long outChannels, long outH, long outW, UnaryOperator<Tensor> tileFn) {
        long n = in.size(0), h = in.size(2), w = in.size(3);
        INDArray out = Memory.uninitialized(in.dataType(), n, outChannels, outH, outW);
        INDArrayIndex all = NDArrayIndex.all();
        List<INDArray> above = null;
        long outRow = 0;
        for (long i0 = 0; i0 < h; i0 += plan.stride) {
            List<INDArray> row = new ArrayList<>();
            long outCol = 0, cropRows = 0;
            for (long j0 = 0; j0 < w; j0 += plan.stride) {
                INDArray tileIn = in.get(all, all, NDArrayIndex.interval(i0, Math.min(h, i0 + plan.inTile)),
                        NDArrayIndex.interval(j0, Math.min(w, j0 + plan.inTile))).dup('c');
                INDArray tile = tileFn.apply(Tensor.of(tileIn)).data();   // (n, outChannels, th, tw)
                Memory.free(tileIn);
                if (above != null) blend(above.get(row.size()), tile, plan, 2);
                if (!row.isEmpty()) blend(row.get(row.size() - 1), tile, plan, 3);
                row.add(tile);
                cropRows = Math.min(plan.rowLimit, tile.size(2));
                long cropCols = Math.min(plan.rowLimit, tile.size(3));
                if (outRow + cropRows > outH || outCol + cropCols > outW)
                    throw new IllegalStateException("tiling: tile outputs " + Arrays.toString(tile.shape()) + " overflow the output "
                            + Arrays.toString(out.shape()) + " at (" + outRow + ", " + outCol + ")");
                out.get(all, all, NDArrayIndex.interval(outRow, outRow + cropRows), NDArrayIndex.interval(outCol, outCol + cropCols))
                        .assign(tile.get(all, all, NDArrayIndex.interval(0, cropRows), NDArrayIndex.interval(0, cropCols)));
                outCol += cropCols;
            }
            if (outCol != outW) throw new IllegalStateException("tiling: tiles cover " + outCol + " of " + outW + " output columns");
            if (above != null) above.forEach(Memory::free);
            above = row;
            outRow += cropRows;
        }
        if (above != null) above.forEach(Memory::free);
        if (outRow != outH) throw new IllegalStateException("tiling: tiles cover " + outRow + " of " + outH + " output rows");
        return out;
    }

    /**
     * diffusers' blend_v (dim 2) / blend_h (dim 3) in place on {@code b}: the first E rows/columns of b become
     * {@code a[rowLimit + y]·(1 − y/E) + b[y]·(y/E)}, where {@code a[rowLimit + y]} is the neighbour's pixel at the same place.
     */
    private static void blend(INDArray a, INDArray b, Plan plan, int dim) {
        long extent = plan.blend;
        long count = Math.min(extent, Math.min(b.size(dim), a.size(dim) - plan.rowLimit));
        for (long y = 0; y < count; y++) {
            double t = (double) y / extent;
            INDArray av = line(a, dim, plan.rowLimit + y), bv = line(b, dim, y);
            INDArray tb = bv.mul(t);
            INDArray mixed = av.mul(1 - t).addi(tb);
            bv.assign(mixed);
            Memory.free(tb, mixed);
        }
    }

    private static INDArray line(INDArray x, int dim, long index) {
        INDArrayIndex all = NDArrayIndex.all();
        return dim == 2 ? x.get(all, all, NDArrayIndex.point(index), all) : x.get(all, all, all, NDArrayIndex.point(index));
    }
}
