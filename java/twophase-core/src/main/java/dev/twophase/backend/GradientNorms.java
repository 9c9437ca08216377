package dev.twophase.backend;

import java.util.Arrays;

/**
 * Result of a segmented norm reduction over the tensors of a flat buffer: the sum of squares of
 * each tensor (accumulated in double) and the total, the largest magnitude of each tensor and of
 * the whole buffer (its max-norm), and whether any element was NaN or infinite.
 *
 * <p>The maxima are exact (a maximum does not depend on the order it is taken in, so every backend
 * gives the same bits): {@code max |g_i|} over the tensor, 0 for an empty one, NaN when the tensor
 * holds a NaN, and +Infinity when it holds an infinity and no NaN (NaN propagates, as in
 * {@link Math#max}).
 */
public record GradientNorms(double[] sumOfSquares, double totalSumOfSquares, double[] maxAbs, double totalMaxAbs, boolean nonFinite) {

    /** Checks that there is one maximum per sum of squares. */
    public GradientNorms {
        sumOfSquares = sumOfSquares.clone();
        maxAbs = maxAbs.clone();
        if (maxAbs.length != sumOfSquares.length) {
            throw new IllegalArgumentException("GradientNorms: " + sumOfSquares.length + " sums of squares but " + maxAbs.length + " maxima");
        }
    }

    @Override public double[] sumOfSquares() { return sumOfSquares.clone(); }

    @Override public double[] maxAbs() { return maxAbs.clone(); }

    /** The L2 norm of the whole buffer. */
    public double total() { return Math.sqrt(totalSumOfSquares); }

    /** The L2 norm of tensor {@code i}. */
    public double norm(int i) { return Math.sqrt(sumOfSquares[i]); }

    /** The max-norm of the whole buffer: {@code max |g_i|} (NaN if any element is NaN). */
    public double maxNorm() { return totalMaxAbs; }

    /** The max-norm of tensor {@code i}. */
    public double maxNorm(int i) { return maxAbs[i]; }

    public int tensorCount() { return sumOfSquares.length; }

    @Override public boolean equals(Object o) {
        return o instanceof GradientNorms g && Arrays.equals(sumOfSquares, g.sumOfSquares)
                && Double.compare(totalSumOfSquares, g.totalSumOfSquares) == 0 && Arrays.equals(maxAbs, g.maxAbs)
                && Double.compare(totalMaxAbs, g.totalMaxAbs) == 0 && nonFinite == g.nonFinite;
    }

    @Override public int hashCode() {
        return ((Arrays.hashCode(sumOfSquares) * 31 + Double.hashCode(totalSumOfSquares)) * 31 + Arrays.hashCode(maxAbs)) * 31
                + Double.hashCode(totalMaxAbs) * 2 + (nonFinite ? 1 : 0);
    }

    /** The total norm and max-norm, the per-tensor norms (the first 8 when there are more) and the non-finite flag. */
    @Override public String toString() {
        StringBuilder sb = new StringBuilder("GradientNorms[total=").append(total()).append(", max=").append(totalMaxAbs).append(", tensors=[");
        int shown = Math.min(8, sumOfSquares.length);
        for (int i = 0; i < shown; i++) sb.append(i == 0 ? "" : ", ").append(norm(i));
        if (shown < sumOfSquares.length) sb.append(", ... ").append(sumOfSquares.length - shown).append(" more");
        return sb.append("], nonFinite=").append(nonFinite).append(']').toString();
    }
}
