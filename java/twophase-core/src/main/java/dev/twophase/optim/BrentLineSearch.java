package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * The paper's line search (Numerical Recipes' mnbrak + brent, restricted to alpha > 0): shrink
 * the trial step until the loss falls below f0, expand by the golden ratio until it rises again,
 * then Brent's method (golden section with parabolic steps) inside the bracket to a relative
 * tolerance. Uses loss values only, so each trial costs one forward pass; CG then evaluates the
 * gradient at the accepted point.
 */
final class BrentLineSearch extends LineSearch {
    private static final double GOLD = 1.618034, CGOLD = 0.3819660, TINY = 1e-30;

    BrentLineSearch(VectorBackend backend, CgConfig config, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0) {
        super(backend, config, x, x0, d, g, gAtX0);
    }

    @Override boolean usesGradients() { return false; }

    @Override Result run(double alpha0) {
        double tolerance = config.lineSearchTolerance();
        // 1. A step that lowers the loss: shrink toward the minimizer of the quadratic through f0, slope0, f(b);
        //    a step that did not move x grows instead, and shrinking never goes back below it.
        double b = alpha0, fb = value(b), unchangedUpTo = 0;
        while (!(fb < f0)) {
            if (!budgetLeft()) return failed();
            if (unchanged(fb)) {
                unchangedUpTo = b;
                b *= GROW;
            } else {
                double q = -slope0 * b * b / (2 * (fb - f0 - slope0 * b));
                double shrunk = Double.isFinite(q) ? Math.min(0.5 * b, Math.max(0.1 * b, q)) : 0.1 * b;
                b = shrunk > unchangedUpTo ? shrunk : Math.sqrt(unchangedUpTo * b);
                if (unchangedUpTo > 0 && b <= unchangedUpTo * (1 + tolerance)) return failed();
            }
            fb = value(b);
        }
        // 2. Expand until the loss rises: bracket a < b < c with f(b) below both ends.
        if (!budgetLeft()) return acceptAt(b, fb);
        double a = 0, c = b + GOLD * b, fc = value(c);
        while (fc < fb) {
            if (!budgetLeft()) return acceptAt(c, fc);
            a = b;
            b = c;
            fb = fc;
            c = b + GOLD * (b - a);
            fc = value(c);
        }
        // 3. Brent inside [a, c], starting from the best point b.
        double lo = a, hi = c, xm = b, w = b, v = b, fx = fb, fw = fb, fv = fb, e = 0, step = 0;
        while (budgetLeft()) {
            double mid = 0.5 * (lo + hi), tol1 = tolerance * Math.abs(xm) + TINY, tol2 = 2 * tol1;
            if (Math.abs(xm - mid) <= tol2 - 0.5 * (hi - lo)) break;
            boolean golden = true;
            if (Math.abs(e) > tol1) {
                double r = (xm - w) * (fx - fv), q = (xm - v) * (fx - fw), p = (xm - v) * q - (xm - w) * r;
                q = 2 * (q - r);
                if (q > 0) p = -p;
                q = Math.abs(q);
                double eOld = e;
                e = step;
                if (Math.abs(p) < Math.abs(0.5 * q * eOld) && p > q * (lo - xm) && p < q * (hi - xm)) {
                    step = p / q;
                    double u = xm + step;
                    if (u - lo < tol2 || hi - u < tol2) step = Math.copySign(tol1, mid - xm);
                    golden = false;
                }
            }
            if (golden) {
                e = xm >= mid ? lo - xm : hi - xm;
                step = CGOLD * e;
            }
            double u = Math.abs(step) >= tol1 ? xm + step : xm + Math.copySign(tol1, step);
            double fu = value(u);
            if (fu <= fx) {
                if (u >= xm) lo = xm; else hi = xm;
                v = w; fv = fw; w = xm; fw = fx; xm = u; fx = fu;
            } else {
                if (u < xm) lo = u; else hi = u;
                if (fu <= fw || w == xm) { v = w; fv = fw; w = u; fw = fu; }
                else if (fu <= fv || v == xm || v == w) { v = u; fv = fu; }
            }
        }
        return acceptAt(xm, fx);
    }
}
