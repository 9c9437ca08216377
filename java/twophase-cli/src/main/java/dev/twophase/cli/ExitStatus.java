package dev.twophase.cli;

import dev.twophase.experiment.Interrupts;

/** The exit statuses of {@code twophase}, as the README lists them. */
final class ExitStatus {
    /** Everything ran; every training run completed (or converged). */
    static final int SUCCESS = 0;
    /** A failure while running: a missing or damaged data file, an output folder in use, an I/O error, out of memory. */
    static final int FAILURE = 1;
    /** Bad input: an unknown option, a value out of its bounds, options that do not fit together. Nothing ran. */
    static final int BAD_INPUT = 2;
    /** At least one training run diverged; the others ran to their end and everything was written. */
    static final int DIVERGED = 3;
    /** Stopped by Ctrl-C or SIGTERM; what finished was written. */
    static final int INTERRUPTED = Interrupts.STATUS;

    private ExitStatus() { }
}
