package dev.twophase.train;

import java.io.PrintStream;
import java.util.Locale;

/** Receives each finished epoch; {@link #console} prints progress lines with an estimate of the time left. */
public interface Progress {

    void epoch(String run, EpochRecord r, int totalEpochs);

    static Progress none() { return (run, r, total) -> { }; }

    /** Prints about {@code lines} lines per run, plus every phase change, to {@code out}. */
    static Progress console(PrintStream out, int lines) {
        return new Progress() {
            private String lastPhase = "", currentRun = "";
            private long runStart;
            private int firstEpoch;

            @Override public void epoch(String run, EpochRecord r, int totalEpochs) {
                if (!run.equals(currentRun)) {
                    currentRun = run;
                    runStart = System.nanoTime();
                    firstEpoch = r.epoch(); // a resumed run starts past 1
                }
                int every = Math.max(1, totalEpochs / Math.max(1, lines));
                boolean phaseChanged = !r.phase().equals(lastPhase);
                lastPhase = r.phase();
                if (!phaseChanged && r.epoch() % every != 0 && r.epoch() != totalEpochs) return;
                double elapsed = (System.nanoTime() - runStart) / 1e9;
                out.printf(Locale.ROOT, "  %-10s epoch %4d/%d  %-4s  train loss %.5f acc %.3f  val loss %.5f acc %.3f  |g| %.3e  %6.1f evals  run left ~%.0fs%n",
                        run, r.epoch(), totalEpochs, r.phase(), r.trainLoss(), r.trainAccuracy(), r.valLoss(), r.valAccuracy(),
                        r.gradNorm(), r.evaluations(), elapsed / (r.epoch() - firstEpoch + 1) * (totalEpochs - r.epoch()));
                out.flush();
            }
        };
    }
}
