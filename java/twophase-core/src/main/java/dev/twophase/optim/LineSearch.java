package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * A search for a step {@code alpha > 0} along direction d from x0 that lowers the loss. On
 * success x holds {@code x0 + alpha * d}; with {@link Result#gradientAtX} the gradient buffer
 * holds the gradient there. On failure x is restored to x0, and g to the gradient at x0.
 */
abstract class LineSearch {
    /** The outcome: whether the loss decreased, the step, the loss there, and the evaluations spent. */
    record Result(boolean decreased, double alpha, double value, boolean gradientAtX, int evaluations) { }

    protected final VectorBackend backend;
    protected final Buffer x, x0, d, g;
    protected final int maxEvaluations;
    protected Objective objective;
    protected int evaluations;

    LineSearch(VectorBackend backend, Buffer x, Buffer x0, Buffer d, Buffer g, int maxEvaluations) {
        this.backend = backend;
        this.x = x;
        this.x0 = x0;
        this.d = d;
        this.g = g;
        this.maxEvaluations = maxEvaluations;
    }

    /** {@code gAtX0} holds the gradient at x0 whenever a search starts (CG's previous gradient). */
    static LineSearch create(CgConfig c, VectorBackend backend, Buffer x, Buffer x0, Buffer d, Buffer g, Buffer gAtX0) {
        return switch (c.lineSearch()) {
            case BRENT -> new BrentLineSearch(backend, x, x0, d, g, c.maxLineSearchEvaluations(), c.lineSearchTolerance());
            case STRONG_WOLFE -> new StrongWolfeLineSearch(backend, x, x0, d, g, gAtX0, c.maxLineSearchEvaluations());
        };
    }

    /**
     * Searches from x0 (where x also starts) with loss {@code f0} and slope {@code slope0 = g.d < 0},
     * starting with the trial step {@code alpha0 > 0}.
     */
    final Result search(Objective f, double f0, double slope0, double alpha0) {
        this.objective = f;
        this.evaluations = 0;
        Result r = run(f0, slope0, alpha0);
        if (!r.decreased()) {
            backend.copy(x0, x);
            undoFailure();
        }
        return r;
    }

    abstract Result run(double f0, double slope0, double alpha0);

    /** Puts back whatever else a failed search changed besides x (nothing, unless it wrote g). */
    protected void undoFailure() { }

    /** The loss at {@code x0 + alpha * d}; leaves x there. */
    protected double value(double alpha) {
        evaluations++;
        backend.trialPoint(x, x0, d, alpha);
        return objective.value(x);
    }

    protected boolean budgetLeft() { return evaluations < maxEvaluations; }
}
