package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;

/**
 * {@link CpuBackend#multiDot} with k = 3 (x . y0, x . y1, x . y2, as the CG line search needs):
 * reads x and three ys, 16 bytes per element. Baseline: a plain sum ({@code (int) a[i]}) over the same four
 * arrays, chunk by chunk, with per-chunk partials combined in order like the op.
 */
public class CpuMultiDotBench extends CpuOpBench {
    public static final int BYTES_PER_ELEMENT = 16;

    private Buffer x;
    private Buffer[] ys;
    private final double[] out = new double[3];
    private float[] xa, y0, y1, y2;

    @Override protected void setupOp() {
        x = CpuBenchSupport.buffer(backend, n, 1, -1f, 2f);
        ys = new Buffer[] {
            CpuBenchSupport.buffer(backend, n, 2, -1f, 2f),
            CpuBenchSupport.buffer(backend, n, 3, -1f, 2f),
            CpuBenchSupport.buffer(backend, n, 4, -1f, 2f)};
    }

    @Override protected void setupBaseline() {
        xa = CpuBenchSupport.array(n, 1, -1f, 2f);
        y0 = CpuBenchSupport.array(n, 2, -1f, 2f);
        y1 = CpuBenchSupport.array(n, 3, -1f, 2f);
        y2 = CpuBenchSupport.array(n, 4, -1f, 2f);
    }

    @Override protected Object runOp() {
        backend.multiDot(x, ys, out);
        return out[0] + out[1] + out[2];
    }

    @Override protected Object runBaseline() {
        final float[] xa = this.xa, y0 = this.y0, y1 = this.y1, y2 = this.y2;
        double[] partial = new double[CpuBenchSupport.chunkCount(n)];
        chunked.forEachChunk(n, (chunk, lo, hi) -> partial[chunk] = CpuBenchSupport.sum(xa, lo, hi)
                + CpuBenchSupport.sum(y0, lo, hi) + CpuBenchSupport.sum(y1, lo, hi) + CpuBenchSupport.sum(y2, lo, hi));
        return CpuBenchSupport.total(partial);
    }
}
