package dev.twophase.optim;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Nonlinear CG on problems with known minima. */
class ConjugateGradientTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    /** A random SPD matrix Q diag(eigs) Q^T with eigenvalues in [1, 10]. */
    static TestProblems.Quadratic quadratic(int n, long seed) {
        Random r = new Random(seed);
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) q[i][j] = r.nextGaussian();
        for (int c = 0; c < n; c++) { // Gram-Schmidt: orthonormal columns
            for (int p = 0; p < c; p++) {
                double d = 0;
                for (int i = 0; i < n; i++) d += q[i][c] * q[i][p];
                for (int i = 0; i < n; i++) q[i][c] -= d * q[i][p];
            }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += q[i][c] * q[i][c];
            for (int i = 0; i < n; i++) q[i][c] /= Math.sqrt(norm);
        }
        double[][] a = new double[n][n];
        for (int k = 0; k < n; k++) {
            double eig = 1 + 9.0 * k / (n - 1);
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i][j] += q[i][k] * eig * q[j][k];
        }
        double[] b = new double[n];
        for (int i = 0; i < n; i++) b[i] = r.nextGaussian();
        return new TestProblems.Quadratic(cpu, a, b);
    }

    @ParameterizedTest @EnumSource(CgFormula.class)
    void quadraticFinishesInAtMostNIterations(CgFormula formula) {
        int n = 8;
        TestProblems.Quadratic f = quadratic(n, 42);
        CgConfig cfg = CgConfig.defaults().withFormula(formula).withLineSearchTolerance(1e-6).withMaxLineSearchEvaluations(60).withGradientTolerance(2e-4);
        Buffer x = TestProblems.buffer(cpu, new float[n]);
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, cfg)) {
            ConjugateGradient.Iteration it = null;
            int steps = 0;
            while (steps <= 3 * n) {
                it = cg.iterate(f, x);
                if (it.status() != ConjugateGradient.Status.STEPPED) break;
                steps++;
            }
            assertEquals(ConjugateGradient.Status.CONVERGED, it.status(), "last iteration " + it);
            // Exact arithmetic needs n iterations; this float32 run (measured: 8 for all three formulas) must too.
            assertTrue(steps <= n, formula + " took " + steps + " iterations for n = " + n);
            double[] xs = f.minimizer(), got = f.read(x);
            for (int i = 0; i < n; i++) assertEquals(xs[i], got[i], 1e-4, "x[" + i + "]");
            assertTrue(it.gradientNorm() <= 2e-4);
        }
    }

    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void rosenbrockFromTheClassicStart(LineSearchKind ls) {
        TestProblems.Rosenbrock f = new TestProblems.Rosenbrock(cpu);
        Buffer x = TestProblems.buffer(cpu, -1.2f, 1f);
        CgConfig cfg = CgConfig.defaults().withLineSearch(ls).withLineSearchTolerance(1e-5).withGradientTolerance(1e-3);
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 2, cfg)) {
            ConjugateGradient.Iteration it = null;
            int iterations = 0;
            for (; iterations < 500; iterations++) {
                it = cg.iterate(f, x);
                if (it.status() != ConjugateGradient.Status.STEPPED) break;
            }
            double[] p = f.read(x);
            assertEquals(ConjugateGradient.Status.CONVERGED, it.status(), ls + ": " + it + " at " + p[0] + ", " + p[1]);
            assertEquals(1.0, p[0], 1e-3);
            assertEquals(1.0, p[1], 2e-3);
            assertTrue(it.gradientNorm() <= 1e-3);
            // Measured for these settings: Brent 20 iterations, 325 values + 21 gradients; Wolfe 19
            // iterations, 81 gradients. The bounds leave ~25% headroom so a line-search regression shows.
            String used = ls + " used " + f.values + " values + " + f.gradients + " gradients in " + iterations + " iterations";
            assertTrue(iterations <= 25, used);
            if (ls == LineSearchKind.BRENT) {
                assertTrue(f.values <= 400 && f.gradients == iterations + 1, used);
            } else {
                assertTrue(f.values == 0 && f.gradients <= 100, used);
            }
        }
    }

    @Test
    void stepsOnlyDownhillAndStallsAtAMinimum() {
        TestProblems.Quadratic f = quadratic(4, 7);
        Buffer x = TestProblems.buffer(cpu, 1f, -1f, 0.5f, 2f);
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 4, CgConfig.defaults().withGradientTolerance(0))) {
            double last = f.value(x);
            ConjugateGradient.Iteration it;
            int stalls = 0;
            for (int i = 0; i < 40; i++) {
                it = cg.iterate(f, x);
                if (it.status() == ConjugateGradient.Status.STALLED) { stalls++; continue; }
                assertTrue(it.loss() < last, "iteration " + i + ": loss " + it.loss() + " after " + last);
                last = it.loss();
            }
            // With a zero "zero-gradient" threshold the only way out is a stall at float precision.
            assertTrue(stalls > 0);
            assertEquals(last, f.value(x), 1e-12, "a stalled iteration leaves the point unchanged");
        }
    }

    @Test
    void invalidSettingsNameTheParameter() {
        AdamTest.assertMessage(() -> CgConfig.defaults().withLineSearchTolerance(0), "lineSearchTolerance = 0.0");
        AdamTest.assertMessage(() -> CgConfig.defaults().withRestartEvery(-1), "restartEvery = -1");
        AdamTest.assertMessage(() -> CgFormula.parse("polak"), "'polak'");
        AdamTest.assertMessage(() -> LineSearchKind.parse("armijo"), "'armijo'");
    }
}
