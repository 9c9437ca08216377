package dev.twophase.train;

import java.util.List;

/**
 * A finished (or interrupted) training run: its name, switch rule, the last Adam epoch before CG
 * took over (null if none), the per-epoch records, Adam steps skipped for non-finite gradients,
 * and whether CG stalled and handed back to Adam.
 */
public record RunResult(String name, String switchRule, Integer switchEpoch, List<EpochRecord> epochs,
                        long skippedAdamSteps, boolean fellBackToAdam) {

    public RunResult {
        epochs = List.copyOf(epochs);
    }

    /** The last record, or null for a run that recorded no epoch. */
    public EpochRecord last() { return epochs.isEmpty() ? null : epochs.get(epochs.size() - 1); }
}
