package dev.twophase.backend;

import java.util.Arrays;

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

    @Override public boolean equals(Object o) {
        return o instanceof GradientNorms g && Arrays.equals(sumOfSquares, g.sumOfSquares)
                && Double.compare(totalSumOfSquares, g.totalSumOfSquares) == 0 && nonFinite == g.nonFinite;
    }

    @Override public int hashCode() { return Arrays.hashCode(sumOfSquares) * 31 + Double.hashCode(totalSumOfSquares) * 2 + (nonFinite ? 1 : 0); }

    /** The total norm, the per-tensor norms (the first 8 when there are more) and the non-finite flag. */
    @Override public String toString() {
        StringBuilder sb = new StringBuilder("GradientNorms[total=").append(total()).append(", tensors=[");
        int shown = Math.min(8, sumOfSquares.length);
        for (int i = 0; i < shown; i++) sb.append(i == 0 ? "" : ", ").append(norm(i));
        if (shown < sumOfSquares.length) sb.append(", ... ").append(sumOfSquares.length - shown).append(" more");
        return sb.append("], nonFinite=").append(nonFinite).append(']').toString();
    }
}
