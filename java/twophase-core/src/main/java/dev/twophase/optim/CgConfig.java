package dev.twophase.optim;

import java.util.function.Consumer;

/**
 * Nonlinear CG settings.
 *
 * <ul>
 *   <li>{@code formula}: the conjugacy parameter beta ({@link CgFormula});</li>
 *   <li>{@code lineSearch}: which search finds the step ({@link LineSearchKind});</li>
 *   <li>{@code c1}: sufficient decrease, {@code f(a) <= f(0) + c1 a f'(0)} (Wolfe searches);</li>
 *   <li>{@code c2}: curvature, {@code |f'(a)| <= c2 |f'(0)|} (Wolfe searches);</li>
 *   <li>{@code lineSearchTolerance}: relative width of the bracket at which a search ends (Brent:
 *       converged; Wolfe searches: take the best point found);</li>
 *   <li>{@code maxLineSearchEvaluations}: objective calls one search may spend; a conjugate
 *       direction that fails is retried along steepest descent and then along steepest descent in
 *       relative coordinates, so a stalled iteration costs at most three times this;</li>
 *   <li>{@code firstTrialProbe}: searches that use gradients first evaluate the loss alone at the
 *       initial guess and start from the minimizer of the parabola through f(0), f'(0) and that
 *       value (the curvature along d for the price of a forward pass; on the main job the trial
 *       after it meets the Wolfe conditions almost every time). When that minimizer lies more than
 *       tenfold from the probe, the parabola is not trusted: up to four probes in all move toward it
 *       (at most tenfold each when it points further out) before the first trial with a gradient;</li>
 *   <li>{@code probeReach}: when a probe's parabola points back by more than tenfold (the probe
 *       overshot: its loss is far above the line), the next probe goes to the parabola's minimizer,
 *       but at most this factor shorter than the probe; 10 steps back tenfold at a time;</li>
 *   <li>{@code quarticAfterProbe}: in the Moré-Thuente search, when the first trial with a
 *       gradient after a probe fails the Wolfe test, the next trial is the minimizer of the quartic
 *       through f(0), f'(0), the probe's loss and the trial's loss and slope (all that is known
 *       along d) if it lies where the search may go next and the slopes show curvature beyond
 *       float32 rounding; otherwise, and for later trials, Moré-Thuente's own cubic or secant step;</li>
 *   <li>{@code relativeUnitStep}: the search along steepest descent in relative coordinates (the
 *       fallback when steepest descent finds no decrease, {@code d_i = -g_i x_i^2}) starts at the step
 *       of unit length in those coordinates, {@code 1 / |g * x|} (elementwise product; log |x_i| moves
 *       by 1 in all), as the first search of a run starts at {@code 1 / |g|}; otherwise at the usual
 *       guess from the last decrease, which after a step that float32 barely resolved is orders of
 *       magnitude too short (each tenfold costs a probe);</li>
 *   <li>{@code reliableGuessC2}: when the initial guess has been within 40% of the accepted step in
 *       at least 3 of the last 5 iterations, the probe is skipped and the first trial with a gradient
 *       is taken at the guess itself and accepted under the looser of this curvature constant and
 *       {@code c2} (later trials of that search use {@code c2}); 0 always probes. Only with
 *       {@code firstTrialProbe};</li>
 *   <li>{@code restartEvery}: restart to steepest descent every N iterations (0: only the automatic
 *       restarts);</li>
 *   <li>{@code powellRestart}: Powell's restart test (1977): restart to steepest descent when
 *       {@code |g_new.g_old| >= powellRestart * |g_new|^2}, i.e. successive gradients are far from the
 *       orthogonality that exact steps on a quadratic give; not applied right after a
 *       steepest-descent step, whose exact line search makes them orthogonal anyway (0: off);</li>
 *   <li>{@code stop}: the stopping tests ({@link CgStop}); {@link ConjugateGradient#iterate} uses its
 *       gradient tolerance and loss-change test, {@link ConjugateGradient#minimize} all of it.</li>
 * </ul>
 */
