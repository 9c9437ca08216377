package dev.twophase.optim;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Nonlinear CG on problems with known minima: convergence, evaluation counts, float32 and NaN robustness, budgets, buffers. */
class ConjugateGradientTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    static TestProblems.Quadratic quadratic(int n, long seed) { return TestProblems.randomQuadratic(cpu, n, seed); }

    /** The result's counts are the objective's own. */
    static void assertCountsMatch(CgResult r, TestProblems.Counting f) {
        assertEquals(f.values, r.valueCalls(), "value calls");
        assertEquals(f.gradients, r.valueAndGradientCalls(), "value+gradient calls");
    }

    /** Exact line searches (c2 1e-3, tolerance 1e-6) make every formula finish a quadratic in n iterations. */
    @ParameterizedTest @EnumSource(CgFormula.class)
    void quadraticFinishesInAtMostNIterations(CgFormula formula) {
        int n = 8;
        for (LineSearchKind ls : LineSearchKind.values()) {
            TestProblems.Quadratic f = quadratic(n, 42);
            CgConfig cfg = CgConfig.defaults().withFormula(formula).withLineSearch(ls).withWolfe(1e-4, 1e-3).withLineSearchTolerance(1e-6)
                    .withMaxLineSearchEvaluations(60);
            try (Buffer x = TestProblems.buffer(cpu, new float[n]); ConjugateGradient cg = new ConjugateGradient(cpu, n, cfg)) {
                CgResult r = cg.minimize(f, x, CgStop.gradientBelow(2e-4, GradientNorm.TWO).withMaxIterations(3 * n));
                assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), formula + ", " + ls + ": " + r);
                // Exact arithmetic needs n iterations; these float32 runs (measured: 7 or 8) must too.
                assertTrue(r.iterations() <= n, formula + ", " + ls + " took " + r.iterations() + " iterations for n = " + n);
                double[] xs = f.minimizer(), got = f.read(x);
                for (int i = 0; i < n; i++) assertEquals(xs[i], got[i], 1e-4, formula + ", " + ls + ": x[" + i + "]");
                assertTrue(r.gradientNorm() <= 2e-4);
                assertCountsMatch(r, f);
            }
        }
    }

    /**
     * Rosenbrock from (-1.2, 1) to a gradient max-norm of 1e-4 (its float32 floor is about 7e-5:
     * the Hessian's rows times half a float32 step at (1, 1)). Measured with the defaults of each
     * search; the bounds leave about 25% headroom so that a regression shows.
     */
    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void rosenbrockEvaluationCounts(LineSearchKind ls) {
        TestProblems.Rosenbrock f = new TestProblems.Rosenbrock(cpu);
        CgConfig cfg = CgConfig.defaults().withLineSearch(ls);
        try (Buffer x = TestProblems.buffer(cpu, -1.2f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, cfg)) {
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-4, GradientNorm.MAX));
            double[] p = f.read(x);
            String used = ls + ": " + r;
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), used);
            assertEquals(1.0, p[0], 1e-3, used);
            assertEquals(1.0, p[1], 2e-3, used);
            assertTrue(r.gradientMaxNorm() <= 1e-4, used);
            assertCountsMatch(r, f);
            // Measured with Powell's restart test (on by default since; before it: Moré-Thuente 19 + 58 in 19, Nocedal-Wright
            // 19 + 51 in 19, Brent 197 + 21 in 20): Moré-Thuente 30 values (probes) + 61 value+gradient calls in 25 iterations,
            // Nocedal-Wright 28 + 66 in 26, Brent 266 + 29 in 28.
            int[] maxValues = {38, 35, 330}, maxGradients = {76, 82, 36};
            assertTrue(r.valueCalls() <= maxValues[ls.ordinal()] && r.valueAndGradientCalls() <= maxGradients[ls.ordinal()], used);
            if (ls == LineSearchKind.BRENT) assertEquals(r.iterations() + 1, r.valueAndGradientCalls(), "Brent: one gradient per iteration, " + used);
        }
    }

    /**
     * The start of Brown's badly scaled function, where steps span 1e-13 to 1: the default reaches
     * the float32 floor (gradient max-norm 0.35, from half a float32 step in x and y times the Hessian's
     * rows at the minimizer) without stalling.
     */
    @Test
    void badlyScaledStartDoesNotStall() {
        TestProblems.BrownBadlyScaled f = new TestProblems.BrownBadlyScaled(cpu);
        try (Buffer x = TestProblems.buffer(cpu, 1f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(0.35, GradientNorm.MAX).withMaxEvaluations(200));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
            double[] p = f.read(x);
            assertEquals(1e6, p[0], 1, r.toString());
            assertEquals(2e-6, p[1], 1e-11, r.toString());
            assertCountsMatch(r, f);
        }
    }

    /**
     * Powell's badly scaled function from (0, 1): its valley x y = 1e-4 runs from y near 1 to the
     * minimizer (1.1e-5, 9.1), and float32 resolves x about 1e7 times finer than y. The default gets
     * along it to the float32 floor (gradient max-norm 0.017) without stalling, past f = 0.014 where
     * the first version of this CG stalled along the gradient (measured: f = 0.0023 after 23 + 19 calls).
     */
    @Test
    void aBadlyScaledValleyIsFollowedToTheFloat32Floor() {
        TestProblems.PowellBadlyScaled f = new TestProblems.PowellBadlyScaled(cpu);
        try (Buffer x = TestProblems.buffer(cpu, 0f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(0.017, GradientNorm.MAX).withMaxEvaluations(400));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
            assertTrue(r.loss() < 0.014 / 2, "well past the old stall at 0.014: " + r);
            assertTrue(r.evaluations() <= 60, r.toString());
            assertCountsMatch(r, f);
        }
    }

    /**
     * A point on the curved valley x y = 2 of Brown's badly scaled function that CG reaches from its
     * standard start with Powell's restarts: x = 1001677.88 must fall by 1678 while y follows, but
     * along the gradient the best step (5e-13) moves x by far less than its float32 step (1/16), so
     * the conjugate and the steepest-descent searches find no decrease. Steepest descent in relative
     * coordinates (d_i = -g_i x_i^2) moves both and gets out, to the float32 floor (without it: STALLED,
     * measured). Inside a bracket whose trials land on the float32 point of a bracket end the
     * Moré-Thuente search stops at once (measured 39 + 58 calls; without that rule 39 + 98).
     */
    @Test
    void aFloat32TrapIsLeftAlongRelativeSteepestDescent() {
        TestProblems.BrownBadlyScaled f = new TestProblems.BrownBadlyScaled(cpu);
        try (Buffer x = TestProblems.buffer(cpu, 1001677.88f, 1.99824149e-6f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            assertEquals(2.815e6, f.value(x), 1e3, "the trap's loss");
            f.values = 0;
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(0.35, GradientNorm.MAX).withMaxEvaluations(400));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
            double[] p = f.read(x);
            assertEquals(1e6, p[0], 1, r.toString());
            assertEquals(2e-6, p[1], 1e-11, r.toString());
            assertTrue(r.evaluations() <= 120, r.toString());
            assertCountsMatch(r, f);
        }
    }

    /**
     * From the float32 trap of Brown's badly scaled function (above), the relative search starts at
     * its unit step in log coordinates, {@code 1 / |g * x|}, 2.2e-9 where the step it takes is 5e-13:
     * probes shrink it 100-fold at a time. The guess from the last decrease, which float32 barely
     * resolved, is orders of magnitude too short and grows tenfold per probe (measured: 47 calls to
     * the float32 floor with the unit step, 80 without).
     */
    @Test
    void theRelativeSearchStartsAtItsUnitStep() {
        int[] calls = new int[2];
        for (int k = 0; k < 2; k++) {
            TestProblems.BrownBadlyScaled f = new TestProblems.BrownBadlyScaled(cpu);
            try (Buffer x = TestProblems.buffer(cpu, 1001677.88f, 1.99824149e-6f);
                 ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults().withRelativeUnitStep(k == 0))) {
                CgResult r = cg.minimize(f, x, CgStop.gradientBelow(0.35, GradientNorm.MAX).withMaxEvaluations(400));
                assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
                calls[k] = (int) r.evaluations();
                assertCountsMatch(r, f);
            }
        }
        assertTrue(calls[0] < calls[1], "with the unit step: " + calls[0] + " calls, without: " + calls[1]);
    }

    /**
     * A direction whose beta is 0 is steepest descent already: when its search finds no decrease,
     * CG goes on to relative steepest descent at once instead of repeating the same search along
     * -g (Brown's badly scaled function from (1, 1), whose 4th iteration did that: measured 21 + 43
     * calls to the float32 floor before, 17 + 27 now).
     * Every loss-only call of an iteration is at a point that iteration had not evaluated yet.
     */
    @Test
    void aFailedSearchAlongSteepestDescentIsNotRepeated() {
        java.util.Set<String> seen = new java.util.HashSet<>();
        java.util.List<String> repeats = new java.util.ArrayList<>();
        TestProblems.BrownBadlyScaled f = new TestProblems.BrownBadlyScaled(cpu) {
            @Override public double value(Buffer params) {
                String point = java.util.Arrays.toString(read(params));
                if (!seen.add(point)) repeats.add(point);
                return super.value(params);
            }
        };
        try (Buffer x = TestProblems.buffer(cpu, 1f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(0.35, GradientNorm.MAX).withMaxEvaluations(200)
                    .withListener(it -> { seen.clear(); return true; }));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
            assertEquals(java.util.List.of(), repeats, "loss-only calls repeated within an iteration");
            assertTrue(r.evaluations() <= 44, r.toString());
            assertCountsMatch(r, f);
        }
    }

    /**
     * The first guess (a step of unit length) is 500 times too short on {@code 1e-3 (x - 500)^2} from 0:
     * the probe's parabola points 500-fold further out, which is not trusted, so loss-only probes move
     * tenfold at a time (at 5 and 50) until the parabola's minimizer lies within tenfold; the one
     * gradient trial there is the minimizer: 3 value calls and 2 value+gradient calls in all (the
     * single probe of before took a gradient trial at the tenfold clamp and extrapolated from it).
     */
    @Test
    void aFarOffFirstGuessIsCorrectedByLossOnlyProbes() {
        TestProblems.Parabola f = new TestProblems.Parabola(cpu, 1e-3, 500, Double.POSITIVE_INFINITY, false, false);
        try (Buffer x = TestProblems.buffer(cpu, 0f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.defaults())) {
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-6, GradientNorm.MAX));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
            assertEquals(500, f.read(x)[0], 1e-3, r.toString());
            assertEquals(3, r.valueCalls(), r.toString());
            assertEquals(2, r.valueAndGradientCalls(), r.toString());
            assertCountsMatch(r, f);
        }
    }

    /**
     * Wood's function and the trigonometric function (n = 100) from their standard starts, to SciPy's
     * stopping point (max |g| at most 1e-5, for Wood its float32 floor 7.2e-5), counted as SciPy counts
     * (each f and each g one call: a value call 1, a value+gradient call 2). SciPy 1.10's CG needs 282
     * on Wood and 136 on the trigonometric function (scripts/cg-vs-scipy). Measured: Wood 132 with
     * Powell's restarts and 325 without (it crawls along a plateau near f = 0.02 with nearly exact steps),
     * the trigonometric function 138 (148 without the quartic after the probe, which saves the
     * third gradient trial of searches whose first one failed the curvature test; 145 before both
     * the quartic and {@code probeReach} 100).
     */
    @Test
    void woodAndTheTrigonometricFunctionCallCounts() {
        TestProblems.Wood wood = new TestProblems.Wood(cpu);
        long[] woodCalls = new long[2];
        CgConfig[] configs = {CgConfig.defaults(), CgConfig.defaults().withPowellRestart(0)};
        for (int k = 0; k < 2; k++) {
            int[] powellRestarts = {0};
            try (Buffer x = TestProblems.buffer(cpu, -3f, -1f, -3f, -1f); ConjugateGradient cg = new ConjugateGradient(cpu, 4, configs[k])) {
                CgResult r = cg.minimize(wood, x, CgStop.gradientBelow(7.2e-5, GradientNorm.MAX).withListener(it -> {
                    if (it.restarted() && it.beta() == 0 && it.number() > 1) powellRestarts[0]++;
                    return true;
                }));
                assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
                woodCalls[k] = r.valueCalls() + 2 * r.valueAndGradientCalls();
                if (k == 0) assertTrue(powellRestarts[0] > 0, "Powell's test restarts the default: " + r);
            }
        }
        assertTrue(woodCalls[0] <= 165, "Wood: " + woodCalls[0] + " calls (SciPy: 282)");
        assertTrue(woodCalls[0] < woodCalls[1] / 2, "Wood without Powell's restarts: " + woodCalls[1] + " calls, with: " + woodCalls[0]);

        int n = 100;
        TestProblems.Trigonometric trig = new TestProblems.Trigonometric(cpu, n);
        float[] start = new float[n];
        java.util.Arrays.fill(start, 1f / n);
        long[] trigCalls = new long[2];
        for (int k = 0; k < 2; k++) {
            trig = new TestProblems.Trigonometric(cpu, n);
            try (Buffer x = TestProblems.buffer(cpu, start);
                 ConjugateGradient cg = new ConjugateGradient(cpu, n, CgConfig.defaults().withQuarticAfterProbe(k == 0))) {
                CgResult r = cg.minimize(trig, x, CgStop.gradientBelow(1e-5, GradientNorm.MAX));
                assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
                assertEquals(1.84e-6, r.loss(), 0.01e-6, r.toString());
                trigCalls[k] = r.valueCalls() + 2 * r.valueAndGradientCalls();
                assertCountsMatch(r, trig);
            }
        }
        assertTrue(trigCalls[0] <= 140, "trigonometric: " + trigCalls[0] + " calls (SciPy: 136)");
        assertTrue(trigCalls[0] < trigCalls[1], "trigonometric without the quartic after the probe: " + trigCalls[1] + " calls, with: " + trigCalls[0]);
    }

    /**
     * Where the first guess keeps landing within 40% of the accepted step (3 of the last 5
     * iterations), the search skips its probe and tries the guess itself (measured on the extended
     * Rosenbrock function with n = 7: iterations 9 to 12); with {@code reliableGuessC2 = 0} every
     * search probes.
     */
    @Test
    void aReliableGuessIsTriedWithoutAProbe() {
        for (double c : new double[]{0.4, 0}) {
            TestProblems.Rosenbrock2 f = new TestProblems.Rosenbrock2(cpu, 7);
            int[] withoutProbe = {0}, iterations = {0};
            try (Buffer x = TestProblems.buffer(cpu, -1.2f, 1f, -1.2f, 1f, -1.2f, 1f, -1.2f);
                 ConjugateGradient cg = new ConjugateGradient(cpu, 7, CgConfig.defaults().withReliableGuessC2(c))) {
                CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-4, GradientNorm.MAX).withMaxIterations(30).withListener(it -> {
                    iterations[0]++;
                    if (it.valueCalls() == 0) withoutProbe[0]++;
                    return true;
                }));
                assertCountsMatch(r, f);
                if (c > 0) assertTrue(withoutProbe[0] >= 2, "searches without a probe: " + withoutProbe[0] + " of " + iterations[0] + "; " + r);
                else assertEquals(0, withoutProbe[0], "reliableGuessC2 = 0 always probes: " + r);
            }
        }
    }

    /**
     * At x = 1e8 a float32 step is 8, so the first trial (a step of unit length) does not move x:
     * every search grows it instead of shrinking it toward zero, and reaches the minimizer at 2e8.
     */
    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void aTrialTooSmallToMoveXIsGrown(LineSearchKind ls) {
        TestProblems.Parabola f = new TestProblems.Parabola(cpu, 1e-12, 2e8, Double.POSITIVE_INFINITY, false, false);
        try (Buffer x = TestProblems.buffer(cpu, 1e8f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.defaults().withLineSearch(ls))) {
            CgResult r = cg.minimize(f, x, CgStop.defaults().withMaxEvaluations(60));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), ls + ": " + r);
            assertEquals(2e8, f.read(x)[0], 16, ls + ": " + r);
            // Brent expands by the golden ratio (measured: 37 values); the Wolfe searches extrapolate faster.
            assertTrue(r.evaluations() <= (ls == LineSearchKind.BRENT ? 50 : 25), ls + ": " + r);
        }
    }

    @Test
    void nonFiniteLossOrGradientAtTheStartIsAnErrorThatSaysWhich() {
        TestProblems.Parabola nanLoss = new TestProblems.Parabola(cpu, 1, 0, 0.5, true, false);
        TestProblems.Parabola nanGradient = new TestProblems.Parabola(cpu, 1, 0, 0.5, false, true);
        try (Buffer x = TestProblems.buffer(cpu, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.defaults())) {
            NonFiniteException e = assertThrows(NonFiniteException.class, () -> cg.minimize(nanLoss, x, CgStop.defaults()));
            assertEquals("loss", e.quantity());
            assertEquals(0, e.iteration());
            assertEquals("loss is NaN at CG iteration 0", e.getMessage());
            e = assertThrows(NonFiniteException.class, () -> cg.minimize(nanGradient, x, CgStop.defaults()));
            assertEquals("gradient", e.quantity());
        }
    }

    /** A loss that is NaN beyond x = 0.5, with its minimum at 0.45: trials out there are steps too long, counted and searched back from. */
    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void nonFiniteTrialsAreStepsTooLong(LineSearchKind ls) {
        TestProblems.Parabola f = new TestProblems.Parabola(cpu, 1, 0.45, 0.5, true, true);
        List<ConjugateGradient.Iteration> seen = new ArrayList<>();
        try (Buffer x = TestProblems.buffer(cpu, 0f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.defaults().withLineSearch(ls))) {
            CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-6, GradientNorm.MAX).withListener(seen::add));
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), ls + ": " + r);
            assertEquals(0.45, f.read(x)[0], 1e-6);
            assertTrue(seen.stream().mapToInt(ConjugateGradient.Iteration::nonFiniteTrials).sum() > 0, ls + ": the first trial (x = 1) is NaN: " + seen);
            assertCountsMatch(r, f);
        }
    }

    /**
     * Brent accepts a point by its loss alone; a NaN gradient there is at CG's new current point: an
     * error naming the gradient and iteration 1, with x put back where the iteration started.
     */
    @Test
    void aNonFiniteGradientAtTheAcceptedPointIsAnError() {
        TestProblems.Parabola f = new TestProblems.Parabola(cpu, 1, 0.45, 0.3, false, true);
        try (Buffer x = TestProblems.buffer(cpu, 0f); ConjugateGradient cg = new ConjugateGradient(cpu, 1, CgConfig.paper())) {
            NonFiniteException e = assertThrows(NonFiniteException.class, () -> cg.iterate(f, x));
            assertEquals("gradient", e.quantity());
            assertEquals(1, e.iteration());
            assertEquals(0f, f.read(x)[0]);
        }
    }

    /** The objective, except that its call number {@code failAt} (1-based, either kind) throws {@link InjectedFailure}. */
    static final class FailingOnce implements Objective {
        final Objective f;
        final int failAt;
        int calls;

        FailingOnce(Objective f, int failAt) {
            this.f = f;
            this.failAt = failAt;
        }

        @Override public double value(Buffer x) {
            if (++calls == failAt) throw new InjectedFailure(calls);
            return f.value(x);
        }

        @Override public double valueAndGradient(Buffer x, Buffer g) {
            if (++calls == failAt) throw new InjectedFailure(calls);
            return f.valueAndGradient(x, g);
        }
    }

    static final class InjectedFailure extends RuntimeException {
        InjectedFailure(int call) { super("injected failure at objective call " + call); }
    }

    static float[] floats(Buffer b) {
        float[] a = new float[Math.toIntExact(b.length())];
        cpu.download(b, a, 0);
        return a;
    }

    /**
     * An objective that throws in the middle of an iteration (at its start, in a probe, a trial, the
     * gradient after a loss-only search, a retry along steepest descent) leaves x at the last
     * accepted point with CG's loss the loss there, and CG then goes on from that point until it converges.
     */
    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void anObjectiveThatThrowsLeavesXAtTheLastAcceptedPointAndCgGoesOn(LineSearchKind ls) {
        for (int failAt = 1; failAt <= 60; failAt++) {
            TestProblems.Wood wood = new TestProblems.Wood(cpu);
            FailingOnce f = new FailingOnce(wood, failAt);
            try (Buffer x = TestProblems.buffer(cpu, -3f, -1f, -3f, -1f);
                 ConjugateGradient cg = new ConjugateGradient(cpu, 4, CgConfig.defaults().withLineSearch(ls))) {
                float[] accepted = floats(x);
                boolean threw = false;
                ConjugateGradient.Status status = ConjugateGradient.Status.STEPPED;
                for (int i = 0; i < 500 && status == ConjugateGradient.Status.STEPPED; i++) {
                    try {
                        status = cg.iterate(f, x).status();
                        accepted = floats(x);
                    } catch (InjectedFailure e) {
                        threw = true;
                        assertArrayEquals(accepted, floats(x), ls + ", failure at call " + failAt + ": x is back at the last accepted point");
                        if (cg.iterations() > 0 || failAt > 1) {
                            assertEquals(wood.f(wood.read(x), null), cg.loss(), ls + ", failure at call " + failAt + ": CG's loss is the loss at x");
                        }
                    }
                }
                assertTrue(threw, ls + ": call " + failAt + " was never made");
                assertEquals(ConjugateGradient.Status.CONVERGED, status, ls + ", failure at call " + failAt);
                // Converged by the default test (gradient relative to the start's), from a loss of 19,192 at the start.
                assertTrue(cg.loss() < 1e-2, ls + ", failure at call " + failAt + ": loss " + cg.loss());
            }
        }
    }

    /** The budget's reason counts what the run spent: with 2 calls, the start's gradient took one. */
    @Test
    void theBudgetsReasonSaysWhatIsLeft() {
        TestProblems.Rosenbrock f = new TestProblems.Rosenbrock(cpu);
        try (Buffer x = TestProblems.buffer(cpu, -1.2f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            CgResult r = cg.minimize(f, x, CgStop.defaults().withMaxEvaluations(2));
            assertEquals(CgResult.Status.MAX_EVALUATIONS, r.status());
            assertEquals(1, r.evaluations(), r.toString());
            assertEquals("an iteration needs at least 2 objective calls; 1 of the budget of 2 left", r.reason());
        }
    }

    /** A run that stalls because every trial is NaN says so, not "float32 resolution". */
    @Test
    void aStallAmongNonFiniteTrialsSaysSo() {
        TestProblems.Wood wood = new TestProblems.Wood(cpu);
        Objective nanAfterTheStart = new Objective() {
            int calls;

            @Override public double value(Buffer x) { return ++calls > 1 ? Double.NaN : wood.value(x); }

            @Override public double valueAndGradient(Buffer x, Buffer g) { return ++calls > 1 ? Double.NaN : wood.valueAndGradient(x, g); }
        };
        try (Buffer x = TestProblems.buffer(cpu, -3f, -1f, -3f, -1f); ConjugateGradient cg = new ConjugateGradient(cpu, 4, CgConfig.defaults())) {
            CgResult r = cg.minimize(nanAfterTheStart, x, CgStop.defaults());
            assertEquals(CgResult.Status.STALLED, r.status());
            assertTrue(r.reason().contains("gave a non-finite loss or gradient"), r.reason());
            assertArrayEquals(new float[] {-3f, -1f, -3f, -1f}, floats(x));
        }
    }

    /** {@code loss}'s value with {@code scale} times its gradient: a gradient that does not describe the loss for any scale but positive ones. */
    static TestProblems.Counting withScaledGradient(TestProblems.Counting loss, double scale) {
        return new TestProblems.Counting(cpu, loss.n) {
            @Override double f(double[] x, double[] g) {
                double v = loss.f(x, g);
                if (g != null) for (int i = 0; i < g.length; i++) g[i] *= scale;
                return v;
            }
        };
    }

    /** A stall against a gradient that points uphill names the gradient, from the trials along -g alone (no extra calls). */
    @Test
    void aStallAgainstAWrongGradientSaysTheGradientDoesNotMatchTheLoss() {
        java.util.Random rnd = new java.util.Random(11);
        Object[][] cases = {{quadratic(7, 3), -1.0}, {quadratic(13, 5), -0.3}, {quadratic(5, 8), -25.0},
                {new TestProblems.Rosenbrock(cpu), -1.0}, {new TestProblems.Wood(cpu), -2.0}, {new TestProblems.Trigonometric(cpu, 9), -1.0}};
        for (Object[] c : cases) {
            TestProblems.Counting f = withScaledGradient((TestProblems.Counting) c[0], (double) c[1]);
            float[] start = new float[f.n];
            for (int i = 0; i < f.n; i++) start[i] = (float) (0.5 + rnd.nextGaussian());
            try (Buffer x = TestProblems.buffer(cpu, start); ConjugateGradient cg = new ConjugateGradient(cpu, f.n, CgConfig.defaults())) {
                CgResult r = cg.minimize(f, x, CgStop.defaults());
                String label = c[0].getClass().getSimpleName() + " x " + c[1] + ": " + r;
                assertEquals(CgResult.Status.STALLED, r.status(), label);
                assertTrue(r.reason().contains("the gradient does not match the loss here"), label);
                assertEquals(0, r.iterations(), label);
                assertArrayEquals(start, floats(x), "no step was taken: " + label);
                assertCountsMatch(r, f);
            }
        }
    }

    /** Stalls at float32 resolution with right gradients, on smooth problems of several kinds and from random starts, never blame the gradient. */
    @Test
    void aStallAtFloat32ResolutionDoesNotBlameTheGradient() {
        java.util.Random rnd = new java.util.Random(12);
        for (int round = 0; round < 3; round++) {
            TestProblems.Counting[] problems = {quadratic(5, round), quadratic(17, 10 + round), quadratic(33, 20 + round), new TestProblems.Rosenbrock(cpu),
                    new TestProblems.Wood(cpu), new TestProblems.Trigonometric(cpu, 9), new TestProblems.BrownBadlyScaled(cpu)};
            for (TestProblems.Counting f : problems) {
                float[] start = new float[f.n];
                for (int i = 0; i < f.n; i++) start[i] = (float) (0.5 + rnd.nextGaussian());
                if (f instanceof TestProblems.BrownBadlyScaled) start = new float[]{1 + round, 1};
                try (Buffer x = TestProblems.buffer(cpu, start); ConjugateGradient cg = new ConjugateGradient(cpu, f.n, CgConfig.defaults())) {
                    CgResult r = cg.minimize(f, x, CgStop.gradientBelow(0, GradientNorm.TWO).withMaxEvaluations(100_000));
                    String label = f.getClass().getSimpleName() + " n " + f.n + ": " + r;
                    assertEquals(CgResult.Status.STALLED, r.status(), label);
                    assertTrue(r.reason().endsWith("(float32 resolution or a non-smooth point)"), label);
                }
            }
        }
    }

    @Test
    void nullArgumentsAreNamed() {
        assertEquals("ConjugateGradient: config", assertThrows(NullPointerException.class, () -> new ConjugateGradient(cpu, 1, null)).getMessage());
        TestProblems.Rosenbrock f = new TestProblems.Rosenbrock(cpu);
        try (Buffer x = TestProblems.buffer(cpu, -1.2f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            assertEquals("ConjugateGradient.minimize: stop", assertThrows(NullPointerException.class, () -> cg.minimize(f, x, null)).getMessage());
            assertEquals("ConjugateGradient.iterate: objective", assertThrows(NullPointerException.class, () -> cg.iterate(null, x)).getMessage());
            assertEquals("ConjugateGradient.iterate: x", assertThrows(NullPointerException.class, () -> cg.iterate(f, null)).getMessage());
        }
    }

    /** maxEvaluations is never exceeded, for any budget and any search, and the counts are the objective's. */
    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void theEvaluationBudgetIsHonouredExactly(LineSearchKind ls) {
        for (int budget = 1; budget <= 60; budget++) {
            TestProblems.Rosenbrock f = new TestProblems.Rosenbrock(cpu);
            try (Buffer x = TestProblems.buffer(cpu, -1.2f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults().withLineSearch(ls))) {
                CgResult r = cg.minimize(f, x, CgStop.gradientBelow(1e-4, GradientNorm.MAX).withMaxEvaluations(budget));
                assertTrue(f.values + f.gradients <= budget, ls + ", budget " + budget + ": " + r);
                assertCountsMatch(r, f);
                assertEquals(CgResult.Status.MAX_EVALUATIONS, r.status(), ls + ", budget " + budget + ": " + r);
                // Stopped only because the next iteration could not start: at most a probe, a trial and a gradient short.
                assertTrue(r.evaluations() >= budget - 2, ls + ", budget " + budget + ": " + r);
            }
        }
    }

    /**
     * CG follows x to a new buffer that holds the same point (one extra loss evaluation checks it)
     * and continues exactly as on the old one; a buffer holding another point is refused.
     */
    @Test
    void aNewBufferIsFollowedOrRefusedNeverASilentRestart() {
        TestProblems.Rosenbrock2 f = new TestProblems.Rosenbrock2(cpu, 6);
        float[] start = {-1.2f, 1f, -1.2f, 1f, -1.2f, 1f};
        try (Buffer a = TestProblems.buffer(cpu, start); Buffer b = TestProblems.buffer(cpu, start); Buffer moved = cpu.allocate(6);
             ConjugateGradient straight = new ConjugateGradient(cpu, 6, CgConfig.defaults());
             ConjugateGradient rebound = new ConjugateGradient(cpu, 6, CgConfig.defaults())) {
            for (int i = 0; i < 3; i++) {
                straight.iterate(f, a);
                rebound.iterate(f, b);
            }
            cpu.copy(b, moved);
            ConjugateGradient.Iteration s = straight.iterate(f, a), m = rebound.iterate(f, moved);
            assertFalse(m.restarted(), "the direction is kept: " + m);
            assertEquals(s.valueCalls() + 1, m.valueCalls(), "one loss evaluation checks the new buffer");
            assertEquals(s.loss(), m.loss());
            float[] pa = new float[6], pm = new float[6];
            cpu.download(a, pa, 0);
            cpu.download(moved, pm, 0);
            assertArrayEquals(pa, pm);

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rebound.iterate(f, b));
            assertTrue(e.getMessage().contains("does not hold the point CG is at") && e.getMessage().contains("reset()"), e.getMessage());
            rebound.reset();
            assertTrue(rebound.iterate(f, b).restarted(), "after reset() any point starts over");
        }
    }

    @Test
    void stepsOnlyDownhillAndAStallIsCheapAndNotRepeated() {
        TestProblems.Quadratic f = quadratic(4, 7);
        CgConfig cfg = CgConfig.defaults().withStop(CgStop.gradientBelow(0, GradientNorm.TWO));
        try (Buffer x = TestProblems.buffer(cpu, 1f, -1f, 0.5f, 2f); ConjugateGradient cg = new ConjugateGradient(cpu, 4, cfg)) {
            double last = f.value(x);
            ConjugateGradient.Iteration it = null;
            for (int i = 0; i < 100; i++) {
                it = cg.iterate(f, x);
                if (it.status() == ConjugateGradient.Status.STALLED) break;
                assertTrue(it.loss() < last, "iteration " + i + ": loss " + it.loss() + " after " + last);
                last = it.loss();
            }
            // With a zero tolerance the only way out is a stall at float32 resolution.
            assertEquals(ConjugateGradient.Status.STALLED, it.status());
            assertTrue(it.evaluations() <= 3 * cfg.maxLineSearchEvaluations(), "a stalled iteration is bounded: " + it);
            assertEquals(last, f.value(x), 1e-12, "a stalled iteration leaves the point unchanged");
            int calls = f.values + f.gradients;
            ConjugateGradient.Iteration again = cg.iterate(f, x);
            assertEquals(ConjugateGradient.Status.STALLED, again.status());
            assertEquals(calls, f.values + f.gradients, "the stall is not searched again");
        }
    }

    @Test
    void minimizeStopsOnEachTestAndSaysWhy() {
        TestProblems.Rosenbrock f = new TestProblems.Rosenbrock(cpu);
        try (Buffer x = TestProblems.buffer(cpu, -1.2f, 1f); ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults())) {
            CgResult r = cg.minimize(f, x, CgStop.defaults().withMaxIterations(3));
            assertEquals(CgResult.Status.MAX_ITERATIONS, r.status());
            assertEquals(3, r.iterations());

            cpu.upload(new float[]{-1.2f, 1f}, 0, x);
            int[] calls = {0};
            r = cg.minimize(f, x, CgStop.defaults().withListener(it -> ++calls[0] < 2));
            assertEquals(CgResult.Status.LISTENER, r.status());
            assertEquals(2, r.iterations());

            cpu.upload(new float[]{-1.2f, 1f}, 0, x);
            r = cg.minimize(f, x, CgStop.defaults().withRelativeLossChange(0.5));
            assertEquals(CgResult.Status.LOSS_CHANGE, r.status(), r.toString());
            assertTrue(r.status().converged());

            cpu.upload(new float[]{-1.2f, 1f}, 0, x);
            r = cg.minimize(f, x, CgStop.defaults());
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, r.status(), r.toString());
            assertTrue(r.gradientMaxNorm() <= 1e-5 * 215.6, "the default: 1e-5 times the starting max-norm: " + r);
            assertTrue(r.reason().startsWith("gradient max-norm"), r.reason());
            assertTrue(r.gradientNorm() >= r.gradientMaxNorm() && r.gradientNorm() <= Math.sqrt(2) * r.gradientMaxNorm(), r.toString());
        }
    }

    @Test
    void invalidSettingsNameTheParameter() {
        AdamTest.assertMessage(() -> CgConfig.defaults().withLineSearchTolerance(0), "lineSearchTolerance = 0.0");
        AdamTest.assertMessage(() -> CgConfig.defaults().withRestartEvery(-1), "restartEvery = -1");
        AdamTest.assertMessage(() -> CgConfig.defaults().withWolfe(0.5, 0.9), "c1 = 0.5");
        AdamTest.assertMessage(() -> CgConfig.defaults().withWolfe(1e-4, 1e-5), "c2 = 1.0E-5");
        AdamTest.assertMessage(() -> CgConfig.defaults().withReliableGuessC2(1), "reliableGuessC2 = 1.0");
        AdamTest.assertMessage(() -> CgConfig.defaults().withPowellRestart(-0.2), "powellRestart = -0.2");
        AdamTest.assertMessage(() -> CgConfig.defaults().withProbeReach(5), "probeReach = 5.0");
        AdamTest.assertMessage(() -> CgConfig.defaults().withProbeReach(Double.POSITIVE_INFINITY), "probeReach = Infinity");
        AdamTest.assertMessage(() -> CgStop.defaults().withMaxEvaluations(0), "maxEvaluations = 0");
        AdamTest.assertMessage(() -> CgStop.defaults().withGradientTolerance(-1, 0, GradientNorm.MAX), "gradientTolerance = -1.0");
        AdamTest.assertMessage(() -> CgFormula.parse("polak"), "'polak'");
        AdamTest.assertMessage(() -> LineSearchKind.parse("armijo"), "'armijo'");
        AdamTest.assertMessage(() -> GradientNorm.parse("1"), "'1'");
    }
}
