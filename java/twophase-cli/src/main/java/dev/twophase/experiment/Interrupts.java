package dev.twophase.experiment;

import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Ctrl-C (SIGINT) and SIGTERM during a training command. Handled as signals, not shutdown hooks,
 * so that the JVM does not start shutting down under the running command: the first signal asks
 * the current training run to stop after its epoch ({@link #onStop}), and the command then writes
 * its report and figures, prints its summary and exits with {@link #STATUS}. Without a stop action
 * (while data loads, say), or at a second signal, the process exits at once with the same status,
 * after one line saying what is left ({@link #onQuit}), and the shutdown hooks delete temporary
 * files ({@link OutputFolder}). {@link #close} restores the previous handlers.
 */
public final class Interrupts implements AutoCloseable {
    /** The exit status of an interrupted command (128 + SIGINT, the shell's convention). */
    public static final int STATUS = 130;
    private static final List<String> SIGNALS = List.of("INT", "TERM");

    private final PrintStream console;
    private final List<Signal> signals = new ArrayList<>();
    private final List<SignalHandler> previous = new ArrayList<>();
    private volatile Runnable stopAction;
    private volatile Supplier<String> quitNote;
    private volatile String received;

    private Interrupts(PrintStream console) { this.console = console; }

    /** Installs the handlers; {@code console} gets one line when a stop is requested. */
    public static Interrupts install(PrintStream console) {
        Interrupts i = new Interrupts(console);
        for (String name : SIGNALS) {
            Signal s = new Signal(name);
            try {
                i.previous.add(Signal.handle(s, i::handle));
                i.signals.add(s);
            } catch (IllegalArgumentException reserved) {
                // the JVM keeps this signal (java -Xrs, say): it keeps its default meaning
            }
        }
        return i;
    }

    private void handle(Signal s) {
        Runnable stop = stopAction;
        boolean first = received == null;
        received = "SIG" + s.getName();
        if (first && stop != null) {
            console.println();
            console.println("twophase: " + received + ": stopping after the current epoch and writing what finished (again to quit at once)");
            console.flush();
            stop.run();
        } else {
            console.println();
            console.println("twophase: " + received + ": quit at once: " + note());
            console.flush();
            Runtime.getRuntime().exit(STATUS);
        }
    }

    /** What the first signal does; null: exit at once. */
    public void onStop(Runnable action) { stopAction = action; }

    /** What a quit leaves, in words ("kept out/checkpoint.bin (...): ..."); null: nothing said but that it quits. */
    public void onQuit(Supplier<String> note) { quitNote = note; }

    private String note() {
        Supplier<String> n = quitNote;
        try {
            return n == null ? "nothing written" : n.get();
        } catch (RuntimeException e) {
            return "what is kept is unknown (" + e + ")"; // the exit must not wait for, nor fail on, a message
        }
    }

    /** The signal that arrived (SIGINT, SIGTERM), or null. */
    public String signal() { return received; }

    @Override public void close() {
        for (int i = 0; i < signals.size(); i++) Signal.handle(signals.get(i), previous.get(i));
    }
}
