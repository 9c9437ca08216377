package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * A line search for the strong Wolfe conditions, Nocedal and Wright Algorithms 3.5 (bracketing by
 * doubling) and 3.6 (zoom with safeguarded cubic interpolation), the scheme of PyTorch's LBFGS.
 * Every trial evaluates loss and gradient; the accepted point's gradient is left in g.
 */
final class StrongWolfeLineSearch extends LineSearch {

    StrongWolfeLineSearch(VectorBackend backend, CgConfig config, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0) {
        super(backend, config, x, x0, d, g, gAtX0);
    }

    @Override boolean usesGradients() { return true; }

    @Override Result run(double alpha0) {
        double c1 = config.c1();
        double prev = 0, fPrev = f0, sPrev = slope0, alpha = alpha0;
        double best = 0, fBest = f0;
        for (int i = 1; budgetLeft(); i++) {
            double f = valueAndSlope(alpha), s = slope();
            if (unchanged(f) && fPrev == f0) {
                // x did not move: the same point as x0; try further out.
                prev = alpha;
                alpha *= GROW;
                continue;
            }
            if (f < fBest) { best = alpha; fBest = f; }
            if (f > f0 + c1 * alpha * slope0 || (i > 1 && f >= fPrev)) return zoom(prev, fPrev, sPrev, alpha, f, s, best, fBest);
            if (Math.abs(s) <= -c2Now * slope0) return new Result(true, alpha, f, true);
            c2Now = config.c2();
            if (s >= 0) return zoom(alpha, f, s, prev, fPrev, sPrev, best, fBest);
            prev = alpha; fPrev = f; sPrev = s;
            alpha *= 2;
        }
        return best > 0 ? acceptAt(best, fBest) : failed();
    }

    private Result zoom(double lo, double fLo, double sLo, double hi, double fHi, double sHi, double best, double fBest) {
        double c1 = config.c1(), c2 = config.c2(), tol = config.lineSearchTolerance();
        while (budgetLeft() && Math.abs(hi - lo) > tol * Math.max(lo, hi)) {
            double a = cubicMinimizer(lo, fLo, sLo, hi, fHi, sHi);
            double width = hi - lo;
            if (!Double.isFinite(a) || (a - lo) / width < 0.1 || (hi - a) / width < 0.1) a = lo + 0.5 * width;
            double f = valueAndSlope(a), s = slope();
            if (unchanged(f) && fLo == f0) {
                lo = a;
                continue;
            }
            if (f < fBest) { best = a; fBest = f; }
            if (f > f0 + c1 * a * slope0 || f >= fLo) {
                hi = a; fHi = f; sHi = s;
            } else {
                if (Math.abs(s) <= -c2 * slope0) return new Result(true, a, f, true);
                if (s * (hi - lo) >= 0) { hi = lo; fHi = fLo; sHi = sLo; }
                lo = a; fLo = f; sLo = s;
            }
        }
        return best > 0 ? acceptAt(best, fBest) : failed();
    }

    /** Minimizer of the cubic matching values and slopes at a and b (Nocedal and Wright eq. 3.59). */
    private static double cubicMinimizer(double a, double fa, double sa, double b, double fb, double sb) {
        double d1 = sa + sb - 3 * (fa - fb) / (a - b);
        double disc = d1 * d1 - sa * sb;
        if (!(disc >= 0)) return Double.NaN;
        double d2 = Math.copySign(Math.sqrt(disc), b - a);
        return b - (b - a) * (sb + d2 - d1) / (sb - sa + 2 * d2);
    }
}
