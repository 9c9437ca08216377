package dev.twophase.cli;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Backends;
import dev.twophase.data.Dataset;
import dev.twophase.data.Digits;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Network;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.CgFormula;
import dev.twophase.optim.LineSearchKind;
import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.SwitchRule;
import dev.twophase.train.Plots;
import dev.twophase.train.Progress;
import dev.twophase.train.Report;
import dev.twophase.train.RunResult;
import dev.twophase.train.TrainSettings;
import dev.twophase.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * Trains the same network from the same initial weights with the same budget under several
 * switch rules (by default Adam alone, and the two-phase method with the paper's peak rule),
 * prints a Table-1-style comparison and writes report.json, history.csv and two PNG figures.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs Adam alone and the two-phase method (Adam, then CG) side by side from the same initial weights",
                "and with the same number of epochs; prints the paper's Table 1 columns and writes",
                "OUT/report.json, OUT/history.csv, OUT/gradnorm-vs-loss.png and OUT/loss-vs-compute.png."})
public final class CompareCommand implements Callable<Integer> {

    @Option(names = "--dataset", description = "Data set: digits (bundled, 1,797 8x8 images, fixed 80/20 split). Default: ${DEFAULT-VALUE}.")
    String dataset = "digits";

    @Option(names = "--hidden", split = ",", description = "Hidden layer widths of the MLP, comma-separated. Default: 64,64.")
    int[] hidden = {64, 64};

    @Option(names = "--activation", description = "Hidden activation: relu, tanh, sigmoid, gelu. Default: ${DEFAULT-VALUE}.")
    String activation = "tanh";

    @Option(names = "--output-activation", description = "Output activation: identity, sigmoid, tanh. Default: ${DEFAULT-VALUE}.")
    String outputActivation = "identity";

    @Option(names = "--loss", description = "mse (the paper's, on one-hot targets) or cross-entropy. Default: ${DEFAULT-VALUE}.")
    String loss = "mse";

    @Option(names = "--epochs", description = "Epochs per run: one Adam epoch is a pass of mini-batches, one CG epoch is one full-batch iteration. Default: ${DEFAULT-VALUE}.")
    int epochs = 400;

    @Option(names = "--batch-size", description = "Adam mini-batch size (the paper's 512). Default: ${DEFAULT-VALUE}.")
    int batchSize = 512;

    @Option(names = "--lr", description = "Adam learning rate. Default: ${DEFAULT-VALUE}.")
    double lr = 1e-3;

    @Option(names = "--runs", split = ",", description = "Runs to compare, by switch rule: adam (=never), two-phase (=the --switch rule), cg-only, or any rule such as epoch:100. Default: adam,two-phase.")
    List<String> runs = List.of("adam", "two-phase");

    @Option(names = "--switch", description = "Switch rule of the two-phase run: peak[:TOLERANCE[:SMOOTHING]] (the paper's Algorithm 1 with tolerance 0.9), epoch:N, never, cg-only. Default: ${DEFAULT-VALUE}.")
    String switchRule = "peak:0.9";

    @Option(names = "--norm", description = "Per-epoch gradient norm the peak rule watches: minibatch-mean (free) or full-batch (one extra gradient per epoch). Default: ${DEFAULT-VALUE}.")
    String norm = "minibatch-mean";

    @Option(names = "--cg", description = "CG formula: pr+ (Polak-Ribiere+), fr (Fletcher-Reeves), hs (Hestenes-Stiefel). Default: ${DEFAULT-VALUE}.")
    String cgFormula = "pr+";

    @Option(names = "--line-search", description = "brent (the paper's bracketing + Brent/golden section) or wolfe (strong Wolfe). Default: ${DEFAULT-VALUE}.")
    String lineSearch = "brent";

    @Option(names = "--ls-tolerance", description = "Relative tolerance of the Brent line search. Default: ${DEFAULT-VALUE}.")
    double lsTolerance = CgConfig.defaults().lineSearchTolerance();

    @Option(names = "--restart-every", description = "Restart CG to steepest descent every N iterations (0: only on non-descent). Default: ${DEFAULT-VALUE}.")
    int restartEvery = 0;

    @Option(names = "--seed", description = "Seed for initial weights and mini-batch order. Default: ${DEFAULT-VALUE}.")
    long seed = 1;

    @Option(names = "--backend", description = "auto, cpu, jcuda or ffm. Default: ${DEFAULT-VALUE}.")
    String backend = "auto";

    @Option(names = "--threads", description = "CPU worker threads. Default: all processors.")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--out", description = "Output folder. Default: ${DEFAULT-VALUE}.")
    Path out = Path.of("out");

    @Option(names = "--quiet", description = "No progress lines.")
    boolean quiet;

