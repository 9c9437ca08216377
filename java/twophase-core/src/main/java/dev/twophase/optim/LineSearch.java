package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * A search for a step {@code alpha > 0} along direction d from x0 that lowers the loss. On
 * success x holds {@code x0 + alpha * d}; with {@link Result#gradientAtX} the gradient buffer
 * holds the gradient there. On failure x is restored to x0, and g to the gradient at x0.
 *
 * <p>Rules every search follows, whatever its method:
 * <ul>
 *   <li>a trial whose loss or slope is NaN or infinite is a step too long: its loss counts as
 *       +infinity, so the search shrinks back toward the best point (counted in {@link #nonFiniteTrials});</li>
 *   <li>a trial that returns exactly the loss (and slope) of x0 did not move x at float32
 *       resolution (or f is flat there): it is no bracket end, the search grows the step
 *       (tenfold while nothing brackets it) and treats the trial point as x0 itself;</li>
 *   <li>at most {@code budget} objective calls per search; {@link #values} and
 *       {@link #valueAndGradients} count them by kind;</li>
 *   <li>with {@link CgConfig#firstTrialProbe}, a search that uses gradients first evaluates the
 *       loss alone at the initial guess and starts from the minimizer of the parabola through
 *       f(0), f'(0) and that value ({@link #probe}), unless CG asks it to start at the guess
 *       itself (a guess that has been reliable); the first trial with a gradient is then accepted
 *       under a looser curvature constant ({@link #c2Now}).</li>
 * </ul>
 */
abstract class LineSearch {
    /** The outcome: whether the loss decreased, the step, and the loss there. */
    record Result(boolean decreased, double alpha, double value, boolean gradientAtX) { }

    /** How much a step grows when a trial did not change x; also how far a probe's parabola is trusted. */
    static final double GROW = 10;
    /** Loss-only probes a search may spend before its first trial with a gradient. */
    static final int MAX_PROBES = 4;
    /** {@link #risingSlope} looks at trials whose loss moved by at least this many times what rounding x to float32 can do. */
    private static final double RESOLVED = 64;

    protected final VectorBackend backend;
    protected final Buffer x, x0, d, g, gAtX0;
    protected final CgConfig config;
    private final double[] slopeOut = new double[1];
    protected Objective objective;
    protected double f0, slope0;
    private int budget, spent;
    /** The last probe that moved x and gave a finite loss: its step and loss (NaN: none in this search). */
    protected double probeStep, probeValue;
    /** The step whose gradient g holds (NaN: none since the search started). */
    private double gradientStep;
    /** Whether the last trial evaluated the slope too. */
    private boolean lastHadSlope;
    /** The steps and losses of this search's trials that moved x and gave a finite loss, in the order tried. */
    private double[] movedSteps = new double[32], movedValues = new double[32];
    private int moved;
    int values, valueAndGradients, nonFiniteTrials;
    /** The curvature constant the Wolfe test applies now: the first trial's, until a search sets {@code config.c2()}. */
    protected double c2Now;

    LineSearch(VectorBackend backend, CgConfig config, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0) {
        this.backend = backend;
        this.config = config;
        this.x = x;
        this.x0 = x0;
        this.d = d;
        this.g = g;
        this.gAtX0 = gAtX0;
    }

    /** {@code gAtX0} holds the gradient at x0 whenever a search starts (CG's previous gradient). */
    static LineSearch create(CgConfig c, VectorBackend backend, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0) {
        return switch (c.lineSearch()) {
            case MORE_THUENTE -> new MoreThuenteLineSearch(backend, c, x, x0, d, g, gAtX0);
            case STRONG_WOLFE -> new StrongWolfeLineSearch(backend, c, x, x0, d, g, gAtX0);
            case BRENT -> new BrentLineSearch(backend, c, x, x0, d, g, gAtX0);
        };
    }

    /** True for searches whose trials evaluate the gradient too. */
    abstract boolean usesGradients();

    /**
     * Searches from x0 (where x also starts) with loss {@code f0} and slope {@code slope0 = g.d < 0},
     * starting with the trial step {@code alpha0 > 0}, spending at most {@code maxCalls} objective calls.
     * With {@code atGuess} the probe is skipped and the first trial with a gradient, at {@code alpha0},
     * is accepted under the curvature constant {@code firstC2} (at least {@code c2}).
     */
    final Result search(Objective f, double f0, double slope0, double alpha0, int maxCalls, boolean atGuess, double firstC2) {
        this.objective = f;
        this.f0 = f0;
        this.slope0 = slope0;
        this.budget = maxCalls;
        this.spent = 0;
        this.values = 0;
        this.valueAndGradients = 0;
        this.nonFiniteTrials = 0;
        this.moved = 0;
        this.gradientStep = Double.NaN;
        this.probeStep = Double.NaN;
        this.probeValue = Double.NaN;
        this.c2Now = atGuess ? Math.max(config.c2(), firstC2) : config.c2();
        double first = alpha0;
        // The probe needs room for the gradient trial after it.
        if (config.firstTrialProbe() && usesGradients() && budget >= 2 && !atGuess) first = probe(alpha0);
        Result r = budget > 0 && first > 0 ? run(first) : new Result(false, 0, f0, false);
        if (!r.decreased()) {
            backend.copy(x0, x);
            if (valueAndGradients > 0) backend.copy(gAtX0, g);
            return new Result(false, 0, f0, false);
        }
        if (r.gradientAtX() && r.alpha() != gradientStep) throw new IllegalStateException("line search claims the gradient at " + r.alpha() + " but holds it at " + gradientStep);
        return r;
    }

    abstract Result run(double alpha0);

    /**
     * Loss evaluations from {@code alpha0} and the parabola through f(0), f'(0) and the last value:
     * its minimizer is the first trial with a gradient when it lies within tenfold of the probe.
     * Farther out the parabola is not trusted, and the next probe goes toward it (tenfold at most
     * when it points further out, {@link CgConfig#probeReach} at most when it points back), up to
     * {@link #MAX_PROBES}; once one probe points further out and another back, the first trial
     * is their geometric mean. A probe that did not move x grows the step; a non-finite one is too long.
     */
    private double probe(double alpha0) {
        double fa = probeValue(alpha0);
        while (unchanged(fa) && budget - spent >= 2) {
            alpha0 *= GROW;
            fa = probeValue(alpha0);
        }
        // lo: the longest probe whose parabola points further out; hi: the shortest that points back (or was not finite).
        double lo = 0, hi = Double.POSITIVE_INFINITY;
        for (int probes = 1; ; probes++) {
            if (budget - spent < 1) return 0;
            double next;
            if (fa == Double.POSITIVE_INFINITY) {
                hi = alpha0;
                next = alpha0 / GROW;
            } else {
                double curvature = 2 * (fa - f0 - slope0 * alpha0) / (alpha0 * alpha0);
                next = curvature > 0 ? -slope0 / curvature : alpha0 * GROW;
                if (next >= alpha0 / GROW && next <= alpha0 * GROW) return Math.max(lo, Math.min(hi, next));
                if (next > alpha0) {
                    lo = alpha0;
                    next = GROW * alpha0;
                } else {
                    hi = alpha0;
                    next = Math.max(next, alpha0 / config.probeReach());
                }
            }
            if (lo > 0 && hi < Double.POSITIVE_INFINITY) return Math.sqrt(lo * hi);
            if (probes >= MAX_PROBES || budget - spent < 2) return next;
            double before = alpha0;
            alpha0 = next;
            fa = probeValue(alpha0);
            // Shrunk below float32 resolution: the previous probe is the better start.
            if (unchanged(fa)) return before;
        }
    }

    /** {@link #value}, remembered as the last probe when x moved and the loss is finite. */
    private double probeValue(double alpha) {
        double fa = value(alpha);
        if (fa < Double.POSITIVE_INFINITY && !unchanged(fa)) {
            probeStep = alpha;
            probeValue = fa;
        }
        return fa;
    }

    /** The loss at {@code x0 + alpha * d} (+infinity if not finite); leaves x there. */
    protected final double value(double alpha) {
        spent++;
        values++;
        lastHadSlope = false;
        backend.trialPoint(x, x0, d, alpha);
        double f = objective.value(x);
        if (Double.isFinite(f)) return noteMoved(alpha, f);
        nonFiniteTrials++;
        return Double.POSITIVE_INFINITY;
    }

    /**
     * The loss at {@code x0 + alpha * d} and the slope there ({@link #slope()}); leaves x there and
     * the gradient in g. A non-finite loss or slope gives +infinity and a NaN slope.
     */
    protected final double valueAndSlope(double alpha) {
        spent++;
        valueAndGradients++;
        lastHadSlope = true;
        gradientStep = alpha;
        backend.trialPoint(x, x0, d, alpha);
        double f = objective.valueAndGradient(x, g);
        backend.multiDot(g, new Buffer[]{d}, slopeOut);
        if (Double.isFinite(f) && Double.isFinite(slopeOut[0])) return noteMoved(alpha, f);
        nonFiniteTrials++;
        slopeOut[0] = Double.NaN;
        return Double.POSITIVE_INFINITY;
    }

    /** Records a trial that moved x; returns {@code f}. */
    private double noteMoved(double alpha, double f) {
        if (unchanged(f)) return f;
        if (moved == movedSteps.length) {
            movedSteps = java.util.Arrays.copyOf(movedSteps, 2 * moved);
            movedValues = java.util.Arrays.copyOf(movedValues, 2 * moved);
        }
        movedSteps[moved] = alpha;
        movedValues[moved++] = f;
        return f;
    }

    /**
     * After a search that found no decrease: the slope of the loss along d at x0 as its trials
     * measure it, when it is positive (where the gradient gave {@code f'(0) < 0}); else NaN.
     * {@code rounding} is how much rounding x to float32 alone can change the loss. The three
     * shortest trials whose loss moved by {@link #RESOLVED} times that are fitted by
     * {@code f(a) = f0 + s a + c a^2 / 2} (the finite-difference slopes (f(a) - f0) / a on a line in
     * a), from the shortest and each of the other two; s is the slope when both fits give at least
     * half the shortest's finite-difference slope, i.e. the loss rises first of all linearly. A
     * smooth loss whose gradient is right gives {@code s = f'(0) < 0}; curvature alone (a point at
     * float32 resolution, where the rises come from the quadratic term) gives s near 0.
     */
    double risingSlope(double rounding) {
        double[] a = new double[3], r = new double[3];
        int found = 0;
        for (double last = 0; found < 3; found++) {
            // the next shortest resolved trial after the last one taken (steps are distinct or repeat the same point)
            double next = Double.POSITIVE_INFINITY, fNext = 0;
            for (int i = 0; i < moved; i++) {
                if (movedSteps[i] > last && movedSteps[i] < next && Math.abs(movedValues[i] - f0) >= RESOLVED * rounding) {
                    next = movedSteps[i];
                    fNext = movedValues[i];
                }
            }
            if (next == Double.POSITIVE_INFINITY) return Double.NaN;
            a[found] = next;
            r[found] = (fNext - f0) / next;
            last = next;
        }
        double s2 = (r[0] * a[1] - r[1] * a[0]) / (a[1] - a[0]), s3 = (r[0] * a[2] - r[2] * a[0]) / (a[2] - a[0]);
        return r[0] > 0 && s2 >= 0.5 * r[0] && s3 >= 0.5 * r[0] ? Math.min(s2, s3) : Double.NaN;
    }

    /** The slope {@code g.d} at the last {@link #valueAndSlope} trial. */
    protected final double slope() { return slopeOut[0]; }

    /** True when the last trial returned exactly the loss of x0 (and its slope, for gradient searches): x did not move. */
    protected final boolean unchanged(double f) {
        return f == f0 && (!lastHadSlope || slopeOut[0] == slope0);
    }

    protected final boolean budgetLeft() { return spent < budget; }

    /** True when the last search spent its whole budget. */
    final boolean exhausted() { return spent >= budget; }

    /** True when g holds the gradient at {@code alpha}. */
    protected final boolean gradientAt(double alpha) { return alpha == gradientStep; }

    /** Moves x to {@code alpha} (the last trial may have been elsewhere) and reports a decrease. */
    protected final Result acceptAt(double alpha, double f) {
        backend.trialPoint(x, x0, d, alpha);
        return new Result(true, alpha, f, gradientAt(alpha));
    }

    protected static Result failed() { return new Result(false, 0, Double.NaN, false); }
}
