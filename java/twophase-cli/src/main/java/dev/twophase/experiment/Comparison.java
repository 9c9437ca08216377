package dev.twophase.experiment;

import dev.twophase.train.Trainer;
import dev.twophase.train.RunResult;
import dev.twophase.train.RunState;
import dev.twophase.train.TrainSettings;
import dev.twophase.train.Progress;
import dev.twophase.backend.Backend;
import dev.twophase.data.Dataset;
import dev.twophase.nn.Network;
import dev.twophase.optim.SwitchRule;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.HashSet;
import java.util.Set;

/**
 * Trains one network several times, from the same initial weights and with the same budget,
 * once per switch rule, and writes report.json, history.csv and the two figures into an
 * {@link OutputFolder}. The report is rewritten after every run (the first write also removes an
 * earlier run's figures, so the folder never shows figures of another report). A run that
 * diverges stops and is reported as such; the others continue. A stop request ({@link Interrupts})
 * ends the current run after its epoch; the report and the figures of what finished are still
 * written and the summary printed, so an interruption loses at most one epoch. With
 * {@link Checkpoints} it saves checkpoints as it goes, and continues one.
 */
public final class Comparison {
    /** The figures, in the order they are drawn. */
    public static final List<String> FIGURES = List.of("gradnorm-vs-loss.png", "loss-vs-compute.png");
    /** Every file a comparison writes into its folder. */
    public static final List<String> FILES = List.of(Report.JSON_FILE, Report.CSV_FILE, Checkpoint.FILE, FIGURES.get(0), FIGURES.get(1));

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
        Set<String> names = new HashSet<>();
        for (Run r : runs) {
            if (!names.add(r.name())) throw new IllegalArgumentException("run '" + r.name() + "' appears twice; each run needs its own name");
            SwitchRule.parse(r.rule()); // reject a bad rule before any training
        }
        this.backend = backend;
        this.backendReasons = backendReasons;
        this.net = net;
        this.data = data;
        this.settings = settings;
        this.runs = List.copyOf(runs);
        this.reportSettings = reportSettings;
    }

    /** The results, and whether a stop request cut the comparison short. */
    public record Outcome(List<RunResult> results, boolean interrupted) {
        /** The runs that diverged. */
        public List<RunResult> diverged() { return results.stream().filter(r -> r.outcome() == RunResult.Outcome.DIVERGED).toList(); }
    }

    /**
     * Runs the plan into {@code out}, or what is left of it when {@code checkpoints} resumes one
     * (whose runs must be this plan's), saving checkpoints as they say.
     */
    public Outcome execute(OutputFolder out, Interrupts interrupts, Progress progress, PrintStream console, Checkpoints checkpoints) throws IOException {
        Trainer trainer = new Trainer(backend, settings);
        interrupts.onStop(trainer::requestStop);
        interrupts.onQuit(() -> checkpoints.quitNote(out));
        List<RunResult> results = new ArrayList<>(checkpoints.finished());
        Written written = new Written();
        Throwable failure = null;
        try {
            if (checkpoints.resuming()) {
                // The folder may hold a report newer or older than the checkpoint: start from the checkpoint's.
                out.delete(FIGURES.toArray(String[]::new));
                written.report(out, checkpoints.resumedReport());
            }
            boolean reported = checkpoints.resuming();
            for (int i = results.size(); i < runs.size(); i++) {
                Run r = runs.get(i);
                if (trainer.stopRequested()) {
                    RunState saved = checkpoints.start(i); // stopped before a resumed run went on: it stands as saved
                    if (saved != null) results.add(saved.soFar());
                    break;
                }
                RunResult result;
                try {
                    result = trainer.run(r.name(), SwitchRule.parse(r.rule()), net, data.train(), data.validation(), progress,
                            checkpoints.start(i), checkpoints.during(out, results));
                } catch (UncheckedIOException e) {
                    throw e.getCause(); // a checkpoint could not be written
                }
                results.add(result);
                if (result.outcome() != RunResult.Outcome.INTERRUPTED) checkpoints.runEnded(out, results);
                if (result.outcome() == RunResult.Outcome.DIVERGED) {
                    console.println("  " + r.name() + ": diverged at epoch " + result.divergedEpoch() + ": " + result.reason() + "; stopped this run");
                }
                if (!reported) {
                    out.delete(FIGURES.toArray(String[]::new));
                    checkpoints.beforeReport(out);
                    reported = true;
                }
                written.report(out, results);
            }
            if (!results.isEmpty()) {
                // The norm-vs-loss figure shows the first run that swapped, else the first run.
                RunResult shown = results.stream().filter(r -> r.switchEpoch() != null).findFirst().orElse(results.get(0));
                console.println("drawing " + String.join(" and ", FIGURES));
                console.flush();
                Plots.gradientNormVersusLoss(out, FIGURES.get(0), shown);
                written.figures.add(FIGURES.get(0));
                Plots.lossVersusCompute(out, FIGURES.get(1), results);
                written.figures.add(FIGURES.get(1));
            }
        } catch (Throwable t) {
            failure = t;
            throw t;
        } finally {
            printSummary(console, out, results, trainer.stopRequested(), interrupts.signal(), checkpoints, failure == null ? null : written);
        }
        return new Outcome(results, trainer.stopRequested());
    }

    /** What this comparison wrote: the runs the report on disk holds (null: none written), the figures drawn. */
    private final class Written {
        List<String> reported;
        final List<String> figures = new ArrayList<>();

        void report(OutputFolder out, List<RunResult> runs) throws IOException {
            Report.write(out, backend.name(), backendReasons, settings.seed(), reportSettings, runs);
            reported = runs.stream().map(RunResult::name).toList();
        }

        /**
         * "failed: wrote OUT/report.json and history.csv (runs adam); not written: the figures",
         * then what the checkpoint in the folder holds, if any.
         */
        void print(PrintStream console, OutputFolder out, Checkpoints checkpoints) {
            List<String> wrote = new ArrayList<>(), not = new ArrayList<>();
            (reported == null ? not : wrote).add(out.resolve(Report.JSON_FILE) + " and " + Report.CSV_FILE + (reported == null ? ""
                    : " (" + (reported.isEmpty() ? "no run" : (reported.size() == 1 ? "run " : "runs ") + String.join(", ", reported)) + ")"));
            for (String f : FIGURES) (figures.contains(f) ? wrote : not).add(f);
            console.println("failed (the error follows): " + (wrote.isEmpty() ? "nothing written to " + out.dir() : "wrote " + String.join(", ", wrote))
                    + (not.isEmpty() ? "" : "; not written: " + String.join(", ", not)));
            String kept = checkpoints.kept();
            console.println(kept == null ? Checkpoints.noCheckpoint(out)
                    : "kept: " + out.resolve(Checkpoint.FILE) + " (" + kept + "); 'twophase resume " + out.dir() + "' continues from there once the error is fixed");
        }
    }

    private void printSummary(PrintStream console, OutputFolder out, List<RunResult> results, boolean interrupted, String signal, Checkpoints checkpoints,
                              Written failed) {
        console.println();
        console.print(Report.table(results));
        EqualCompute eq = EqualCompute.of(results);
        if (eq != null) console.print(eq.table(results));
        for (RunResult r : results) {
            if (r.switchEpoch() != null) {
                console.println(r.name() + ": swapped to CG after epoch " + r.switchEpoch() + (r.fellBackToAdam() ? " (CG stalled later; finished with Adam)" : ""));
            } else if (!r.switchRule().equals("never") && r.outcome() == RunResult.Outcome.COMPLETED) {
                console.println(r.name() + ": the rule " + r.switchRule() + " did not switch within " + settings.epochs() + (settings.epochs() == 1 ? " epoch" : " epochs"));
            }
            if (r.skippedAdamSteps() > 0) console.println(r.name() + ": skipped " + r.skippedAdamSteps() + " Adam steps with non-finite gradients");
            if (r.outcome() != RunResult.Outcome.COMPLETED) console.println(r.name() + ": " + Report.outcome(r) + ": " + r.reason());
        }
        if (failed != null) {
            failed.print(console, out, checkpoints);
        } else if (results.isEmpty()) {
            console.println((interrupted ? "interrupted" + (signal != null ? " (" + signal + ")" : "") + " before" : "no") + " run finished an epoch; "
                    + out.dir() + " is unchanged");
        } else if (interrupted) {
            console.println("interrupted" + (signal != null ? " (" + signal + ")" : "") + ": " + out.resolve(Report.JSON_FILE)
                    + ", " + Report.CSV_FILE + " and the figures hold the epochs finished so far");
            if (checkpoints.saved()) console.println("to continue: twophase resume " + out.dir());
        } else {
            console.println("wrote " + out.resolve(Report.JSON_FILE) + ", " + Report.CSV_FILE + ", " + String.join(", ", FIGURES));
        }
        String written = checkpoints.summary();
        if (written != null) console.println(written);
        console.flush();
    }
}
