package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.cpu.CpuBackend;

/**
 * {@link CpuBackend#segmentedNorms} over 20 tensors laid out like a 10-layer MLP (a large weight
 * matrix then a small bias per layer): reads g once, 4 bytes per element. Baseline: a plain
 * sum of g over the whole buffer, chunk by chunk, on the same threading.
 */
public class CpuSegmentedNormsBench extends CpuOpBench {
    public static final int BYTES_PER_ELEMENT = 4;
    public static final int TENSORS = 20;

    private Buffer g;
    private long[] offsets;
    private float[] ga;

    /**
     * Offsets of {@code TENSORS} tensors filling n floats: layer l has a weight of about
     * (l + 1) shares of the buffer (so layer sizes differ and do not fall on chunk edges) and a
     * bias of n / 2000 + 7 floats.
     */
    static long[] offsets(int n) {
        int layers = TENSORS / 2;
        long bias = n / 2000 + 7;
        long weights = n - layers * bias;
        long shares = (long) layers * (layers + 1) / 2;
        long[] off = new long[TENSORS + 1];
        long at = 0;
        for (int l = 0; l < layers; l++) {
            long w = l == layers - 1 ? n - bias - at : weights * (l + 1) / shares;
            off[2 * l] = at;
            at += w;
            off[2 * l + 1] = at;
            at += bias;
        }
        off[TENSORS] = at;
        if (at != n) throw new IllegalStateException("offsets end at " + at + ", not " + n);
        return off;
    }

    @Override protected void setupOp() {
        g = CpuBenchSupport.buffer(backend, n, 1, -1f, 2f);
        offsets = offsets(n);
    }

    @Override protected void setupBaseline() {
        ga = CpuBenchSupport.array(n, 1, -1f, 2f);
    }

    @Override protected Object runOp() {
        GradientNorms norms = backend.segmentedNorms(g, offsets);
        return norms.totalSumOfSquares();
    }

    @Override protected Object runBaseline() {
        final float[] ga = this.ga;
        double[] partial = new double[CpuBenchSupport.chunkCount(n)];
        chunked.forEachChunk(n, (chunk, lo, hi) -> partial[chunk] = CpuBenchSupport.sum(ga, lo, hi));
        return CpuBenchSupport.total(partial);
    }
}
