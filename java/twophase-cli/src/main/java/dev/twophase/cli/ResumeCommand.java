package dev.twophase.cli;

import dev.twophase.experiment.Checkpoint;
import dev.twophase.experiment.Checkpoints;
import dev.twophase.experiment.Comparison;
import dev.twophase.experiment.Interrupts;
import dev.twophase.experiment.OutputFolder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * Continues the comparison whose checkpoint is in a folder: parses the command line the
 * checkpoint recorded again, applies the options given here, refuses any that would change the
 * runs (naming them), checks that the data and the backend are the same, and runs what is left,
 * bit for bit as if the comparison had never stopped, in the same folder (under its lock).
 */
@Command(name = "resume", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Continues a compare or repro run from the checkpoint in DIR (see --checkpoint-every), in DIR.",
                "Options may be given again; only " + ResumeCommand.CHANGEABLE_TEXT + " may differ from the original run.",
                "Exit status: 0 success, 1 failure (also a damaged checkpoint), 2 bad input, 3 a run diverged, 130 interrupted."})
public final class ResumeCommand implements Callable<Integer> {
    /** The options that do not change what the runs compute, and so may change on resume. */
    static final Set<String> CHANGEABLE = Set.of("--threads", "--quiet", "--checkpoint-every", "--data-dir", "--skip-checksums", "--backend");
    static final String CHANGEABLE_TEXT = "--threads, --quiet, --checkpoint-every, --data-dir, --skip-checksums and --backend (when it picks the same backend)";

    @Parameters(index = "0", paramLabel = "DIR", description = "The output folder of the run to continue (its --out).")
    Path dir;

    @Mixin ExperimentOptions opt;

    @Mixin RunsOption runs;

    @Option(names = "--scale", description = "repro's --scale: must be the original's.")
    String scale;

    @Option(names = "--no-cg-only", description = "repro's --no-cg-only: must be the original's.")
    boolean noCgOnly;

    @Spec CommandSpec spec;