public record CgConfig(CgFormula formula, LineSearchKind lineSearch, double c1, double c2, double lineSearchTolerance,
                       int maxLineSearchEvaluations, boolean firstTrialProbe, double probeReach, boolean quarticAfterProbe,
                       boolean relativeUnitStep, double reliableGuessC2, int restartEvery, double powellRestart, CgStop stop) {

    public CgConfig {
        if (formula == null || lineSearch == null || stop == null) throw new IllegalArgumentException("CgConfig: formula, lineSearch and stop must not be null");
        if (!(c1 > 0 && c1 < 0.5)) throw new IllegalArgumentException("c1 = " + c1 + "; expected a value in (0, 0.5)");
        if (!(c2 > c1 && c2 < 1)) throw new IllegalArgumentException("c2 = " + c2 + "; expected a value in (c1, 1) with c1 = " + c1);
        if (!(probeReach >= LineSearch.GROW && probeReach < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("probeReach = " + probeReach + "; expected a finite factor of at least " + LineSearch.GROW);
        }
        Checks.unitInterval("reliableGuessC2", reliableGuessC2);
        Checks.fraction("lineSearchTolerance", lineSearchTolerance);
        Checks.atLeast("maxLineSearchEvaluations", maxLineSearchEvaluations, 3);
        Checks.atLeast("restartEvery", restartEvery, 0);
        Checks.nonNegative("powellRestart", powellRestart);
    }

    /**
     * The defaults: Polak-Ribiere+ with Powell's restart test (0.2), the Moré-Thuente search (c1
     * 1e-4, c2 0.1) after a probe in every search ({@code reliableGuessC2} 0; a probe that overshot
     * followed back up to 100-fold, {@code probeReach}; the quartic after the probe on), the relative
     * fallback started at its unit step ({@code relativeUnitStep}), bracket
     * tolerance 1e-3, at most 20 evaluations per search, no periodic restart, {@link CgStop#defaults()}.
     * Skipping the probe for a reliable guess (0.4, SciPy's c2) saves calls on some classic test
     * problems but costs the two-phase main job most of its gain at equal compute (its CG steps,
     * accepted under the looser constant, are less exact): 0.92x of Adam's compute instead of 0.50x.
     */
    public static CgConfig defaults() {
        return new CgConfig(CgFormula.POLAK_RIBIERE_PLUS, LineSearchKind.MORE_THUENTE, 1e-4, 0.1, 1e-3, 20, true, 100, true, true, 0, 0, 0.2, CgStop.defaults());
    }

    /**
     * The paper's CG (Numerical Recipes' frprmn): bracketing + Brent to a relative tolerance of 1e-3,
     * at most 40 loss evaluations per search, no Powell restarts.
     */
    public static CgConfig paper() {
        return defaults().withLineSearch(LineSearchKind.BRENT).withMaxLineSearchEvaluations(40).withPowellRestart(0);
    }

    public CgConfig withFormula(CgFormula f) { return with(b -> b.formula = f); }

    public CgConfig withLineSearch(LineSearchKind l) { return with(b -> b.lineSearch = l); }

    /** The Wolfe constants c1 (sufficient decrease) and c2 (curvature). */
    public CgConfig withWolfe(double newC1, double newC2) {
        return with(b -> {
            b.c1 = newC1;
            b.c2 = newC2;
        });
    }

    public CgConfig withLineSearchTolerance(double t) { return with(b -> b.lineSearchTolerance = t); }

    public CgConfig withMaxLineSearchEvaluations(int n) { return with(b -> b.maxLineSearchEvaluations = n); }

    public CgConfig withFirstTrialProbe(boolean p) { return with(b -> b.firstTrialProbe = p); }

    /** How far a probe whose parabola points back is followed: the next probe goes at most this factor shorter (at least 10). */
    public CgConfig withProbeReach(double reach) { return with(b -> b.probeReach = reach); }

    /** Whether the trial after a first gradient trial that fails the Wolfe test comes from the quartic through the probe too. */
    public CgConfig withQuarticAfterProbe(boolean q) { return with(b -> b.quarticAfterProbe = q); }

    /** Whether the search along relative steepest descent starts at the unit step in log coordinates (else at the usual first guess). */
    public CgConfig withRelativeUnitStep(boolean u) { return with(b -> b.relativeUnitStep = u); }

    /** The curvature constant for a first trial taken at a reliable guess without a probe; 0: always probe. */
    public CgConfig withReliableGuessC2(double c) { return with(b -> b.reliableGuessC2 = c); }

    public CgConfig withRestartEvery(int n) { return with(b -> b.restartEvery = n); }

    /** Powell's restart threshold on {@code |g_new.g_old| / |g_new|^2}; 0 turns the test off. */
    public CgConfig withPowellRestart(double threshold) { return with(b -> b.powellRestart = threshold); }

    public CgConfig withStop(CgStop s) { return with(b -> b.stop = s); }

    /** This configuration with one change, checked by the canonical constructor like any other. */
    private CgConfig with(Consumer<Components> change) {
        Components b = new Components(this);
        change.accept(b);
        return b.toConfig();
    }

    /** The components as fields to change, so that each wither names only what it changes. */
    private static final class Components {
        CgFormula formula;
        LineSearchKind lineSearch;
        double c1, c2, lineSearchTolerance, probeReach, reliableGuessC2, powellRestart;
        int maxLineSearchEvaluations, restartEvery;
        boolean firstTrialProbe, quarticAfterProbe, relativeUnitStep;
        CgStop stop;

        Components(CgConfig c) {
            formula = c.formula;
            lineSearch = c.lineSearch;
            c1 = c.c1;
            c2 = c.c2;
            lineSearchTolerance = c.lineSearchTolerance;
            maxLineSearchEvaluations = c.maxLineSearchEvaluations;
            firstTrialProbe = c.firstTrialProbe;
            probeReach = c.probeReach;
            quarticAfterProbe = c.quarticAfterProbe;
            relativeUnitStep = c.relativeUnitStep;
            reliableGuessC2 = c.reliableGuessC2;
            restartEvery = c.restartEvery;
            powellRestart = c.powellRestart;
            stop = c.stop;
        }

        CgConfig toConfig() {
            return new CgConfig(formula, lineSearch, c1, c2, lineSearchTolerance, maxLineSearchEvaluations, firstTrialProbe, probeReach,
                    quarticAfterProbe, relativeUnitStep, reliableGuessC2, restartEvery, powellRestart, stop);
        }
    }
}
