package dev.twophase.optim;

/**
 * A loss, gradient or gradient norm that is NaN or infinite where the optimizer cannot step
 * around it: at the current point of CG (a trial point's non-finite value is only a step too
 * long), or a switch rule's per-epoch gradient norm. Says which quantity, where, and the value.
 */
public final class NonFiniteException extends ArithmeticException {
    private final String quantity;
    private final long iteration;
    private final double value;

    /**
     * @param quantity  what was not finite: {@code "loss"}, {@code "gradient"} or {@code "gradient norm"}
     * @param where     the counter the iteration refers to, for the message (e.g. {@code "CG iteration"}, {@code "epoch"})
     * @param iteration that counter's value
     * @param value     the offending value (for a gradient: the non-finite slope or squared norm it produced)
     */
    public NonFiniteException(String quantity, String where, long iteration, double value) {
        super(quantity + " is " + value + " at " + where + " " + iteration);
        this.quantity = quantity;
        this.iteration = iteration;
        this.value = value;
    }

    /** {@code "loss"}, {@code "gradient"} or {@code "gradient norm"}. */
    public String quantity() { return quantity; }

    public long iteration() { return iteration; }

    public double value() { return value; }
}
