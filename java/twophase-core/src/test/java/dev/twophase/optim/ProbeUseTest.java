package dev.twophase.optim;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the searches do with the loss-only probe's value: how far a probe that overshot is followed back, and the quartic after it. */
class ProbeUseTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    /** q(a) = (a - m)^4 + k (a - m)^2 + c and its derivative. */
    private static double q(double a, double m, double k, double c) {
        double e = a - m;
        return e * e * e * e + k * e * e + c;
    }

    private static double dq(double a, double m, double k) {
        double e = a - m;
        return 4 * e * e * e + 2 * k * e;
    }

    /** Through five values of a quartic (f, f' at 0, f at the probe, f, f' at the trial) the interpolant is that quartic: its minimizer m, exactly. */
    @Test
    void theQuarticThroughTheProbeAndTheTrialIsExactOnAQuartic() {
        Random rnd = new Random(7);
        for (int i = 0; i < 200; i++) {
            double m = 0.3 + 5 * rnd.nextDouble(), k = 0.01 + 3 * rnd.nextDouble(), c = rnd.nextGaussian();
            double ap = 0.1 + 7 * rnd.nextDouble(), a1 = 0.1 + 7 * rnd.nextDouble();
            if (Math.abs(ap - a1) < 0.05) continue;
            double got = MoreThuenteLineSearch.quarticMinimizer(q(0, m, k, c), dq(0, m, k), ap, q(ap, m, k, c), a1, q(a1, m, k, c), dq(a1, m, k), 0, 20);
            assertEquals(m, got, 1e-9 * m, "m " + m + ", k " + k + ", probe " + ap + ", trial " + a1);
        }
    }

    /**
     * Two local minima in the interval: the lower one, found by a fine grid over the quartic built
     * from the same five values (a reference computed from the polynomial, not from the root search).
     * No minimum inside the interval: NaN; a probe at the trial (the five values do not determine a
     * quartic): NaN.
     */
    @Test
    void theLowerOfTwoMinimaAndNoneOutsideTheInterval() {
        // p(a) = (a - 1)^2 (a - 3)^2 + 0.3 a: minima near 1 (lower) and 3.
        java.util.function.DoubleUnaryOperator p = a -> (a - 1) * (a - 1) * (a - 3) * (a - 3) + 0.3 * a;
        java.util.function.DoubleUnaryOperator dp = a -> 2 * (a - 1) * (a - 3) * (2 * a - 4) + 0.3;
        double ap = 2.2, a1 = 3.7;
        double got = MoreThuenteLineSearch.quarticMinimizer(p.applyAsDouble(0), dp.applyAsDouble(0), ap, p.applyAsDouble(ap), a1,
                p.applyAsDouble(a1), dp.applyAsDouble(a1), 0, 4);
        double best = 0, pBest = Double.POSITIVE_INFINITY;
        for (int i = 0; i <= 400_000; i++) {
            double a = 4.0 * i / 400_000;
            if (p.applyAsDouble(a) < pBest) { pBest = p.applyAsDouble(a); best = a; }
        }
        assertEquals(best, got, 1e-4);
        assertTrue(got < 1.5, "the lower minimum, near 1: " + got);
        // Only [3.2, 4] (the quartic rises there): no minimum inside.
        assertTrue(Double.isNaN(MoreThuenteLineSearch.quarticMinimizer(p.applyAsDouble(0), dp.applyAsDouble(0), ap, p.applyAsDouble(ap), a1,
                p.applyAsDouble(a1), dp.applyAsDouble(a1), 3.2, 4)));
        assertTrue(Double.isNaN(MoreThuenteLineSearch.quarticMinimizer(p.applyAsDouble(0), dp.applyAsDouble(0), a1, p.applyAsDouble(a1), a1,
                p.applyAsDouble(a1), dp.applyAsDouble(a1), 0, 4)));
    }

    /**
     * {@code (x - 2)^4 + 0.5 (x - 2)^2} from 0: the probe (at x = 1) gives a parabola whose minimizer
     * (x = 0.97) fails the curvature test, and the quartic through the probe and that trial is the
     * function itself, so the next trial lands on x = 2: one probe and two gradient trials after the
     * starting gradient. Without the quartic Moré-Thuente's cubic and secant steps need more.
     */
    @Test
    void theTrialAfterAFailedOneUsesTheProbe() {
        long[] calls = new long[2];
        for (boolean quartic : new boolean[]{true, false}) {
            TestProblems.Quartic f = new TestProblems.Quartic(cpu, 2, 0.5);
            try (Buffer x = TestProblems.buffer(cpu, 0f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.defaults().withQuarticAfterProbe(quartic))) {
                CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-4, GradientNorm.MAX));
                assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
                assertEquals(2, f.read(x)[0], 1e-2, r.toString());
                ConjugateGradientTest.assertCountsMatch(r, f);
                if (quartic) {
                    assertEquals(1, r.iterations(), r.toString());
                    assertEquals(1, r.valueCalls(), r.toString());
                    assertEquals(3, r.valueAndGradientCalls(), r.toString());
                }
                calls[quartic ? 0 : 1] = r.valueCalls() + 2 * r.valueAndGradientCalls();
            }
        }
        assertTrue(calls[1] > calls[0], "without the quartic: " + calls[1] + " calls, with: " + calls[0]);
    }

    /**
     * {@code 1000 (x - 5e-4)^2} from 0: the first guess (a step of unit length) overshoots 2000-fold,
     * and the probe's parabola (exact here) points back 2000-fold. With {@code probeReach} 10 the
     * probes step back tenfold at a time (at 1, 0.1, 0.01 and 0.001: four loss calls); with 1000 the
     * second probe goes to 0.001, where the parabola is trusted: two loss calls. Either way one
     * gradient trial at the minimizer.
     */
    @Test
    void aProbeThatOvershotIsFollowedBackAsFarAsProbeReach() {
        for (double reach : new double[]{10, 1000}) {
            TestProblems.Parabola f = new TestProblems.Parabola(cpu, 1000, 5e-4, Double.POSITIVE_INFINITY, false, false);
            try (Buffer x = TestProblems.buffer(cpu, 0f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.defaults().withProbeReach(reach))) {
                CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-5, GradientNorm.MAX));
                String used = "probeReach " + reach + ": " + r;
                assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), used);
                assertEquals(5e-4, f.read(x)[0], 1e-8, used);
                assertEquals(reach == 10 ? 4 : 2, r.valueCalls(), used);
                assertEquals(2, r.valueAndGradientCalls(), used);
                ConjugateGradientTest.assertCountsMatch(r, f);
            }
        }
    }
}
