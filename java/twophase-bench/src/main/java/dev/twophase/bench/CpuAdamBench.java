package dev.twophase.bench;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;

/**
 * {@link CpuBackend#adamStep}: reads p, g, m, v and writes p, m, v, 28 bytes per parameter.
 * Baseline: the same 4 reads and 3 writes per element with only additions, on the same threading.
 */
public class CpuAdamBench extends CpuOpBench {
    public static final int BYTES_PER_ELEMENT = 28;

    private Buffer p, g, m, v;
    private AdamScalars scalars;
    private float[] pa, ga, ma, va;

    @Override protected void setupOp() {
        p = CpuBenchSupport.buffer(backend, n, 1, -1f, 2f);
        g = CpuBenchSupport.buffer(backend, n, 2, -1f, 2f);
        m = CpuBenchSupport.buffer(backend, n, 3, -0.1f, 0.2f);
        v = CpuBenchSupport.buffer(backend, n, 4, 0.01f, 0.1f);
        // Step 10 of Adam with weight decay, so every term of the update is live.
        scalars = AdamScalars.forStep(10, 1e-3, 0.9, 0.999, 1e-8, 1e-2, false, 1.0);
    }

    @Override protected void setupBaseline() {
        pa = CpuBenchSupport.array(n, 1, -1f, 2f);
        ga = CpuBenchSupport.array(n, 2, -1f, 2f);
        ma = CpuBenchSupport.array(n, 3, -0.1f, 0.2f);
        va = CpuBenchSupport.array(n, 4, 0.01f, 0.1f);
    }

    @Override protected Object runOp() {
        backend.adamStep(scalars, p, g, m, v);
        return p;
    }

    @Override protected Object runBaseline() {
        final float[] pa = this.pa, ga = this.ga, ma = this.ma, va = this.va;
        chunked.forEachChunk(n, (chunk, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float gi = ga[i];
                pa[i] = pa[i] + gi;
                ma[i] = ma[i] + gi;
                va[i] = va[i] + gi;
            }
        });
        return pa;
    }
}
