package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * Moré and Thuente's line search for the strong Wolfe conditions ("Line search algorithms with
 * guaranteed sufficient decrease", ACM TOMS 20, 1994; MINPACK-2's dcsrch and dcstep, which SciPy's
 * CG and BFGS call). Every trial evaluates loss and slope; the next trial comes from a cubic or
 * quadratic fitted to the interval ends ({@link Step}), safeguarded to shrink the bracket by a
 * third at least every two trials. Until the minimum is bracketed the step grows by 1.1x to 4x.
 * While the trials have not yet shown sufficient decrease with an upward slope, the search works
 * on {@code f(a) - f(0) - c1 a f'(0)}, which guarantees a step with sufficient decrease.
 *
 * <p>Ends: on the strong Wolfe conditions (gradient at x); when the bracket is narrower than the
 * tolerance, when rounding stops progress (including a trial that returns exactly the value and
 * slope of a bracket end: x did not reach a new float32 point), or when the budget runs out, with
 * the best point seen if it lowered the loss.
 */
final class MoreThuenteLineSearch extends LineSearch {
    private static final double XTRAPL = 1.1, XTRAPU = 4.0, SHRINK = 0.66;
    /** A non-finite trial shrinks the step toward the best point by this factor. */
    private static final double NON_FINITE_SHRINK = 0.1;

    MoreThuenteLineSearch(VectorBackend backend, CgConfig config, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0) {
        super(backend, config, x, x0, d, g, gAtX0);
    }

    @Override boolean usesGradients() { return true; }

    @Override Result run(double alpha0) {
        double gtest = config.c1() * slope0, xtol = config.lineSearchTolerance();
        Step s = new Step(slope0, f0);
        boolean stage1 = true;
        double width = Double.POSITIVE_INFINITY, width1 = Double.POSITIVE_INFINITY;
        double stmin = 0, stmax = alpha0 + XTRAPU * alpha0, stp = alpha0;
        double best = 0, fBest = f0;
        while (budgetLeft()) {
            double f = valueAndSlope(stp), gp = slope();
            if (f < fBest) { best = stp; fBest = f; }
            // Bracketed, and x landed on the float32 point of a bracket end: no step inside it can be resolved.
            if (s.brackt && ((f == s.fx && gp == s.dx) || (f == s.fy && gp == s.dy))) break;
            if (unchanged(f) && s.fx == f0) {
                // x did not move: this point is x0 again, so the bracket's low end moves up to it.
                s.stx = stp;
                stp = s.brackt ? Math.sqrt(stp * s.sty) : stp * GROW;
                stmin = s.stx;
                stmax = s.brackt ? s.sty : stp;
                continue;
            }
            if (f == Double.POSITIVE_INFINITY) {
                // Too long: the trial becomes the bracket's far end, and the next one is much shorter.
                s.brackt = true;
                s.sty = stp;
                s.fy = f;
                s.dy = Double.NaN;
                stp = s.stx + NON_FINITE_SHRINK * (stp - s.stx);
                stmin = Math.min(s.stx, s.sty);
                stmax = Math.max(s.stx, s.sty);
                continue;
            }
            double ftest = f0 + stp * gtest;
            if (stage1 && f <= ftest && gp >= Math.min(config.c1(), c2Now) * slope0) stage1 = false;
            if (f <= ftest && Math.abs(gp) <= c2Now * -slope0) return new Result(true, stp, f, true);
            c2Now = config.c2();
            if (s.brackt && (stp <= stmin || stp >= stmax || stmax - stmin <= xtol * stmax)) break;
            if (stage1 && f <= s.fx && f > ftest) {
                // The modified function f(a) - c1 a f'(0) until a step with sufficient decrease and an upward slope is seen.
                s.fx -= s.stx * gtest;
                s.fy -= s.sty * gtest;
                s.dx -= gtest;
                s.dy -= gtest;
                stp = s.next(stp, f - stp * gtest, gp - gtest, stmin, stmax);
                s.fx += s.stx * gtest;
                s.fy += s.sty * gtest;
                s.dx += gtest;
                s.dy += gtest;
            } else {
                stp = s.next(stp, f, gp, stmin, stmax);
            }
            if (s.brackt) {
                // Force the bracket to shrink by a third every two trials; bisect if it did not.
                if (Math.abs(s.sty - s.stx) >= SHRINK * width1) stp = s.stx + 0.5 * (s.sty - s.stx);
                width1 = width;
                width = Math.abs(s.sty - s.stx);
                stmin = Math.min(s.stx, s.sty);
                stmax = Math.max(s.stx, s.sty);
            } else {
                stmin = stp + XTRAPL * (stp - s.stx);
                stmax = stp + XTRAPU * (stp - s.stx);
            }
            if (!Double.isFinite(stp)) stp = s.brackt ? s.stx + 0.5 * (s.sty - s.stx) : stmax;
            stp = Math.max(stp, 0);
            if (s.brackt && (stp <= stmin || stp >= stmax || stmax - stmin <= xtol * stmax)) break;
        }
        return best > 0 ? acceptAt(best, fBest) : failed();
    }

    /**
     * MINPACK-2's dcstep: the interval [stx, sty] (stx the end with the lower value), the
     * minimizer of a cubic or quadratic through the ends and the trial, chosen by which of four
     * cases the trial falls in, and the updated interval.
     */
    static final class Step {
        double stx, fx, dx, sty, fy, dy;
        boolean brackt;

        Step(double slope0, double f0) {
            fx = fy = f0;
            dx = dy = slope0;
        }

        double next(double stp, double fp, double dp, double stpmin, double stpmax) {
            double sgnd = dp * Math.signum(dx), stpf;
            if (fp > fx) {
                // Case 1: higher value. The minimum is bracketed; take the cubic step if it is closer to stx, else between.
                double theta = 3 * (fx - fp) / (stp - stx) + dx + dp;
                double sc = Math.max(Math.abs(theta), Math.max(Math.abs(dx), Math.abs(dp)));
                double gamma = sc * Math.sqrt(Math.max(0, (theta / sc) * (theta / sc) - (dx / sc) * (dp / sc)));
                if (stp < stx) gamma = -gamma;
                double p = (gamma - dx) + theta, q = ((gamma - dx) + gamma) + dp;
                double stpc = stx + p / q * (stp - stx);
                double stpq = stx + dx / ((fx - fp) / (stp - stx) + dx) / 2 * (stp - stx);
                stpf = Math.abs(stpc - stx) < Math.abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2;
                brackt = true;
            } else if (sgnd < 0) {
                // Case 2: lower value, slopes of opposite sign: bracketed; the step farther from stp.
                double theta = 3 * (fx - fp) / (stp - stx) + dx + dp;
                double sc = Math.max(Math.abs(theta), Math.max(Math.abs(dx), Math.abs(dp)));
                double gamma = sc * Math.sqrt(Math.max(0, (theta / sc) * (theta / sc) - (dx / sc) * (dp / sc)));
                if (stp > stx) gamma = -gamma;
                double p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + dx;
                double stpc = stp + p / q * (stx - stp);
                double stpq = stp + dp / (dp - dx) * (stx - stp);
                stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
                brackt = true;
            } else if (Math.abs(dp) < Math.abs(dx)) {
                // Case 3: lower value, same slope sign, slope decreasing in magnitude.
                double theta = 3 * (fx - fp) / (stp - stx) + dx + dp;
                double sc = Math.max(Math.abs(theta), Math.max(Math.abs(dx), Math.abs(dp)));
                double gamma = sc * Math.sqrt(Math.max(0, (theta / sc) * (theta / sc) - (dx / sc) * (dp / sc)));
                if (stp > stx) gamma = -gamma;
                double p = (gamma - dp) + theta, q = (gamma + (dx - dp)) + gamma, r = p / q;
                double stpc = r < 0 && gamma != 0 ? stp + r * (stx - stp) : stp > stx ? stpmax : stpmin;
                double stpq = stp + dp / (dp - dx) * (stx - stp);
                if (brackt) {
                    stpf = Math.abs(stpc - stp) < Math.abs(stpq - stp) ? stpc : stpq;
                    stpf = stp > stx ? Math.min(stp + SHRINK * (sty - stp), stpf) : Math.max(stp + SHRINK * (sty - stp), stpf);
                } else {
                    stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
                    stpf = Math.max(stpmin, Math.min(stpmax, stpf));
                }
            } else if (brackt) {
                // Case 4: lower value, same slope sign, slope not decreasing: cubic toward sty.
                double theta = 3 * (fp - fy) / (sty - stp) + dy + dp;
                double sc = Math.max(Math.abs(theta), Math.max(Math.abs(dy), Math.abs(dp)));
                double gamma = sc * Math.sqrt(Math.max(0, (theta / sc) * (theta / sc) - (dy / sc) * (dp / sc)));
                if (stp > sty) gamma = -gamma;
                double p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + dy;
                stpf = stp + p / q * (sty - stp);
            } else {
                stpf = stp > stx ? stpmax : stpmin;
            }
            if (fp > fx) {
                sty = stp; fy = fp; dy = dp;
            } else {
                if (sgnd < 0) { sty = stx; fy = fx; dy = dx; }
                stx = stp; fx = fp; dx = dp;
            }
            return stpf;
        }
    }
}
