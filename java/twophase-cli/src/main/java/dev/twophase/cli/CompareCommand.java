package dev.twophase.cli;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Backends;
import dev.twophase.data.Dataset;
import dev.twophase.experiment.Checkpoint;
import dev.twophase.experiment.CheckpointPolicy;
import dev.twophase.experiment.Checkpoints;
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

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Trains the same network from the same initial weights with the same budget under several
 * switch rules (by default Adam alone, and the two-phase method with the paper's peak rule),
 * prints a Table-1-style comparison and writes report.json, history.csv and two PNG figures.
 * Defaults: the bundled digits, an MLP 64-64-64-10 with tanh, MSE, 1000 epochs, batch 512, the
 * switch rule {@code rise-peak:0.9:0.9}, CG with {@link dev.twophase.optim.CgConfig#defaults()}.
 * The default command ({@code twophase} without a command) is this one, with the same options.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs Adam alone and the two-phase method (Adam, then CG) side by side.",
                "From the same initial weights and with the same number of epochs; prints the paper's Table 1 columns and writes",
                "OUT/report.json, OUT/history.csv, OUT/gradnorm-vs-loss.png and OUT/loss-vs-compute.png.",
                "Defaults: --dataset digits --model mlp --hidden 64,64 --epochs 1000 --switch rise-peak:0.9:0.9 --line-search more-thuente --out out.",
                "Exit status: 0 success, 1 failure, 2 bad input, 3 a run diverged, 130 interrupted."})
public final class CompareCommand implements Callable<Integer>, TrainingCommand {
    /**
     * The two-phase run's rule: the peak of the norm smoothed over about ten epochs (EMA 0.9), armed
     * once it has risen 1/0.9 above its running minimum, left 10% below the peak. Chosen from the
     * runs in the README: it does not fire on the initial fall nor on mini-batch noise.
     */
    static final String DEFAULT_RULE = "rise-peak:0.9:0.9";

    @Mixin ExperimentOptions opt;

    @Mixin RunsOption runs;

    @Spec CommandSpec spec;

    /**
     * Where a command's defaults differ: data, model, epochs, CG settings, output folder, progress
     * lines per run, and what messages call them ("compare's default").
     */
    record Defaults(String dataset, int trainSize, int valSize, String model, int epochs, CgConfig cg, Path out, int progressLines, String source) { }

    static final Defaults COMPARE = new Defaults("digits", 0, 0, "mlp", 1000, CgConfig.defaults(), Path.of("out"), 8, "compare's default");

    @Override public Integer call() throws Exception { return execute(job(), commandLine(spec), spec.commandLine().getErr()); }

    @Override public Job job() { return job(opt, runs); }

    /** compare's plan with these options; also the default command's. */
    static Job job(ExperimentOptions opt, RunsOption runs) {
        opt.validate(COMPARE.dataset(), COMPARE.model());
        String rule = ExperimentOptions.or(opt.switchRule, DEFAULT_RULE);
        List<Comparison.Run> plan = runs.plan(rule);
        return new Job(opt, COMPARE, plan, rule, Map.of(), Map.of("--runs", String.join(",", plan.stream().map(Comparison.Run::name).toList())), () -> { });
    }

    /** The command line as given (the root command's arguments, @files expanded), which a checkpoint records for resume. */
    static List<String> commandLine(CommandSpec spec) { return List.copyOf(spec.root().commandLine().getParseResult().expandedArgs()); }

    /**
     * Runs a job from scratch: handles Ctrl-C ({@link Interrupts}; until the runs start, it quits
     * saying that nothing was written), takes the output folder (created, checked, locked), then
     * {@link #run}; returns the exit status ({@link ExitStatus}).
     */
    static int execute(Job job, List<String> commandLine, PrintWriter err) throws Exception {
        Map<String, String> options = effective(job);
        try (Interrupts interrupts = Interrupts.install(System.out);
             OutputFolder out = take(interrupts, ExperimentOptions.or(job.opt().out, job.defaults().out()), "--out", "nothing written; nothing can be resumed")) {
            out.refuseFoldersInTheWay(Comparison.FILES);
            if (!job.opt().overwrite) refuseUnfinished(out);
            return run(job, commandLine, options, out, null, interrupts, err);
        }
    }

    /**
     * Opens the output folder ({@link OutputFolder#open}) with a quit saying what it leaves there
     * ({@link Checkpoints#quitNote}) from the moment it is taken, and {@code untaken} before: the
     * note is made first, so that no Ctrl-C falls between the two.
     */
    static OutputFolder take(Interrupts interrupts, Path dir, String option, String untaken) throws IOException {
        AtomicReference<OutputFolder> taken = new AtomicReference<>();
        interrupts.onQuit(() -> taken.get() == null ? untaken : Checkpoints.quitNote(taken.get(), null));
        OutputFolder out = OutputFolder.open(dir, option);
        taken.set(out);
        return out;
    }

