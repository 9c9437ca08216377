package dev.twophase.optim;

import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * CG's max-norm comes from the backend's reduction ({@code maxAbs}), not from a copy of the gradient to the host
 * (on a GPU that copy would be the parameters' size every iteration): driven through a backend
 * that refuses every download, CG runs to its max-norm stop with the same iterations, bit for bit,
 * as on the CPU backend, and each iteration's max-norm is max |g_i| of its gradient.
 */
class ConjugateGradientMaxNormTest {

    /** The CPU backend, except that copies to the host fail: what CG may not do on a GPU. */
    static final class NoDownloads implements VectorBackend {
        final CpuBackend cpu;

        NoDownloads(CpuBackend cpu) { this.cpu = cpu; }

        @Override public String name() { return "no-downloads"; }

        @Override public String description() { return "the cpu backend without downloads"; }

        @Override public Buffer allocate(long length) { return cpu.allocate(length); }

        @Override public void upload(float[] src, int srcOffset, int length, Buffer dst) { cpu.upload(src, srcOffset, length, dst); }

        @Override public void download(Buffer src, float[] dst, int dstOffset, int length) {
            throw new AssertionError("CG copied " + length + " floats to the host");
        }

        @Override public void copy(Buffer src, Buffer dst) { cpu.copy(src, dst); }

        @Override public void fill(Buffer dst, float value) { cpu.fill(dst, value); }

        @Override public void adamStep(AdamUpdate u, Buffer p, Buffer g, Buffer m, Buffer v, Buffer vMax) { cpu.adamStep(u, p, g, m, v, vMax); }

        @Override public void multiDot(Buffer x, Buffer[] ys, double[] out) { cpu.multiDot(x, ys, out); }

        @Override public void cgDirection(Buffer d, Buffer g, Buffer gPrev, double beta) { cpu.cgDirection(d, g, gPrev, beta); }

        @Override public void trialPoint(Buffer x, Buffer x0, Buffer d, double alpha) { cpu.trialPoint(x, x0, d, alpha); }

        @Override public void axpy(float a, Buffer x, Buffer y) { cpu.axpy(a, x, y); }

        @Override public GradientNorms segmentedNorms(Buffer g, long[] offsets) { return cpu.segmentedNorms(g, offsets); }

        @Override public double maxAbs(Buffer x) { return cpu.maxAbs(x); }

        @Override public void close() { }
    }

    @Test
    void maxNormStopsWithoutHostCopiesAndAsOnTheCpuBackend() {
        int n = 40;
        try (CpuBackend cpu = new CpuBackend(2)) {
            List<List<Double>> runs = new ArrayList<>();
            List<CgResult> results = new ArrayList<>();
            for (boolean refuse : new boolean[] {false, true}) {
                VectorBackend be = refuse ? new NoDownloads(cpu) : cpu;
                TestProblems.Quadratic q = TestProblems.randomQuadratic(cpu, n, 3); // the objective reads x through the cpu backend
                List<Double> maxNorms = new ArrayList<>();
                try (ConjugateGradient cg = new ConjugateGradient(be, n, CgConfig.defaults()); Buffer x = cpu.allocate(n)) {
                    CgResult r = cg.minimize(q, x, CgStop.defaults().withGradientTolerance(1e-4, 0, GradientNorm.MAX).withListener(it -> {
                        float[] g = new float[n];
                        cpu.download(cg.gradient(), g, 0);
                        float max = 0;
                        for (float v : g) max = Math.max(max, Math.abs(v));
                        assertEquals(max, it.gradientMaxNorm(), "iteration " + it.number() + ": max |g_i|");
                        maxNorms.add(it.gradientMaxNorm());
                        return true;
                    }));
                    assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.reason());
                    assertTrue(r.gradientMaxNorm() <= 1e-4, "stopped at max-norm " + r.gradientMaxNorm());
                    results.add(r);
                }
                runs.add(maxNorms);
            }
            assertEquals(runs.get(0), runs.get(1), "the same max-norms with and without host copies");
            assertEquals(Double.doubleToRawLongBits(results.get(0).loss()), Double.doubleToRawLongBits(results.get(1).loss()));
            assertTrue(runs.get(0).size() > 3, "a run of several iterations: " + runs.get(0));
        }
    }
}
