package dev.twophase.experiment;

import dev.twophase.train.EpochHook;
import dev.twophase.train.RunResult;
import dev.twophase.train.RunState;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The checkpoints of one comparison: where it starts (from scratch, or from the {@link Checkpoint}
 * it resumes) and when it saves one into its folder: during a run as its {@link CheckpointPolicy}
 * says and when a stop is requested, and at the end of every run that finished. The checkpoint is
 * written before the report, so that the report never shows more than the checkpoint holds; a
 * resumed comparison rewrites the report from the checkpoint first.
 */
public final class Checkpoints {
    private final CheckpointPolicy policy;
    private final Checkpoint.Identity identity;
    private final Checkpoint resumed;
    private long last = System.nanoTime();
    private int writes;
    private long nanosWriting, maxBytes;
    /** What the checkpoint last written holds ({@link Checkpoint#progress}). */
    private volatile String lastWritten;
    /** What the checkpoint being written holds, while it is (a quit then may or may not keep it). */
    private volatile String writing;

    /**
     * {@code identity}: what every checkpoint records (null only with {@link CheckpointPolicy#OFF});
     * {@code resumed}: the checkpoint this comparison continues, or null for a fresh one.
     */
    public Checkpoints(CheckpointPolicy policy, Checkpoint.Identity identity, Checkpoint resumed) {
        if (policy.enabled() && identity == null) throw new IllegalArgumentException("checkpoints need an identity");
        this.policy = policy;
        this.identity = identity;
        this.resumed = resumed;
    }

    /** Whether this comparison continues a checkpoint. */
    public boolean resuming() { return resumed != null; }

    /** The runs that finished before (a resumed comparison), in plan order. */
    List<RunResult> finished() { return resumed == null ? List.of() : resumed.finished(); }

    /** The state run number {@code index} (0-based) continues from, or null to start it at the initial weights. */
    RunState start(int index) {
        return resumed != null && resumed.current() != null && index == resumed.finished().size() ? resumed.current() : null;
    }

    /** What a resumed comparison's first report shows: the finished runs and the one in progress as the checkpoint holds it. */
    List<RunResult> resumedReport() {
        List<RunResult> runs = new ArrayList<>(finished());
        RunState current = resumed.current();
        if (current != null) {
            RunResult r = current.soFar();
            runs.add(new RunResult(r.name(), r.switchRule(), r.switchEpoch(), r.epochs(), r.skippedAdamSteps(), r.fellBackToAdam(), r.outcome(),
                    "resumed from the checkpoint after epoch " + current.epoch()));
        }
        return runs;
    }

    /** The hook of the run after {@code finished}: saves when due and when the run stops on request. */
    EpochHook during(OutputFolder out, List<RunResult> finished) {
        if (!policy.enabled()) return EpochHook.none();
        List<RunResult> done = List.copyOf(finished);
        return (epoch, stopping, state) -> {
            if (stopping || policy.due(epoch, System.nanoTime() - last)) {
                try {
                    write(out, new Checkpoint(identity, done, state.get()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }

    /** After a run that finished (not one stopped on request): saves the results so far. */
    void runEnded(OutputFolder out, List<RunResult> finished) throws IOException {
        if (policy.enabled()) write(out, new Checkpoint(identity, finished, null));
    }

    /**
     * Before a fresh comparison's first report: a checkpoint left by an earlier comparison in the
     * folder, and not yet replaced by this one's, no longer matches the report and is deleted.
     */
    void beforeReport(OutputFolder out) throws IOException {
        if (resumed == null && writes == 0) out.delete(Checkpoint.FILE);
    }

    private void write(OutputFolder out, Checkpoint c) throws IOException {
        long t0 = System.nanoTime();
        String progress = c.progress();
        writing = progress;
        try {
            c.write(out);
        } finally {
            writing = null;
        }
        lastWritten = progress;
        last = System.nanoTime();
        nanosWriting += last - t0;
        writes++;
        maxBytes = Math.max(maxBytes, Files.size(out.resolve(Checkpoint.FILE)));
    }

    /** What the folder's checkpoint of this comparison holds ({@link Checkpoint#progress}), or null when it has none. */
    String kept() { return lastWritten != null ? lastWritten : resumed != null ? resumed.progress() : null; }

    /** What quitting now leaves in {@code out} ({@link #quitNote(OutputFolder, String)} with this comparison's checkpoint). */
    String quitNote(OutputFolder out) {
        String w = writing;
        return quitNote(out, kept()) + (w == null ? "" : " (or, if the write in progress finishes in time, " + w + ")");
    }

    /**
     * What a command that quits at once leaves in {@code out}, in words: whether it wrote nothing
     * (and so removes the folder it created), and the checkpoint that {@code kept} describes
     * ({@link Checkpoint#progress}; null: none of this comparison) with the command that continues it.
     */
    public static String quitNote(OutputFolder out, String kept) {
        Path file = out.resolve(Checkpoint.FILE);
        String nothing = out.wroteNothing() ? "nothing written" + (out.created() ? "; removed " + out.dir() + ", which this run created" : " to " + out.dir())
                : null;
        if (kept != null) return (nothing != null ? nothing + "; " : "") + "kept " + file + " (" + kept + "): 'twophase resume " + out.dir() + "' continues from it";
        if (nothing == null) return noCheckpoint(out);
        return nothing + (Files.isRegularFile(file) ? "; " + file + ", an earlier run's, is left as it was" : "; nothing can be resumed");
    }

    /** That {@code out} holds no checkpoint of this comparison, in words. */
    static String noCheckpoint(OutputFolder out) { return "no checkpoint of this comparison in " + out.dir() + " (a new run starts over)"; }

    /** Whether the folder holds a checkpoint of this comparison (written now, or the one it resumed). */
    public boolean saved() { return writes > 0 || resumed != null; }

    /** "3 checkpoints written, up to 1.2 MB, 8.1 ms each on average (...)", or null when none was. */
    String summary() {
        if (writes == 0) return null;
        return String.format(java.util.Locale.ROOT, "%d checkpoint%s written, up to %s, %.1f ms each on average (every %s, at the end of each run and on a stop)",
                writes, writes == 1 ? "" : "s", bytes(maxBytes), nanosWriting / 1e6 / writes, policy);
    }

    static String bytes(long n) {
        return n >= 1 << 20 ? String.format(java.util.Locale.ROOT, "%.1f MB", n / 1048576.0)
                : String.format(java.util.Locale.ROOT, "%.1f KB", n / 1024.0);
    }
}
