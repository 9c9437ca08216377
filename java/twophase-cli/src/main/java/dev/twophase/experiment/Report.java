package dev.twophase.experiment;

import dev.twophase.train.RunResult;
import dev.twophase.train.EpochRecord;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a comparison to {@code report.json} and {@code history.csv}. Each file is written to a
 * temporary name and moved into place, so a crash or Ctrl-C never leaves a half-written report.
 *
 * <p>report.json: {@code backend}, {@code backendSelection}, {@code seed}, {@code settings} (free
 * form), and {@code runs}: for each run {@code name}, {@code switchRule}, {@code switchEpoch} (null
 * if none), {@code epochs} (records as in {@link EpochRecord}), {@code final} (the last record),
 * {@code skippedAdamSteps}, {@code fellBackToAdam}; and the view at equal compute
 * ({@link EqualCompute}): {@code equalCompute} ({@code referenceRun}, {@code compute},
 * {@code trainLoss} of Adam alone; null without such a run) and per run
 * {@code trainLossAtReferenceCompute} and {@code computeToReferenceLoss} (null: never reached).
 */
public final class Report {
    static final String CSV_HEADER = "run,epoch,phase,trainLoss,trainAccuracy,valLoss,valAccuracy,gradNorm,evaluations,seconds";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Report() { }

    public static void write(Path dir, String backend, List<String> backendSelection, long seed,
                             Map<String, Object> settings, List<RunResult> runs) throws IOException {
        Files.createDirectories(dir);
        ObjectNode root = JSON.createObjectNode();
        root.put("backend", backend);
        root.set("backendSelection", JSON.valueToTree(backendSelection));
        root.put("seed", seed);
        root.set("settings", JSON.valueToTree(settings));
        EqualCompute eq = EqualCompute.of(runs);
        if (eq == null) root.putNull("equalCompute"); else root.set("equalCompute", JSON.valueToTree(eq));
        ArrayNode arr = root.putArray("runs");
        for (RunResult r : runs) {
            ObjectNode o = arr.addObject();
            o.put("name", r.name());
            o.put("switchRule", r.switchRule());
            if (r.switchEpoch() == null) o.putNull("switchEpoch"); else o.put("switchEpoch", r.switchEpoch());
            o.set("epochs", JSON.valueToTree(r.epochs()));
            o.set("final", JSON.valueToTree(r.last()));
            o.put("skippedAdamSteps", r.skippedAdamSteps());
            o.put("fellBackToAdam", r.fellBackToAdam());
            if (eq != null) {
                o.set("trainLossAtReferenceCompute", JSON.valueToTree(eq.lossAtCompute(r)));
                o.set("computeToReferenceLoss", JSON.valueToTree(eq.computeToLoss(r)));
            }
        }
        writeAtomically(dir.resolve("report.json"), JSON.writeValueAsString(root));
        writeAtomically(dir.resolve("history.csv"), csv(runs));
    }

    static String csv(List<RunResult> runs) {
        StringBuilder sb = new StringBuilder(CSV_HEADER).append('\n');
        for (RunResult r : runs) {
            for (EpochRecord e : r.epochs()) {
                sb.append(String.format(Locale.ROOT, "%s,%d,%s,%.9g,%.6f,%.9g,%.6f,%.9g,%.6f,%.6f%n", r.name(), e.epoch(), e.phase(),
                        e.trainLoss(), e.trainAccuracy(), e.valLoss(), e.valAccuracy(), e.gradNorm(), e.evaluations(), e.seconds()));
            }
        }
        return sb.toString();
    }

    /** Writes {@code text} to a sibling temporary file, then renames it over {@code target}. */
    public static void writeAtomically(Path target, String text) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        try {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The paper's Table 1 layout: final train loss/acc and validation loss/acc per run. */
    public static String table(List<RunResult> runs) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-12s %7s %10s %9s %10s %9s %10s %8s%n", "run", "switch", "train loss", "train acc", "val loss", "val acc", "evals", "seconds"));
        for (RunResult r : runs) {
            EpochRecord e = r.last();
            if (e == null) {
                sb.append(String.format(Locale.ROOT, "%-12s (no epoch finished)%n", r.name()));
                continue;
            }
            sb.append(String.format(Locale.ROOT, "%-12s %7s %10.5f %9.4f %10.5f %9.4f %10.1f %8.2f%n", r.name(),
                    r.switchEpoch() == null ? "-" : r.switchEpoch().toString(), e.trainLoss(), e.trainAccuracy(), e.valLoss(), e.valAccuracy(),
                    e.evaluations(), e.seconds()));
        }
        return sb.toString();
    }
}
