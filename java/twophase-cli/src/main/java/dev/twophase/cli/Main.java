package dev.twophase.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * The {@code twophase} command line. With no arguments it runs {@link CompareCommand} with its
 * defaults: Adam alone and the two-phase method on the bundled digits data.
 */
@Command(name = "twophase", mixinStandardHelpOptions = true, version = "twophase 0.1.0",
        description = {"Trains neural networks with the convexity-dependent two-phase method:",
                "Adam while the loss is non-convex, then nonlinear conjugate gradient once the gradient norm has passed its peak.",
                "With no command, runs 'compare' with its defaults on the bundled digits data."},
        subcommands = {CompareCommand.class, ReproCommand.class, DownloadCommand.class, ThroughputCommand.class, DevicesCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @Override public void run() {
        // No subcommand: the main job.
        System.exit(commandLine().execute("compare"));
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** Parses with one-line errors on stderr: exit 2 for bad usage, 1 for a failure while running. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("twophase: " + ex.getMessage() + " (see 'twophase " + commandName(ex.getCommandLine()) + "--help')");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex;
            while (t.getCause() != null && (t.getMessage() == null || t instanceof java.lang.reflect.InvocationTargetException)) t = t.getCause();
            cmd.getErr().println("twophase: " + (t.getMessage() == null ? t.toString() : t.getMessage()));
            return t instanceof IllegalArgumentException ? 2 : 1;
        });
        return cl;
    }

    private static String commandName(CommandLine cl) {
        return cl.getParent() == null ? "" : cl.getCommandName() + " ";
    }
}
