package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;

/**
 * {@link CpuBackend#cgDirection}: {@code d = -g + beta * d; gPrev = g}, reads d and g, writes d and
 * gPrev, 16 bytes per element. Baseline: {@code d += g; gPrev = g} on the same threading.
 */
public class CpuCgDirectionBench extends CpuOpBench {
    public static final int BYTES_PER_ELEMENT = 16;

    private Buffer d, g, gPrev;
    private float[] da, ga, pa;

    @Override protected void setupOp() {
        d = CpuBenchSupport.buffer(backend, n, 1, -1f, 2f);
        g = CpuBenchSupport.buffer(backend, n, 2, -1f, 2f);
        gPrev = backend.allocate(n);
    }

    @Override protected void setupBaseline() {
        da = CpuBenchSupport.array(n, 1, -1f, 2f);
        ga = CpuBenchSupport.array(n, 2, -1f, 2f);
        pa = new float[n];
    }

    @Override protected Object runOp() {
        // beta < 1 keeps d bounded however often the step repeats.
        backend.cgDirection(d, g, gPrev, 0.5);
        return d;
    }

    @Override protected Object runBaseline() {
        final float[] da = this.da, ga = this.ga, pa = this.pa;
        chunked.forEachChunk(n, (chunk, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float gi = ga[i];
                da[i] = da[i] + gi;
                pa[i] = gi;
            }
        });
        return da;
    }
}
