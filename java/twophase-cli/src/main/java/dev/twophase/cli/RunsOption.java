package dev.twophase.cli;

import dev.twophase.experiment.Comparison;
import dev.twophase.optim.SwitchRule;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The {@code --runs} option of compare (and of the default command): a strict comma-separated list of runs. */
final class RunsOption {
    static final String DEFAULT = "adam,two-phase";

    @Option(names = "--runs", description = "Runs to compare, comma-separated, each once: adam (=never), two-phase (=the --switch rule), cg-only,"
            + " or any rule such as epoch:100. Default: " + DEFAULT + ".")
    String runs;

    /**
     * The runs, in order: every element parsed, none empty, no name twice; anything else is an
     * {@link IllegalArgumentException} naming {@code --runs}.
     */
    List<Comparison.Run> plan(String twoPhaseRule) {
        String spec = runs == null ? DEFAULT : runs;
        String[] parts = spec.split(",", -1);
        List<Comparison.Run> plan = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < parts.length; i++) {
            String name = parts[i].strip();
            if (name.isEmpty()) {
                throw new IllegalArgumentException("--runs '" + spec + "': run " + (i + 1) + " of " + parts.length
                        + " is empty; expected a comma-separated list such as adam,two-phase,cg-only,epoch:100");
            }
            if (!seen.add(name)) throw new IllegalArgumentException("--runs '" + spec + "': '" + name + "' appears twice; each run needs its own name");
            Comparison.Run run = run(name, twoPhaseRule);
            try {
                SwitchRule.parse(run.rule());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--runs '" + spec + "': " + e.getMessage(), e);
            }
            plan.add(run);
        }
        return plan;
    }

    /** A run by name: adam, two-phase and cg-only are names for rules; anything else is a rule named by itself. */
    static Comparison.Run run(String r, String twoPhaseRule) {
        return switch (r) {
            case "adam" -> new Comparison.Run("adam", "never");
            case "two-phase" -> new Comparison.Run("two-phase", twoPhaseRule);
            case "cg-only" -> new Comparison.Run("cg-only", "cg-only");
            default -> new Comparison.Run(r, r);
        };
    }
}
