package dev.twophase.cli;

import dev.twophase.experiment.Comparison;

import java.util.List;
import java.util.Map;

/**
 * A command that trains a comparison: compare, repro and the default command. {@code resume}
 * parses the command line a checkpoint recorded into one of these again and runs its
 * {@link #job()} from the checkpoint.
 */
interface TrainingCommand {

    /** The command's plan: checks every option first (an {@link IllegalArgumentException} naming it) and fills in its defaults. */
    Job job();

    /**
     * A comparison as a command describes it: the shared options, the command's defaults, the runs,
     * the two-phase run's rule, what the report adds to its settings, the command's own options by
     * name (for checkpoints: --runs; repro's MODEL, --scale, --no-cg-only), and what to print after
     * the summary.
     */
    record Job(ExperimentOptions opt, CompareCommand.Defaults defaults, List<Comparison.Run> plan, String rule, Map<String, Object> reportExtra,
               Map<String, String> commandOptions, Runnable epilogue) { }
}
