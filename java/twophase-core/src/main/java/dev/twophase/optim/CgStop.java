package dev.twophase.optim;

/**
 * When {@link ConjugateGradient#minimize} stops; the first test met ends the run, and the result
 * says which ({@link CgResult.Status}). {@link ConjugateGradient#iterate} applies the two tests
 * that belong to a single iteration (gradient tolerance and relative loss change) and reports
 * them as {@link ConjugateGradient.Status#CONVERGED}.
 *
 * <ul>
 *   <li>{@code maxIterations}: iterations (line search plus direction update);</li>
 *   <li>{@code maxEvaluations}: calls of the objective, value and value+gradient alike, honoured
 *       exactly: the line search is never started without room for what it must evaluate;</li>
 *   <li>gradient tolerance: {@code norm(g) <= max(gradientTolerance, relativeGradientTolerance *
 *       norm(g_start))}, in the chosen {@link GradientNorm}, where {@code g_start} is the gradient
 *       at the first point of the run. The default, 1e-5 times the starting max-norm, can be met
 *       in float32 on problems whose float32 floor is below it (an absolute 1e-5, SciPy's
 *       default, often cannot: near a minimizer of scale 1 the gradient changes by the
 *       Hessian's norm times 6e-8 from one float32 neighbour to the next);</li>
 *   <li>{@code relativeLossChange}: an iteration that lowered the loss by at most this fraction of
 *       {@code max(|f_old|, |f_new|)} (0: off);</li>
 *   <li>{@code listener}: called after every iteration; returning false stops the run (null: none).</li>
 * </ul>
 * A stall (no decrease along steepest descent at float32 resolution) always ends the run.
 */
public record CgStop(long maxIterations, long maxEvaluations, double gradientTolerance, double relativeGradientTolerance,
                     GradientNorm norm, double relativeLossChange, Listener listener) {

    /** Sees each finished iteration; returns false to stop the run after it. */
    @FunctionalInterface
    public interface Listener {
        boolean proceed(ConjugateGradient.Iteration iteration);
    }

    public CgStop {
        Checks.atLeast("maxIterations", maxIterations, 1);
        Checks.atLeast("maxEvaluations", maxEvaluations, 1);
        Checks.nonNegative("gradientTolerance", gradientTolerance);
        Checks.nonNegative("relativeGradientTolerance", relativeGradientTolerance);
        Checks.nonNegative("relativeLossChange", relativeLossChange);
        if (norm == null) throw new IllegalArgumentException("norm = null; expected GradientNorm.TWO or GradientNorm.MAX");
    }

    /** No budget, gradient max-norm at most 1e-5 times the starting one, no loss-change test, no listener. */
    public static CgStop defaults() {
        return new CgStop(Long.MAX_VALUE, Long.MAX_VALUE, 0, 1e-5, GradientNorm.MAX, 0, null);
    }

    /** The gradient test alone: {@code norm(g) <= tolerance}, no relative part (SciPy's {@code gtol} with {@code norm}). */
    public static CgStop gradientBelow(double tolerance, GradientNorm norm) {
        return defaults().withGradientTolerance(tolerance, 0, norm);
    }

    public CgStop withMaxIterations(long n) { return new CgStop(n, maxEvaluations, gradientTolerance, relativeGradientTolerance, norm, relativeLossChange, listener); }

    public CgStop withMaxEvaluations(long n) { return new CgStop(maxIterations, n, gradientTolerance, relativeGradientTolerance, norm, relativeLossChange, listener); }

    /** Absolute and relative gradient tolerance and the norm both are measured in. */
    public CgStop withGradientTolerance(double absolute, double relative, GradientNorm n) {
        return new CgStop(maxIterations, maxEvaluations, absolute, relative, n, relativeLossChange, listener);
    }

    public CgStop withRelativeLossChange(double r) { return new CgStop(maxIterations, maxEvaluations, gradientTolerance, relativeGradientTolerance, norm, r, listener); }

    public CgStop withListener(Listener l) { return new CgStop(maxIterations, maxEvaluations, gradientTolerance, relativeGradientTolerance, norm, relativeLossChange, l); }

    /** The gradient norm at or below which the run has converged, given the norms at its start. */
    double gradientThreshold(double startTwoNorm, double startMaxNorm) {
        return Math.max(gradientTolerance, relativeGradientTolerance * norm.of(startTwoNorm, startMaxNorm));
    }

    /** True when a step from {@code before} to {@code after} lowered the loss by at most the relative threshold. */
    boolean lossChangeSmall(double before, double after) {
        return relativeLossChange > 0 && before - after <= relativeLossChange * Math.max(Math.abs(before), Math.abs(after));
    }

    /** Short text for reports: the gradient test, e.g. {@code max-norm <= max(0, 1e-5 x start)}. */
    public String describeGradientTest() {
        String n = norm == GradientNorm.MAX ? "max-norm" : "2-norm";
        if (relativeGradientTolerance == 0) return n + " <= " + gradientTolerance;
        if (gradientTolerance == 0) return n + " <= " + relativeGradientTolerance + " x start";
        return n + " <= max(" + gradientTolerance + ", " + relativeGradientTolerance + " x start)";
    }
}
