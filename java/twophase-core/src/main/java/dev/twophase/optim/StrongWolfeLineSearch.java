package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * A line search for the strong Wolfe conditions, Nocedal and Wright Algorithms 3.5 (bracketing by
 * doubling) and 3.6 (zoom with safeguarded cubic interpolation). c2 = 0.1 as recommended for
 * nonlinear CG. Every trial evaluates loss and gradient; the accepted point's gradient is left in g.
 */
final class StrongWolfeLineSearch extends LineSearch {
    static final double C1 = 1e-4, C2 = 0.1;
    private final double[] slopeOut = new double[1];
    private double lastAlpha = Double.NaN;
    /** The gradient at x0 (CG's previous gradient), to put back in g after a failed search. */
    private final Buffer gAtX0;

    StrongWolfeLineSearch(VectorBackend backend, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0, int maxEvaluations) {
        super(backend, x, x0, d, g, maxEvaluations);
        this.gAtX0 = gAtX0;
    }

    /** Every trial overwrote g; a failed search leaves it as it found it. */
    @Override protected void undoFailure() { backend.copy(gAtX0, g); }

    @Override Result run(double f0, double slope0, double alpha0) {
        double prev = 0, fPrev = f0, sPrev = slope0, alpha = alpha0;
        double best = 0, fBest = f0;
        for (int i = 1; budgetLeft(); i++) {
            double f = valueAndSlope(alpha), s = slopeOut[0];
            if (f < fBest) { best = alpha; fBest = f; }
            if (f > f0 + C1 * alpha * slope0 || (i > 1 && f >= fPrev)) return zoom(f0, slope0, prev, fPrev, sPrev, alpha, f, s, best, fBest);
            if (Math.abs(s) <= -C2 * slope0) return accept(alpha, f);
            if (s >= 0) return zoom(f0, slope0, alpha, f, s, prev, fPrev, sPrev, best, fBest);
            prev = alpha; fPrev = f; sPrev = s;
            alpha *= 2;
        }
        return fallback(best, fBest);
    }

    private Result zoom(double f0, double slope0, double lo, double fLo, double sLo, double hi, double fHi, double sHi,
                        double best, double fBest) {
        while (budgetLeft()) {
            double a = cubicMinimizer(lo, fLo, sLo, hi, fHi, sHi);
            double width = hi - lo;
            if (!Double.isFinite(a) || (a - lo) / width < 0.1 || (hi - a) / width < 0.1) a = lo + 0.5 * width;
            double f = valueAndSlope(a), s = slopeOut[0];
            if (f < fBest) { best = a; fBest = f; }
            if (f > f0 + C1 * a * slope0 || f >= fLo) {
                hi = a; fHi = f; sHi = s;
            } else {
                if (Math.abs(s) <= -C2 * slope0) return accept(a, f);
                if (s * (hi - lo) >= 0) { hi = lo; fHi = fLo; sHi = sLo; }
                lo = a; fLo = f; sLo = s;
            }
        }
        return fallback(best, fBest);
    }

    /** Minimizer of the cubic matching values and slopes at a and b (Nocedal and Wright eq. 3.59). */
    private static double cubicMinimizer(double a, double fa, double sa, double b, double fb, double sb) {
        double d1 = sa + sb - 3 * (fa - fb) / (a - b);
        double disc = d1 * d1 - sa * sb;
        if (!(disc >= 0)) return Double.NaN;
        double d2 = Math.copySign(Math.sqrt(disc), b - a);
        return b - (b - a) * (sb + d2 - d1) / (sb - sa + 2 * d2);
    }

    /** Out of budget: keep the best decrease seen, if any, with its gradient. */
    private Result fallback(double best, double fBest) {
        if (best == 0) return new Result(false, 0, Double.NaN, false, evaluations);
        if (best != lastAlpha) {
            evaluations++;
            backend.trialPoint(x, x0, d, best);
            objective.valueAndGradient(x, g);
        }
        return new Result(true, best, fBest, true, evaluations);
    }

    private Result accept(double alpha, double f) { return new Result(true, alpha, f, true, evaluations); }

    private double valueAndSlope(double alpha) {
        evaluations++;
        lastAlpha = alpha;
        backend.trialPoint(x, x0, d, alpha);
        double f = objective.valueAndGradient(x, g);
        backend.multiDot(g, new Buffer[]{d}, slopeOut);
        return f;
    }
}
