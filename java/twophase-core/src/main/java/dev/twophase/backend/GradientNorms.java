package dev.twophase.backend;

/**
 * Result of a segmented norm reduction: the sum of squares of each tensor of the flat buffer
 * (accumulated in double), the total, and whether any element was NaN or infinite.
 */
public record GradientNorms(double[] sumOfSquares, double totalSumOfSquares, boolean nonFinite) {

    public GradientNorms {
        sumOfSquares = sumOfSquares.clone();
    }

    @Override public double[] sumOfSquares() { return sumOfSquares.clone(); }

    /** The L2 norm of the whole buffer. */
    public double total() { return Math.sqrt(totalSumOfSquares); }

    /** The L2 norm of tensor {@code i}. */
    public double norm(int i) { return Math.sqrt(sumOfSquares[i]); }

    public int tensorCount() { return sumOfSquares.length; }
}
