package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;

/**
 * {@link CpuBackend#maxAbs} (CG's max-norm): reads x once, 4 bytes per element. Baseline: the plain
 * sum of {@link CpuSegmentedNormsBench}, chunk by chunk, on the same threading.
 */
public class CpuMaxAbsBench extends CpuOpBench {
    public static final int BYTES_PER_ELEMENT = 4;

    private Buffer x;
    private float[] xa;

    @Override protected void setupOp() {
        x = CpuBenchSupport.buffer(backend, n, 1, -1f, 2f);
    }

    @Override protected void setupBaseline() {
        xa = CpuBenchSupport.array(n, 1, -1f, 2f);
    }

    @Override protected Object runOp() {
        return backend.maxAbs(x);
    }

    @Override protected Object runBaseline() {
        final float[] xa = this.xa;
        double[] partial = new double[CpuBenchSupport.chunkCount(n)];
        chunked.forEachChunk(n, (chunk, lo, hi) -> partial[chunk] = CpuBenchSupport.sum(xa, lo, hi));
        return CpuBenchSupport.total(partial);
    }
}