    @Override public Integer call() throws Exception {
        Dataset.Split split = loadData();
        Activation act = Activation.parse(activation), outAct = Activation.parse(outputActivation);
        Loss lossFn = Loss.parse(loss);
        Network net = Network.mlp(split.train().features(), hidden, split.train().classes(), act, outAct);
        CgConfig cg = CgConfig.defaults().withFormula(CgFormula.parse(cgFormula)).withLineSearch(LineSearchKind.parse(lineSearch))
                .withLineSearchTolerance(lsTolerance).withRestartEvery(restartEvery);
        TrainSettings settings = new TrainSettings(epochs, batchSize, seed, AdamConfig.adam().withLr(lr), cg, NormMeasure.parse(norm), lossFn);
        List<String[]> plan = new ArrayList<>();
        for (String r : runs) plan.add(runSpec(r));
        for (String[] p : plan) SwitchRule.parse(p[1]); // reject a bad rule before any training

        Backends.Selection sel = Backends.select(backend, threads);
        try (Backend be = sel.backend()) {
            System.out.println("twophase compare: " + split.train().name() + " " + split.train().size() + " / " + split.validation().name() + " " + split.validation().size());
            System.out.println("  model   " + net.describe());
            System.out.println("  backend " + be.description());
            System.out.println("  runs    " + String.join(", ", plan.stream().map(p -> p[0] + " (" + p[1] + ")").toList()) + ", " + epochs + " epochs each, loss " + lossFn.id());
            Trainer trainer = new Trainer(be, settings);
            CountDownLatch finished = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                trainer.requestStop();
                try { finished.await(); } catch (InterruptedException ignored) { Thread.currentThread().interrupt(); }
            });
            Runtime.getRuntime().addShutdownHook(hook);
            List<RunResult> results = new ArrayList<>();
            try {
                Progress progress = quiet ? Progress.none() : Progress.console(System.out, 8);
                for (String[] p : plan) {
                    if (trainer.stopRequested()) break;
                    results.add(trainer.run(p[0], SwitchRule.parse(p[1]), net, split.train(), split.validation(), progress));
                }
                Report.write(out, be.name(), sel.reasons(), seed, settingsMap(net, settings, be), results);
                // The norm-vs-loss figure shows the first run that swapped, else the first run.
                RunResult shown = results.stream().filter(r -> r.switchEpoch() != null).findFirst()
                        .orElse(results.isEmpty() ? null : results.get(0));
                if (shown != null) Plots.gradientNormVersusLoss(out.resolve("gradnorm-vs-loss.png"), shown);
                Plots.lossVersusCompute(out.resolve("loss-vs-compute.png"), results);
            } finally {
                finished.countDown();
            }
            if (!trainer.stopRequested()) Runtime.getRuntime().removeShutdownHook(hook);
            System.out.println();
            System.out.print(Report.table(results));
            for (RunResult r : results) {
                if (r.switchEpoch() != null) System.out.println(r.name() + ": swapped to CG after epoch " + r.switchEpoch() + (r.fellBackToAdam() ? " (CG stalled later; finished with Adam)" : ""));
                else if (!r.switchRule().equals("never")) System.out.println(r.name() + ": the rule " + r.switchRule() + " did not switch within " + epochs + " epochs");
                if (r.skippedAdamSteps() > 0) System.out.println(r.name() + ": skipped " + r.skippedAdamSteps() + " Adam steps with non-finite gradients");
            }
            System.out.println("wrote " + out.resolve("report.json") + ", history.csv, gradnorm-vs-loss.png, loss-vs-compute.png");
            if (trainer.stopRequested()) System.out.println("interrupted: the report holds the epochs finished so far");
        }
        return 0;
    }

    private Dataset.Split loadData() {
        if (!dataset.equals("digits")) throw new IllegalArgumentException("unknown dataset '" + dataset + "'; expected digits");
        return Digits.loadSplit();
    }

    /** {name, rule} for a --runs entry. */
    private String[] runSpec(String r) {
        return switch (r.trim()) {
            case "adam" -> new String[]{"adam", "never"};
            case "two-phase" -> new String[]{"two-phase", switchRule};
            case "cg-only" -> new String[]{"cg-only", "cg-only"};
            default -> new String[]{r.trim(), r.trim()};
        };
    }

    private Map<String, Object> settingsMap(Network net, TrainSettings s, Backend be) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dataset", dataset);
        m.put("model", net.describe());
        m.put("parameters", net.layout().size());
        m.put("hidden", Arrays.stream(hidden).boxed().toList());
        m.put("activation", activation);
        m.put("outputActivation", outputActivation);
        m.put("loss", s.loss().id());
        m.put("epochs", s.epochs());
        m.put("batchSize", s.batchSize());
        m.put("adam", s.adam());
        m.put("cg", Map.of("formula", s.cg().formula().id(), "lineSearch", s.cg().lineSearch().id(),
                "lineSearchTolerance", s.cg().lineSearchTolerance(), "restartEvery", s.cg().restartEvery(),
                "gradientTolerance", s.cg().gradientTolerance()));
        m.put("switchRule", switchRule);
        m.put("normMeasure", s.normMeasure().id());
        m.put("backendDescription", be.description());
        return m;
    }
}
