package dev.twophase.optim;

/**
 * Nonlinear CG settings. Defaults ({@link #defaults()}): Polak-Ribiere+, the paper's Brent line
 * search with relative tolerance 1e-3 and at most 40 loss evaluations per search, restart to
 * steepest descent every {@code restartEvery} iterations (0 = never beyond the automatic restarts
 * on a non-descent direction), and a "zero" gradient norm of 1e-8.
 */
public record CgConfig(CgFormula formula, LineSearchKind lineSearch, int restartEvery,
                       double gradientTolerance, double lineSearchTolerance, int maxLineSearchEvaluations) {

    public CgConfig {
        Checks.atLeast("restartEvery", restartEvery, 0);
        Checks.nonNegative("gradientTolerance", gradientTolerance);
        Checks.fraction("lineSearchTolerance", lineSearchTolerance);
        Checks.atLeast("maxLineSearchEvaluations", maxLineSearchEvaluations, 3);
    }

    public static CgConfig defaults() {
        return new CgConfig(CgFormula.POLAK_RIBIERE_PLUS, LineSearchKind.BRENT, 0, 1e-8, 1e-3, 40);
    }

    public CgConfig withFormula(CgFormula f) { return new CgConfig(f, lineSearch, restartEvery, gradientTolerance, lineSearchTolerance, maxLineSearchEvaluations); }

    public CgConfig withLineSearch(LineSearchKind l) { return new CgConfig(formula, l, restartEvery, gradientTolerance, lineSearchTolerance, maxLineSearchEvaluations); }

    public CgConfig withRestartEvery(int n) { return new CgConfig(formula, lineSearch, n, gradientTolerance, lineSearchTolerance, maxLineSearchEvaluations); }

    public CgConfig withGradientTolerance(double t) { return new CgConfig(formula, lineSearch, restartEvery, t, lineSearchTolerance, maxLineSearchEvaluations); }

    public CgConfig withLineSearchTolerance(double t) { return new CgConfig(formula, lineSearch, restartEvery, gradientTolerance, t, maxLineSearchEvaluations); }

    public CgConfig withMaxLineSearchEvaluations(int n) { return new CgConfig(formula, lineSearch, restartEvery, gradientTolerance, lineSearchTolerance, n); }
}
