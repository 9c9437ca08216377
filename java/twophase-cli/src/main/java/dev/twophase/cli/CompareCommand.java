package dev.twophase.cli;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Backends;
import dev.twophase.data.Dataset;
import dev.twophase.experiment.Comparison;
import dev.twophase.experiment.Interrupts;
import dev.twophase.experiment.OutputFolder;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.optim.CgConfig;
import dev.twophase.train.Progress;
import dev.twophase.train.RunResult;
import dev.twophase.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Trains the same network from the same initial weights with the same budget under several
 * switch rules (by default Adam alone, and the two-phase method with the paper's peak rule),
 * prints a Table-1-style comparison and writes report.json, history.csv and two PNG figures.
 * Defaults: the bundled digits, an MLP 64-64-64-10 with tanh, MSE, 1000 epochs, batch 512, the
 * switch rule {@code rise-peak:0.9:0.9}, CG with {@link dev.twophase.optim.CgConfig#defaults()}.
 * The default command ({@code twophase} without a command) is this one, with the same options.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs Adam alone and the two-phase method (Adam, then CG) side by side from the same initial weights",
                "and with the same number of epochs; prints the paper's Table 1 columns and writes",
                "OUT/report.json, OUT/history.csv, OUT/gradnorm-vs-loss.png and OUT/loss-vs-compute.png.",
                "Defaults: --dataset digits --model mlp --hidden 64,64 --epochs 1000 --switch rise-peak:0.9:0.9 --line-search more-thuente --out out.",
                "Exit status: 0 success, 1 failure, 2 bad input, 3 a run diverged, 130 interrupted."})
public final class CompareCommand implements Callable<Integer> {
    /**
     * The two-phase run's rule: the peak of the norm smoothed over about ten epochs (EMA 0.9), armed
     * once it has risen 1/0.9 above its running minimum, left 10% below the peak. Chosen from the
     * runs in the README: it does not fire on the initial fall nor on mini-batch noise.
     */
    static final String DEFAULT_RULE = "rise-peak:0.9:0.9";

    @Mixin ExperimentOptions opt;

    @Mixin RunsOption runs;

    @Spec CommandSpec spec;

    /** Where a command's defaults differ: data, model, epochs, CG settings, output folder, progress lines per run. */
    record Defaults(String dataset, int trainSize, int valSize, String model, int epochs, CgConfig cg, Path out, int progressLines) { }

    static final Defaults COMPARE = new Defaults("digits", 0, 0, "mlp", 1000, CgConfig.defaults(), Path.of("out"), 8);

    @Override public Integer call() throws Exception { return compare(opt, runs, spec.commandLine().getErr()); }

    /** compare with these options; also the default command's body. */
    static int compare(ExperimentOptions opt, RunsOption runs, PrintWriter err) throws Exception {
        opt.validate(COMPARE.dataset(), COMPARE.model());
        String rule = ExperimentOptions.or(opt.switchRule, DEFAULT_RULE);
        return execute(opt, COMPARE, runs.plan(rule), rule, Map.of(), err);
    }

    /**
     * Runs a validated plan: takes the output folder (created, checked, locked), loads the data,
     * builds the model, opens the backend, trains with progress and writes the report; returns the
     * exit status ({@link ExitStatus}), with one line on {@code err} naming the runs that diverged.
     */
    static int execute(ExperimentOptions opt, Defaults defaults, List<Comparison.Run> plan, String rule, Map<String, Object> extra,
                       PrintWriter err) throws Exception {
        TrainSettings settings = opt.settings(defaults.epochs(), defaults.cg());
        try (OutputFolder out = OutputFolder.open(ExperimentOptions.or(opt.out, defaults.out()), "--out");
             Interrupts interrupts = Interrupts.install(System.out)) {
            Dataset.Split data = opt.loadData(defaults.dataset(), defaults.trainSize(), defaults.valSize());
            Network net = opt.network(defaults.model(), data.train());
            Backends.Selection sel = Backends.select(ExperimentOptions.or(opt.backend, "auto"), opt.threads());
            Comparison.Outcome outcome;
            try (Backend be = sel.backend()) {
                Map<String, Object> described = opt.describe(net, data, settings, be, rule);
                described.putAll(extra);
                Comparison c = new Comparison(be, sel.reasons(), net, data, settings, plan, described);
                printHeader(net, data, settings, be, plan);
                outcome = c.execute(out, interrupts, opt.quiet ? Progress.none() : Progress.console(System.out, defaults.progressLines()), System.out);
            }
            List<RunResult> diverged = outcome.diverged();
            if (!diverged.isEmpty()) {
                err.println("twophase: diverged: " + String.join("; ", diverged.stream()
                        .map(r -> r.name() + " at epoch " + r.divergedEpoch() + " (" + r.reason() + ")").toList()));
                err.flush();
            }
            return outcome.interrupted() ? ExitStatus.INTERRUPTED : diverged.isEmpty() ? ExitStatus.SUCCESS : ExitStatus.DIVERGED;
        }
    }

    static void printHeader(Network net, Dataset.Split data, TrainSettings s, Backend be, List<Comparison.Run> plan) {
        System.out.printf(Locale.ROOT, "twophase: %s %d / %s %d%n", data.train().name(), data.train().size(), data.validation().name(), data.validation().size());
        System.out.printf(Locale.ROOT, "  model   %s, Q = K*M/P = %.1f%n", net.describe(),
                Models.overdetermination(data.train().size(), data.train().classes(), net.layout().size()));
        System.out.println("  backend " + be.description());
        System.out.println("  runs    " + String.join(", ", plan.stream().map(p -> p.name() + " (" + p.rule() + ")").toList())
                + ", " + s.epochs() + " epochs each, batch " + s.batchSize() + ", loss " + s.loss().id());
    }
}
