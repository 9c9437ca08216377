package dev.twophase.train;

import java.util.List;
import java.util.Locale;

/**
 * A training run as it ended: its name, switch rule, the last Adam epoch before CG took over (null
 * if none), the per-epoch records, Adam steps skipped for non-finite gradients, whether CG stalled
 * and handed back to Adam, and how and why the run ended.
 */
public record RunResult(String name, String switchRule, Integer switchEpoch, List<EpochRecord> epochs,
                        long skippedAdamSteps, boolean fellBackToAdam, Outcome outcome, String reason) {

    /** How a run ended. */
    public enum Outcome {
        /** All epochs ran. */
        COMPLETED,
        /** CG reached a zero gradient before the last epoch. */
        CONVERGED,
        /** The loss or the gradient became non-finite, or the loss exploded ({@link TrainSettings#divergenceFactor()}). */
        DIVERGED,
        /** A stop was requested (Ctrl-C) before the last epoch. */
        INTERRUPTED;

        /** The lowercase name used in reports: completed, converged, diverged, interrupted. */
        public String id() { return name().toLowerCase(Locale.ROOT); }
    }

    public RunResult {
        epochs = List.copyOf(epochs);
        if ((outcome == Outcome.COMPLETED) != (reason == null)) throw new IllegalArgumentException(outcome + " with reason " + reason);
    }

    /** The last record, or null for a run that recorded no epoch. */
    public EpochRecord last() { return epochs.isEmpty() ? null : epochs.get(epochs.size() - 1); }

    /** The epoch the run diverged at (0: at the initial weights), or null when it did not. */
    public Integer divergedEpoch() { return outcome != Outcome.DIVERGED ? null : epochs.isEmpty() ? 0 : last().epoch(); }
}