    @Override public Integer call() throws Exception {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("resume " + dir + ": " + (Files.exists(dir) ? "is a file" : "no such folder") + "; expected the output folder of an earlier run");
        }
        try (Interrupts interrupts = Interrupts.install(System.out); OutputFolder out = CompareCommand.take(interrupts, dir, "resume", "nothing written to " + dir)) {
            out.refuseFoldersInTheWay(Comparison.FILES);
            Path file = out.resolve(Checkpoint.FILE);
            if (!Files.exists(file)) {
                throw new IllegalArgumentException("resume " + dir + ": no checkpoint (" + Checkpoint.FILE + ") in this folder; it is written by compare and repro"
                        + " (see --checkpoint-every) once a checkpoint is due");
            }
            Checkpoint checkpoint = Checkpoint.read(file, Main.VERSION);
            interrupts.onQuit(() -> Checkpoints.quitNote(out, checkpoint.progress()));
            // Every option given is checked; those that may change are then applied alone, so that an
            // option given again with its default value does not show up in the report as if set.
            checkOptions(checkpoint.identity().options(), CompareCommand.effective(original(checkpoint, file, name -> true).job()), dir);
            TrainingCommand.Job job = original(checkpoint, file, CHANGEABLE::contains).job();
            Map<String, String> options = CompareCommand.effective(job);
            if (!job.plan().equals(checkpoint.identity().plan())) {
                throw new IOException(file + ": its runs " + checkpoint.identity().plan() + " are not those its command line gives here, " + job.plan());
            }
            return CompareCommand.run(job, checkpoint.identity().command(), options, out, checkpoint, interrupts, spec.commandLine().getErr());
        }
    }

    /**
     * The command the checkpoint recorded, parsed again, with the options given to resume that
     * {@code apply} accepts applied over its own; the data folder, when not given, is the absolute
     * one the checkpoint recorded.
     */
    private TrainingCommand original(Checkpoint checkpoint, Path file, java.util.function.Predicate<String> apply) throws IOException {
        List<String> args = checkpoint.identity().command();
        CommandLine.ParseResult parsed;
        try {
            parsed = Main.commandLine().parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new IOException(file + ": its command line " + args + " does not parse: " + e.getMessage(), e);
        }
        while (parsed.hasSubcommand()) parsed = parsed.subcommand();
        if (!(parsed.commandSpec().userObject() instanceof TrainingCommand command)) {
            throw new IOException(file + ": its command line " + args + " is not a training command");
        }
        CommandSpec target = parsed.commandSpec();
        boolean dataDirGiven = false;
        for (OptionSpec given : spec.commandLine().getParseResult().matchedOptions()) {
            String name = given.longestName();
            if (name.equals("--out")) throw new IllegalArgumentException("--out: resume continues in DIR (" + dir + ") itself; move the folder rather than pass --out");
            if (name.equals("--overwrite")) {
                throw new IllegalArgumentException("--overwrite: resume continues the checkpoint in " + dir + "; to start over there instead, run the command again with --out "
                        + dir + " --overwrite");
            }
            OptionSpec same = target.findOption(name);
            if (same == null) {
                throw new IllegalArgumentException(name + ": the runs in " + dir + " were started by '" + String.join(" ", target.qualifiedName()) + "', which has no " + name);
            }
            if (!apply.test(name)) continue;
            same.setValue(given.getValue());
            dataDirGiven |= name.equals("--data-dir");
        }
        String dataDir = checkpoint.identity().options().get("--data-dir");
        if (!dataDirGiven && dataDir != null) target.findOption("--data-dir").setValue(Path.of(dataDir));
        return command;
    }

    /** Refuses, naming them, the options whose values differ from the checkpoint's where they may not. */
    static void checkOptions(Map<String, String> saved, Map<String, String> now, Path dir) {
        List<String> changed = new ArrayList<>();
        for (String name : union(saved, now)) {
            if (CHANGEABLE.contains(name) || Objects.equals(saved.get(name), now.get(name))) continue;
            changed.add(name + " " + or(now.get(name)) + " (the runs in " + dir + " were started with " + or(saved.get(name)) + ")");
        }
        if (!changed.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", changed) + ": an option that changes what the runs compute cannot change on resume;"
                    + " only " + CHANGEABLE_TEXT + " may");
        }
    }

    private static List<String> union(Map<String, String> a, Map<String, String> b) {
        List<String> names = new ArrayList<>(a.keySet());
        for (String n : b.keySet()) if (!a.containsKey(n)) names.add(n);
        return names;
    }

    private static String or(String v) { return v == null ? "(none)" : v; }

    /** Refuses data that differ from those the checkpoint was made with. */
    static void checkData(Checkpoint checkpoint, long checksum, Map<String, String> options, OutputFolder out) {
        if (checksum != checkpoint.identity().dataChecksum()) {
            String where = options.containsKey("--data-dir") ? "--data-dir " + options.get("--data-dir") : "--dataset " + options.get("--dataset");
            throw new IllegalArgumentException(where + ": the data differ from those the runs in " + out.dir() + " were trained on (their checksums differ);"
                    + " resume needs the same files");
        }
    }

    /** Refuses another backend than the checkpoint's: the runs would not continue bit for bit. */
    static void checkBackend(Checkpoint checkpoint, String backend, String requested, OutputFolder out) {
        String saved = checkpoint.identity().backend();
        if (!backend.equals(saved)) {
            throw new IllegalArgumentException("--backend " + requested + ": picks the " + backend + " backend, but the runs in " + out.dir() + " ran on "
                    + saved + " and continue bit for bit only there; pass --backend " + saved);
        }
    }

    /** "from the checkpoint: adam finished (completed); two-phase after epoch 350 of 1000; cg-only not started". */
    static String describe(Checkpoint checkpoint) { return "from the checkpoint: " + checkpoint.progress(); }
}