    /**
     * Refuses (bad input, before anything is written) a folder that holds the checkpoint of a
     * comparison that did not finish, or one this version cannot read: a new run would replace it.
     * A finished comparison's checkpoint holds nothing that its report does not, and is replaced.
     */
    static void refuseUnfinished(OutputFolder out) {
        Path file = out.resolve(Checkpoint.FILE);
        if (!Files.isRegularFile(file)) return;
        String holds, ways;
        try {
            Checkpoint c = Checkpoint.read(file, Main.VERSION);
            if (c.complete()) return;
            holds = "holds the checkpoint of a run that did not finish (" + c.progress() + ")";
            ways = "continue it with 'twophase resume " + out.dir() + "', or pass --overwrite to start this run there instead, replacing it";
        } catch (IOException e) {
            holds = "holds a checkpoint that cannot be read (" + Main.describe(e) + ")";
            ways = "pass --overwrite to start this run there anyway, replacing it, or choose another --out";
        }
        throw new IllegalArgumentException("--out " + out.dir() + ": " + holds + "; " + ways);
    }

    /** Every option of the job as its runs use it ({@link ExperimentOptions#effective}). */
    static Map<String, String> effective(Job job) {
        TrainSettings settings = job.opt().settings(job.defaults().epochs(), job.defaults().cg());
        return job.opt().effective(job.defaults(), settings, job.rule(), job.commandOptions());
    }

    /**
     * Runs a validated job in {@code out}, from scratch or from {@code resume} (a checkpoint read
     * from {@code out}, whose options {@code options} already matched): loads the data, builds the
     * model, opens the backend, trains with progress and checkpoints, writes the report and prints
     * the summary; returns the exit status ({@link ExitStatus}), with one line on {@code err} naming
     * the runs that diverged. {@code interrupts} (installed by the caller before it took the folder)
     * handles Ctrl-C and SIGTERM.
     */
    static int run(Job job, List<String> commandLine, Map<String, String> options, OutputFolder out, Checkpoint resume, Interrupts interrupts,
                   PrintWriter err) throws Exception {
        ExperimentOptions opt = job.opt();
        Defaults defaults = job.defaults();
        TrainSettings settings = opt.settings(defaults.epochs(), defaults.cg());
        CheckpointPolicy policy = opt.checkpointPolicy();
        Dataset.Split data = opt.loadData(defaults);
        long dataChecksum = policy.enabled() || resume != null ? Checkpoint.dataChecksum(data) : 0;
        if (resume != null) ResumeCommand.checkData(resume, dataChecksum, options, out);
        Network net = opt.network(defaults.model(), data.train());
        Backends.Selection sel = Backends.select(ExperimentOptions.or(opt.backend, "auto"), opt.threads());
        Comparison.Outcome outcome;
        try (Backend be = sel.backend()) {
            if (resume != null) ResumeCommand.checkBackend(resume, be.name(), options.get("--backend"), out);
            Map<String, Object> described = opt.describe(net, data, settings, be, job.rule());
            described.putAll(job.reportExtra());
            Comparison c = new Comparison(be, sel.reasons(), net, data, settings, job.plan(), described);
            printHeader(net, data, settings, be, job.plan());
            if (resume != null) System.out.println("  resume  " + ResumeCommand.describe(resume));
            else if (Files.exists(out.resolve(Checkpoint.FILE))) {
                System.out.println("  note    " + out.resolve(Checkpoint.FILE) + " holds an earlier comparison's checkpoint; this run "
                        + (policy.enabled() ? "replaces it" : "deletes it (--checkpoint-every off)"));
            }
            Checkpoints checkpoints = new Checkpoints(policy, new Checkpoint.Identity(Main.VERSION, commandLine, options, be.name(), dataChecksum,
                    job.plan()), resume);
            outcome = c.execute(out, interrupts, opt.quiet ? Progress.none() : Progress.console(System.out, defaults.progressLines()), System.out,
                    checkpoints);
        }
        List<RunResult> diverged = outcome.diverged();
        if (!diverged.isEmpty()) {
            err.println("twophase: diverged: " + String.join("; ", diverged.stream()
                    .map(r -> r.name() + " at epoch " + r.divergedEpoch() + " (" + r.reason() + ")").toList()));
            err.flush();
        }
        job.epilogue().run();
        return outcome.interrupted() ? ExitStatus.INTERRUPTED : diverged.isEmpty() ? ExitStatus.SUCCESS : ExitStatus.DIVERGED;
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
