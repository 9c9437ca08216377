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
 * on {@code f(a) - f(0) - c1 a f'(0)}, which guarantees a step with sufficient decrease. With
 * {@link CgConfig#quarticAfterProbe}, the trial after a first one that fails the test comes from
 * the quartic that also fits the probe's loss, where that quartic has a minimum in the range the
 * search allows (dcstep, with two points, takes the secant step in place of the cubic's when the
 * secant's lies farther from the trial: a safeguard that usually costs a trial after a probe).
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
    /**
     * The quartic after the probe needs the trial's slope to differ from f'(0) by this fraction at
     * least: less is no curvature beyond float32 rounding (x quantized along d), and a quartic would fit noise.
     */
    private static final double MIN_SLOPE_CHANGE = 1e-3;

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
        boolean first = true;
        while (budgetLeft()) {
            double trial = stp;
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
            if (first && config.quarticAfterProbe() && !Double.isNaN(probeStep) && probeStep != trial
                    && Math.abs(gp - slope0) > MIN_SLOPE_CHANGE * -slope0) {
                // The probe's loss is known too: the quartic through f(0), f'(0), the probe and this trial places the next
                // trial, inside the bracket, or else beyond the trial, no farther than Moré-Thuente extrapolates and short
                // of a probe there whose loss is higher.
                double lo, hi;
                if (s.brackt) {
                    lo = Math.min(s.stx, s.sty);
                    hi = Math.max(s.stx, s.sty);
                } else {
                    lo = trial;
                    hi = probeStep > trial && probeValue > f ? probeStep : trial + XTRAPU * trial;
                }
                double q = quarticMinimizer(f0, slope0, probeStep, probeValue, trial, f, gp, lo, hi);
                if (q > lo && q < hi) stp = q;
            }
            first = false;
            if (!Double.isFinite(stp)) stp = s.brackt ? s.stx + 0.5 * (s.sty - s.stx) : stmax;
            stp = Math.max(stp, 0);
            if (s.brackt && (stp <= stmin || stp >= stmax || stmax - stmin <= xtol * stmax)) break;
        }
        return best > 0 ? acceptAt(best, fBest) : failed();
    }

    /**
     * The minimizer in {@code (lo, hi)} of the quartic q with q(0) = f0, q'(0) = s0, q(ap) = fp,
     * q(a1) = f1, q'(a1) = s1 (the lowest of its local minima there), or NaN when there is none or
     * the points do not determine the quartic.
     */
    static double quarticMinimizer(double f0, double s0, double ap, double fp, double a1, double f1, double s1, double lo, double hi) {
        // In t = a / a1: q(t) = f0 + b t + c2 t^2 + c3 t^3 + c4 t^4 with b = s0 a1.
        double b = s0 * a1, tp = ap / a1;
        double r1 = f1 - f0 - b, r2 = s1 * a1 - b, r3 = fp - f0 - b * tp;
        double[][] m = {{1, 1, 1, r1}, {2, 3, 4, r2}, {tp * tp, tp * tp * tp, tp * tp * tp * tp, r3}};
        double[] c = solve3(m);
        if (c == null) return Double.NaN;
        double tlo = lo / a1, thi = hi / a1, best = Double.NaN, qBest = Double.POSITIVE_INFINITY;
        int samples = 64;
        double prevT = tlo, prevD = b + higherTermsSlope(c, tlo);
        for (int i = 1; i <= samples; i++) {
            double tt = tlo + (thi - tlo) * i / samples, dd = b + higherTermsSlope(c, tt);
            if (prevD < 0 && dd >= 0) {
                double l = prevT, h = tt;
                for (int k = 0; k < 60; k++) {
                    double mid = 0.5 * (l + h);
                    if (b + higherTermsSlope(c, mid) < 0) l = mid; else h = mid;
                }
                double tm = 0.5 * (l + h), qm = tm * (b + tm * (c[0] + tm * (c[1] + tm * c[2])));
                if (qm < qBest) { qBest = qm; best = tm * a1; }
            }
            prevT = tt;
            prevD = dd;
        }
        return best;
    }

    /** The derivative of {@code c2 t^2 + c3 t^3 + c4 t^4} at {@code tt}, c = (c2, c3, c4). */
    private static double higherTermsSlope(double[] c, double tt) {
        return tt * (2 * c[0] + tt * (3 * c[1] + tt * 4 * c[2]));
    }

    /** Gaussian elimination with partial pivoting on a 3x4 augmented matrix; null when singular. */
    private static double[] solve3(double[][] m) {
        for (int col = 0; col < 3; col++) {
            int p = col;
            for (int r = col + 1; r < 3; r++) if (Math.abs(m[r][col]) > Math.abs(m[p][col])) p = r;
            double[] tmp = m[col]; m[col] = m[p]; m[p] = tmp;
            if (!(Math.abs(m[col][col]) > 1e-12)) return null;
            for (int r = col + 1; r < 3; r++) {
                double k = m[r][col] / m[col][col];
                for (int j = col; j < 4; j++) m[r][j] -= k * m[col][j];
            }
        }
        double[] x = new double[3];
        for (int r = 2; r >= 0; r--) {
            double v = m[r][3];
            for (int j = r + 1; j < 3; j++) v -= m[r][j] * x[j];
            x[r] = v / m[r][r];
        }
        return x;
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
