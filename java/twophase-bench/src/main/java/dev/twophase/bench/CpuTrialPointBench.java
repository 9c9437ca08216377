package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;

/**
 * {@link CpuBackend#trialPoint}: {@code x = x0 + alpha * d}, reads x0 and d, writes x, 12 bytes per
 * element. Baseline: {@code x = x0 + d} on the same threading.
 */
public class CpuTrialPointBench extends CpuOpBench {
    public static final int BYTES_PER_ELEMENT = 12;

    private Buffer x, x0, d;
    private float[] xa, x0a, da;

    @Override protected void setupOp() {
        x = backend.allocate(n);
        x0 = CpuBenchSupport.buffer(backend, n, 1, -1f, 2f);
        d = CpuBenchSupport.buffer(backend, n, 2, -1f, 2f);
    }

    @Override protected void setupBaseline() {
        xa = new float[n];
        x0a = CpuBenchSupport.array(n, 1, -1f, 2f);
        da = CpuBenchSupport.array(n, 2, -1f, 2f);
    }

    @Override protected Object runOp() {
        backend.trialPoint(x, x0, d, 0.25);
        return x;
    }

    @Override protected Object runBaseline() {
        final float[] xa = this.xa, x0a = this.x0a, da = this.da;
        chunked.forEachChunk(n, (chunk, lo, hi) -> {
            for (int i = lo; i < hi; i++) xa[i] = x0a[i] + da[i];
        });
        return xa;
    }
}
