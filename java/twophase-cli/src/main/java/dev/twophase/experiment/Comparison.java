package dev.twophase.experiment;

import dev.twophase.train.Trainer;
import dev.twophase.train.RunResult;
import dev.twophase.train.TrainSettings;
import dev.twophase.train.Progress;
import dev.twophase.backend.Backend;
import dev.twophase.data.Dataset;
import dev.twophase.nn.Network;
import dev.twophase.optim.SwitchRule;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Trains one network several times, from the same initial weights and with the same budget,
 * once per switch rule, and writes report.json, history.csv and the two figures. The report is
 * rewritten after every run, and Ctrl-C stops the current run after its epoch and writes what
 * was finished, so an interruption loses at most one epoch.
 */
public final class Comparison {
    /** A run: its name in the report and its switch rule ({@link SwitchRule#parse} form). */
    public record Run(String name, String rule) { }

    private final Backend backend;
    private final List<String> backendReasons;
    private final Network net;
    private final Dataset.Split data;
    private final TrainSettings settings;
    private final List<Run> runs;
    private final Map<String, Object> reportSettings;

    public Comparison(Backend backend, List<String> backendReasons, Network net, Dataset.Split data, TrainSettings settings,
                      List<Run> runs, Map<String, Object> reportSettings) {
        for (Run r : runs) SwitchRule.parse(r.rule()); // reject a bad rule before any training
        this.backend = backend;
        this.backendReasons = backendReasons;
        this.net = net;
        this.data = data;
        this.settings = settings;
        this.runs = List.copyOf(runs);
        this.reportSettings = reportSettings;
    }

    /** The results, and whether Ctrl-C cut the comparison short. */
    public record Outcome(List<RunResult> results, boolean interrupted) { }

    public Outcome execute(Path out, Progress progress, PrintStream console) throws IOException {
        Trainer trainer = new Trainer(backend, settings);
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            trainer.requestStop();
            try { finished.await(); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        List<RunResult> results = new ArrayList<>();
        boolean interrupted;
        try {
            for (Run r : runs) {
                if (trainer.stopRequested()) break;
                results.add(trainer.run(r.name(), SwitchRule.parse(r.rule()), net, data.train(), data.validation(), progress));
                Report.write(out, backend.name(), backendReasons, settings.seed(), reportSettings, results);
            }
            interrupted = trainer.stopRequested();
            // Java2D registers shutdown hooks of its own, so no figures once Ctrl-C has started the shutdown.
            if (!interrupted) {
                // The norm-vs-loss figure shows the first run that swapped, else the first run.
                RunResult shown = results.stream().filter(r -> r.switchEpoch() != null).findFirst().orElse(results.isEmpty() ? null : results.get(0));
                if (shown != null) Plots.gradientNormVersusLoss(out.resolve("gradnorm-vs-loss.png"), shown);
                Plots.lossVersusCompute(out.resolve("loss-vs-compute.png"), results);
            }
            printSummary(console, out, results, interrupted);
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // Ctrl-C: the hook is running and finds the latch open.
            }
        }
        return new Outcome(results, interrupted);
    }

    private void printSummary(PrintStream console, Path out, List<RunResult> results, boolean interrupted) {
        console.println();
        console.print(Report.table(results));
        EqualCompute eq = EqualCompute.of(results);
        if (eq != null) console.print(eq.table(results));
        for (RunResult r : results) {
            if (r.switchEpoch() != null) {
                console.println(r.name() + ": swapped to CG after epoch " + r.switchEpoch() + (r.fellBackToAdam() ? " (CG stalled later; finished with Adam)" : ""));
            } else if (!r.switchRule().equals("never")) {
                console.println(r.name() + ": the rule " + r.switchRule() + " did not switch within " + settings.epochs() + " epochs");
            }
            if (r.skippedAdamSteps() > 0) console.println(r.name() + ": skipped " + r.skippedAdamSteps() + " Adam steps with non-finite gradients");
        }
        if (interrupted) {
            console.println("interrupted: " + out.resolve("report.json") + " and history.csv hold the epochs finished so far (no figures)");
        } else {
            console.println("wrote " + out.resolve("report.json") + ", history.csv, gradnorm-vs-loss.png, loss-vs-compute.png");
        }
        console.flush();
    }
}
