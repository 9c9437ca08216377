package dev.twophase.cli;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Backends;
import dev.twophase.data.Dataset;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.experiment.Comparison;
import dev.twophase.train.Progress;
import dev.twophase.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
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
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs Adam alone and the two-phase method (Adam, then CG) side by side from the same initial weights",
                "and with the same number of epochs; prints the paper's Table 1 columns and writes",
                "OUT/report.json, OUT/history.csv, OUT/gradnorm-vs-loss.png and OUT/loss-vs-compute.png.",
                "Defaults: --dataset digits --model mlp --hidden 64,64 --epochs 1000 --switch rise-peak:0.9:0.9 --line-search more-thuente --out out."})
public final class CompareCommand implements Callable<Integer> {
    /**
     * The two-phase run's rule: the peak of the norm smoothed over about ten epochs (EMA 0.9), armed
     * once it has risen 1/0.9 above its running minimum, left 10% below the peak. Chosen from the
     * runs in the README: it does not fire on the initial fall nor on mini-batch noise.
     */
    static final String DEFAULT_RULE = "rise-peak:0.9:0.9";

    @Mixin ExperimentOptions opt;

    @Option(names = "--runs", split = ",", description = "Runs to compare: adam (=never), two-phase (=the --switch rule), cg-only, or any rule such as epoch:100. Default: adam,two-phase.")
    List<String> runs = List.of("adam", "two-phase");

    @Override public Integer call() throws Exception {
        Dataset.Split data = opt.loadData("digits", 0, 0);
        Network net = opt.network("mlp", data.train());
        TrainSettings settings = opt.settings(1000);
        String rule = ExperimentOptions.or(opt.switchRule, DEFAULT_RULE);
        List<Comparison.Run> plan = runs.stream().map(r -> run(r.trim(), rule)).toList();
        execute(opt, net, data, settings, plan, rule, Map.of(), Path.of("out"), 8);
        return 0;
    }

    /**
     * Opens the backend, prints the header, runs the plan with progress ({@code progressLines}
     * lines per run) and writes the report to {@code --out} or {@code defaultOut}; {@code extra}
     * entries join the report's description.
     */
    static void execute(ExperimentOptions opt, Network net, Dataset.Split data, TrainSettings settings, List<Comparison.Run> plan,
                        String rule, Map<String, Object> extra, Path defaultOut, int progressLines) throws IOException {
        Backends.Selection sel = Backends.select(ExperimentOptions.or(opt.backend, "auto"), opt.threads());
        try (Backend be = sel.backend()) {
            Map<String, Object> described = opt.describe(net, data, settings, be, rule);
            described.putAll(extra);
            Comparison c = new Comparison(be, sel.reasons(), net, data, settings, plan, described);
            printHeader(net, data, settings, be, plan);
            c.execute(ExperimentOptions.or(opt.out, defaultOut), opt.quiet ? Progress.none() : Progress.console(System.out, progressLines), System.out);
        }
    }

    static Comparison.Run run(String r, String twoPhaseRule) {
        return switch (r) {
            case "adam" -> new Comparison.Run("adam", "never");
            case "two-phase" -> new Comparison.Run("two-phase", twoPhaseRule);
            case "cg-only" -> new Comparison.Run("cg-only", "cg-only");
            default -> new Comparison.Run(r, r);
        };
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
