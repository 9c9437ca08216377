package dev.twophase.experiment;

import dev.twophase.train.EpochRecord;
import dev.twophase.train.RunResult;

import java.util.List;
import java.util.Locale;

/**
 * The comparison at equal compute: the reference is the first run of Adam alone (rule
 * {@code never}); its total compute C and final training loss L. For every run: its training loss
 * after at most C of compute (the last epoch that ended within C), and the compute at the end of
 * the first epoch whose training loss was at or below L (null: it never got there). Compute is
 * {@link EpochRecord#evaluations}: forward+backward passes over the training set, line-search
 * forward passes at 1/3.
 */
public record EqualCompute(String referenceRun, double compute, double trainLoss) {

    /**
     * The reference from the first {@code never} run that finished an epoch and did not diverge (a
     * diverged loss is no target), or null if there is none.
     */
    public static EqualCompute of(List<RunResult> runs) {
        for (RunResult r : runs) {
            if (r.switchRule().equals("never") && r.last() != null && r.outcome() != RunResult.Outcome.DIVERGED) {
                return new EqualCompute(r.name(), r.last().evaluations(), r.last().trainLoss());
            }
        }
        return null;
    }

    /** The run's training loss after at most the reference's compute, or null if its first epoch already cost more. */
    public Double lossAtCompute(RunResult run) {
        Double loss = null;
        for (EpochRecord e : run.epochs()) {
            if (e.evaluations() > compute * (1 + 1e-12)) break;
            loss = e.trainLoss();
        }
        return loss;
    }

    /** The compute after which the run's training loss first reached the reference's final loss, or null if it never did. */
    public Double computeToLoss(RunResult run) {
        for (EpochRecord e : run.epochs()) if (e.trainLoss() <= trainLoss) return e.evaluations();
        return null;
    }

    /** The lines printed under the results table. */
    public String table(List<RunResult> runs) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "equal compute (reference: %s, %.1f passes, final train loss %s):%n",
                referenceRun, compute, Report.loss(trainLoss)));
        int width = Math.max(12, runs.stream().mapToInt(r -> r.name().length()).max().orElse(0));
        String row = "  %-" + width + "s %20s %26s%n";
        sb.append(String.format(Locale.ROOT, row, "run", "train loss at " + Math.round(compute), "passes to reach " + Report.loss(trainLoss)));
        for (RunResult r : runs) {
            Double at = lossAtCompute(r), to = computeToLoss(r);
            sb.append(String.format(Locale.ROOT, row, r.name(), at == null ? "-" : Report.loss(at),
                    to == null ? "never" : String.format(Locale.ROOT, "%.1f (%.2fx)", to, to / compute)));
        }
        return sb.toString();
    }
}
