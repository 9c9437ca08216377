package dev.twophase.cli;

import dev.twophase.experiment.OutputFolder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.nio.file.FileSystemException;
import java.util.concurrent.Callable;

/**
 * The {@code twophase} command line. With no command it runs {@link CompareCommand} and takes its
 * options ({@code twophase --out DIR} is {@code twophase compare --out DIR}): Adam alone and the
 * two-phase method on the bundled digits data by default. Exit statuses: {@link ExitStatus}.
 */
@Command(name = "twophase", mixinStandardHelpOptions = true, version = Main.VERSION, sortOptions = false,
        description = {"Trains neural networks with the convexity-dependent two-phase method:",
                "Adam while the loss is non-convex, then nonlinear conjugate gradient once the gradient norm has passed its peak.",
                "With no command, runs 'compare' (its options below) on the bundled digits data.",
                "Exit status: 0 success, 1 failure, 2 bad input, 3 a run diverged, 130 interrupted."},
        subcommands = {CompareCommand.class, ReproCommand.class, ResumeCommand.class, DownloadCommand.class, ThroughputCommand.class, DevicesCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer>, TrainingCommand {
    /** The software and its version, as checkpoints record it: a checkpoint is continued only by the version that wrote it. */
    static final String VERSION = "twophase 0.1.0";

    @Mixin ExperimentOptions opt;

    @Mixin RunsOption runs;

    @Spec CommandSpec spec;

    /** No command: the main job, compare with the options given. */
    @Override public Integer call() throws Exception { return CompareCommand.execute(job(), CompareCommand.commandLine(spec), spec.commandLine().getErr()); }

    @Override public Job job() { return CompareCommand.job(opt, runs); }

    public static void main(String[] args) {
        int status;
        try {
            status = commandLine().execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("twophase: out of memory (the Java heap may grow to " + (Runtime.getRuntime().maxMemory() >> 20)
                    + " MB); load fewer samples (--train-size, --val-size), use a smaller model, or raise the limit (JAVA_TOOL_OPTIONS=-Xmx8g)");
            status = ExitStatus.FAILURE;
        }
        System.exit(status);
    }

    /** Parses with one-line errors on stderr: exit 2 for bad input, 1 for a failure while running (see {@link ExitStatus}). */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.registerConverter(Double.class, Bounds.DOUBLE);
        cl.registerConverter(double.class, Bounds.DOUBLE);
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            String message = ex.getMessage();
            if (ex.getArgSpec() instanceof CommandLine.Model.OptionSpec o && ex.getValue() != null && message.startsWith("Invalid value")) {
                List<Bounds.Whole> bounds = ex.getCommandLine().getCommandSpec().userObject() instanceof ThroughputCommand ? ThroughputCommand.WHOLE : ExperimentOptions.WHOLE;
                Class<?> type = o.type().isArray() ? o.type().getComponentType() : o.type();
                String clear = Bounds.unreadable(o.longestName(), type, ex.getValue(), bounds);
                if (clear != null) message = clear;
            }
            err.println("twophase: " + message + " (see 'twophase " + commandName(ex.getCommandLine()) + "--help')");
            return ExitStatus.BAD_INPUT;
        });
        cl.setExecutionStrategy(parsed -> {
            // picocli skips its checks when --help is given: 'twophase train --help' printed the root help and succeeded
            for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
                if (!p.unmatched().isEmpty()) throw new CommandLine.UnmatchedArgumentException(p.commandSpec().commandLine(), p.unmatched());
            }
            // options before a command belong to the default command: refuse rather than ignore them
            if (parsed.hasSubcommand() && !parsed.matchedOptions().isEmpty()) {
                throw new CommandLine.ParameterException(parsed.commandSpec().commandLine(), "the options before '" + parsed.subcommand().commandSpec().name()
                        + "' (" + parsed.matchedOptions().getFirst().longestName() + ") apply only when no command is given; put them after the command");
            }
            return new CommandLine.RunLast().execute(parsed);
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex;
            while (t.getCause() != null && (t.getMessage() == null || t instanceof java.lang.reflect.InvocationTargetException)) t = t.getCause();
            cmd.getErr().println("twophase: " + describe(t));
            return t instanceof IllegalArgumentException ? ExitStatus.BAD_INPUT : ExitStatus.FAILURE;
        });
        return cl;
    }

    /** The message, with the reason for file-system errors (whose message is often just the path). */
    static String describe(Throwable t) {
        if (t instanceof FileSystemException fe) {
            return (fe.getFile() != null ? fe.getFile() : "") + (fe.getOtherFile() != null ? " -> " + fe.getOtherFile() : "") + ": " + OutputFolder.reason(fe);
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }

    private static String commandName(CommandLine cl) {
        return cl.getParent() == null ? "" : cl.getCommandName() + " ";
    }
}
