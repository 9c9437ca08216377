package dev.twophase.experiment;

import dev.twophase.train.RunResult;
import dev.twophase.train.EpochRecord;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a comparison to {@code report.json} and {@code history.csv} through an {@link OutputFolder}
 * (each file to a unique temporary name, then renamed into place, so a crash or Ctrl-C never leaves
 * a half-written report).
 *
 * <p>report.json: {@code backend}, {@code backendSelection}, {@code seed}, {@code settings} (free
 * form), and {@code runs}: for each run {@code name}, {@code switchRule}, {@code switchEpoch} (null
 * if none), {@code outcome} (completed, converged, diverged, interrupted), {@code divergedEpoch}
 * (null unless diverged; 0 when the initial weights already gave a non-finite loss), {@code reason}
 * (why it ended early, null when completed), {@code epochs} (records as in {@link EpochRecord}, with
 * the bytes the epoch copied between host and device last: {@code hostToDeviceBytes},
 * {@code deviceToHostBytes}),
 * {@code final} (the last record), {@code skippedAdamSteps}, {@code fellBackToAdam}; and the view
 * at equal compute ({@link EqualCompute}): {@code equalCompute} ({@code referenceRun},
 * {@code compute}, {@code trainLoss} of Adam alone; null without such a run) and per run
 * {@code trainLossAtReferenceCompute} and {@code computeToReferenceLoss} (null: never reached).
 * Every number is a JSON number; a non-finite value (a diverged run's NaN loss, an infinite
 * setting) is null.
 */
public final class Report {
    static final String CSV_HEADER = "run,epoch,phase,trainLoss,trainAccuracy,valLoss,valAccuracy,gradNorm,evaluations,seconds"
            + ",hostToDeviceBytes,deviceToHostBytes";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The files {@link #write} writes. */
    public static final String JSON_FILE = "report.json", CSV_FILE = "history.csv";

    private Report() { }

    public static void write(OutputFolder out, String backend, List<String> backendSelection, long seed,
                             Map<String, Object> settings, List<RunResult> runs) throws IOException {
        out.writeString(JSON_FILE, json(backend, backendSelection, seed, settings, runs));
        out.writeString(CSV_FILE, csv(runs));
    }

    static String json(String backend, List<String> backendSelection, long seed, Map<String, Object> settings, List<RunResult> runs)
            throws IOException {
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
            o.set("switchEpoch", JSON.valueToTree(r.switchEpoch()));
            o.put("outcome", r.outcome().id());
            o.set("divergedEpoch", JSON.valueToTree(r.divergedEpoch()));
            o.put("reason", r.reason());
            o.set("epochs", JSON.valueToTree(r.epochs()));
            o.set("final", JSON.valueToTree(r.last()));
            o.put("skippedAdamSteps", r.skippedAdamSteps());
            o.put("fellBackToAdam", r.fellBackToAdam());
            if (eq != null) {
                o.set("trainLossAtReferenceCompute", JSON.valueToTree(eq.lossAtCompute(r)));
                o.set("computeToReferenceLoss", JSON.valueToTree(eq.computeToLoss(r)));
            }
        }
        return JSON.writeValueAsString(finiteOrNull(root));
    }

    /** The tree with every non-finite number replaced by null: JSON has no NaN or infinity. */
    static JsonNode finiteOrNull(JsonNode n) {
        if (n.isNumber() && !Double.isFinite(n.doubleValue())) return NullNode.getInstance();
        if (n instanceof ObjectNode o) o.properties().forEach(e -> e.setValue(finiteOrNull(e.getValue())));
        if (n instanceof ArrayNode a) for (int i = 0; i < a.size(); i++) a.set(i, finiteOrNull(a.get(i)));
        return n;
    }

    static String csv(List<RunResult> runs) {
        StringBuilder sb = new StringBuilder(CSV_HEADER).append('\n');
        for (RunResult r : runs) {
            for (EpochRecord e : r.epochs()) {
                sb.append(String.format(Locale.ROOT, "%s,%d,%s,%.9g,%.6f,%.9g,%.6f,%.9g,%.6f,%.6f", r.name(), e.epoch(), e.phase(),
                        e.trainLoss(), e.trainAccuracy(), e.valLoss(), e.valAccuracy(), e.gradNorm(), e.evaluations(), e.seconds()));
                sb.append(String.format(Locale.ROOT, ",%d,%d%n", e.hostToDeviceBytes(), e.deviceToHostBytes()));
            }
        }
        return sb.toString();
    }

    /** The paper's Table 1 layout: final train loss/acc and validation loss/acc per run, and how it ended. */
    public static String table(List<RunResult> runs) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-12s %7s %10s %9s %10s %9s %10s %8s  %s%n", "run", "switch", "train loss", "train acc", "val loss", "val acc",
                "evals", "seconds", "outcome"));
        for (RunResult r : runs) {
            EpochRecord e = r.last();
            if (e == null) {
                sb.append(String.format(Locale.ROOT, "%-12s (no epoch finished)  %s%n", r.name(), outcome(r)));
                continue;
            }
            sb.append(String.format(Locale.ROOT, "%-12s %7s %10s %9.4f %10s %9.4f %10.1f %8.2f  %s%n", r.name(),
                    r.switchEpoch() == null ? "-" : r.switchEpoch().toString(), loss(e.trainLoss()), e.trainAccuracy(), loss(e.valLoss()), e.valAccuracy(),
                    e.evaluations(), e.seconds(), outcome(r)));
        }
        return sb.toString();
    }

    /** A loss with five decimals, or in scientific notation when that would not fit (an exploding run). */
    static String loss(double v) {
        return String.format(Locale.ROOT, Double.isFinite(v) && Math.abs(v) >= 1e4 ? "%.4g" : "%.5f", v);
    }

    /** "completed", or the outcome with the epoch it ended at: "diverged at 3". */
    static String outcome(RunResult r) {
        if (r.outcome() == RunResult.Outcome.COMPLETED) return r.outcome().id();
        int at = r.outcome() == RunResult.Outcome.DIVERGED ? r.divergedEpoch() : r.epochs().size();
        return r.outcome().id() + " at epoch " + at;
    }
}
