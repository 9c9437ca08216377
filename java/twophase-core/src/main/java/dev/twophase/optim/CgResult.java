package dev.twophase.optim;

/**
 * The outcome of {@link ConjugateGradient#minimize}: why it stopped, the work done, and where it
 * ended. {@code valueCalls} counts {@link Objective#value} calls, {@code valueAndGradientCalls}
 * counts {@link Objective#valueAndGradient} calls, the same for every line search.
 */
public record CgResult(Status status, String reason, long iterations, long valueCalls, long valueAndGradientCalls,
                       double loss, double gradientNorm, double gradientMaxNorm) {

    /** Which stopping test ended the run. */
    public enum Status {
        /** The gradient norm met the tolerance. */
        GRADIENT_TOLERANCE,
        /** An iteration lowered the loss by less than the relative threshold. */
        LOSS_CHANGE,
        MAX_ITERATIONS,
        /** The next iteration would have needed more evaluations than the budget had left. */
        MAX_EVALUATIONS,
        /** The listener returned false. */
        LISTENER,
        /**
         * Not even steepest descent found a lower loss: float32 resolution, a non-smooth point,
         * non-finite values, or a gradient that does not match the loss; the reason says which the
         * trials point to.
         */
        STALLED;

        /** True for the statuses that mean a minimum was reached to the requested accuracy. */
        public boolean converged() { return this == GRADIENT_TOLERANCE || this == LOSS_CHANGE; }
    }

    /** Objective calls of both kinds. */
    public long evaluations() { return valueCalls + valueAndGradientCalls; }
}
