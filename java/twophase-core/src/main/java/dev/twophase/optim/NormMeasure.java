package dev.twophase.optim;

import java.util.Locale;

/**
 * How the per-epoch gradient norm that the switch rule watches is obtained during Adam (the
 * paper leaves this open).
 * <ul>
 *   <li>{@code MINIBATCH_MEAN} (default): the mean of the mini-batch gradient norms Adam computed
 *       during the epoch. Free, and noisy in the way the paper's 0.9 tolerance is meant to absorb.</li>
 *   <li>{@code FULL_BATCH}: the norm of the full training-set gradient at the end of the epoch.
 *       Exact, and costs one gradient evaluation per epoch, which is counted as compute.</li>
 * </ul>
 */
public enum NormMeasure {
    MINIBATCH_MEAN("minibatch-mean"), FULL_BATCH("full-batch");

    private final String id;

    NormMeasure(String id) { this.id = id; }

    public String id() { return id; }

    public static NormMeasure parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (NormMeasure m : values()) if (m.id.equals(k)) return m;
        throw new IllegalArgumentException("unknown gradient-norm measure '" + s + "'; expected minibatch-mean or full-batch");
    }
}
