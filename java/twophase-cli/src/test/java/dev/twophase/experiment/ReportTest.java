package dev.twophase.experiment;

import dev.twophase.train.EpochRecord;
import dev.twophase.train.RunResult;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ReportTest {

    @Test
    void csvHasOneRowPerEpoch() {
        List<EpochRecord> epochs = List.of(
                new EpochRecord(1, "adam", 0.5, 0.25, 0.625, 0.125, 3.5, 1, 0.1),
                new EpochRecord(2, "adam", 0.25, 0.5, 0.375, 0.25, 2.5, 2, 0.2),
                new EpochRecord(3, "cg", 0.125, 0.75, 0.25, 0.5, 1.5, 3.75, 0.3, 2048, 96));
        RunResult r = new RunResult("two-phase", "epoch:2", 2, epochs, 0, false, RunResult.Outcome.COMPLETED, null);
        String[] lines = Report.csv(List.of(r)).split("\n");
        assertEquals(Report.CSV_HEADER, lines[0]);
        assertEquals(4, lines.length);
        assertEquals("two-phase,3,cg,0.125000000,0.750000,0.250000000,0.500000,1.50000000,3.750000,0.300000,2048,96", lines[3]);
        assertTrue(lines[0].endsWith(",seconds,hostToDeviceBytes,deviceToHostBytes"), "the transfer columns come last: " + lines[0]);
        assertTrue(lines[1].endsWith(",0,0"), "a record without transfer counts: " + lines[1]);
    }

    @Test
    void jsonRecordsCarryTheTransferCounts() throws Exception {
        List<EpochRecord> epochs = List.of(new EpochRecord(1, "adam", 0.5, 0.25, 0.625, 0.125, 3.5, 1, 0.1, 5764, 1232));
        RunResult r = new RunResult("adam", "never", null, epochs, 0, false, RunResult.Outcome.COMPLETED, null);
        com.fasterxml.jackson.databind.JsonNode e = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(Report.json("ffm", List.of("ffm: asked for"), 1, Map.of(), List.of(r))).get("runs").get(0).get("epochs").get(0);
        assertEquals(5764, e.get("hostToDeviceBytes").asLong());
        assertEquals(1232, e.get("deviceToHostBytes").asLong());
    }

    @Test
    void nonFiniteNumbersAreNullAndTheTableShowsTheOutcome() throws Exception {
        List<EpochRecord> epochs = List.of(new EpochRecord(1, "adam", 0.5, 0.25, 0.625, 0.125, 3.5, 1, 0.1),
                new EpochRecord(2, "adam", Double.NaN, 0.1, Double.POSITIVE_INFINITY, 0.1, Double.NaN, 2, 0.2));
        RunResult r = new RunResult("adam", "never", null, epochs, 3, false, RunResult.Outcome.DIVERGED, "the training loss is NaN");
        String json = Report.json("cpu", List.of("cpu: chosen"), 1, Map.of("limit", Double.POSITIVE_INFINITY), List.of(r));
        assertFalse(java.util.regex.Pattern.compile(":\\s*\"?(NaN|-?Infinity)\"?\\s*[,}\\n]").matcher(json).find(), json);
        com.fasterxml.jackson.databind.JsonNode run = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json).get("runs").get(0);
        assertTrue(run.get("final").get("trainLoss").isNull() && run.get("final").get("valLoss").isNull() && run.get("final").get("gradNorm").isNull());
        assertEquals(0.5, run.get("epochs").get(0).get("trainLoss").asDouble());
        assertEquals("diverged", run.get("outcome").asText());
        assertEquals(2, run.get("divergedEpoch").asInt());
        assertTrue(run.get("switchEpoch").isNull());
        String table = Report.table(List.of(r));
        assertTrue(table.contains("outcome") && table.contains("diverged at epoch 2"), table);
        assertEquals(" 4.800e+21", String.format("%10s", Report.loss(4.8e21)));
        assertEquals("0.00570", Report.loss(0.0057));
    }

    static EpochRecord at(int epoch, double loss, double compute) {
        return new EpochRecord(epoch, "x", loss, 0, 0, 0, 1, compute, epoch);
    }

    /** Adam alone is the reference: its total compute and final loss; every run is read at that compute and that loss. */
    @Test
    void equalComputeReadsEachRunAtAdamsComputeAndLoss() {
        RunResult adam = new RunResult("adam", "never", null, List.of(at(1, 0.5, 1), at(2, 0.3, 2), at(3, 0.2, 3), at(4, 0.15, 4)), 0, false, RunResult.Outcome.COMPLETED, null);
        RunResult fast = new RunResult("two-phase", "epoch:1", 1, List.of(at(1, 0.5, 1), at(2, 0.2, 2.5), at(3, 0.1, 3.9), at(4, 0.05, 5.2)), 0, false, RunResult.Outcome.COMPLETED, null);
        RunResult slow = new RunResult("cg-only", "cg-only", 0, List.of(at(1, 0.6, 1.5), at(2, 0.4, 4.5), at(3, 0.3, 7)), 0, false, RunResult.Outcome.COMPLETED, null);
        RunResult late = new RunResult("late", "cg-only", 0, List.of(at(1, 0.1, 9)), 0, false, RunResult.Outcome.COMPLETED, null);
        List<RunResult> runs = List.of(fast, adam, slow, late);
        EqualCompute eq = EqualCompute.of(runs);
        assertEquals(new EqualCompute("adam", 4, 0.15), eq);
        assertEquals(0.15, eq.lossAtCompute(adam));
        assertEquals(4.0, eq.computeToLoss(adam));
        assertEquals(0.1, eq.lossAtCompute(fast), "the last epoch that ended within 4 passes");
        assertEquals(3.9, eq.computeToLoss(fast));
        assertEquals(0.6, eq.lossAtCompute(slow));
        assertNull(eq.computeToLoss(slow), "never reached 0.15");
        assertNull(eq.lossAtCompute(late), "its first epoch cost more than Adam's total");
        assertEquals(9.0, eq.computeToLoss(late));
        String table = eq.table(runs);
        assertTrue(table.contains(" 3.9 (0.9") && table.contains("never"), table);
        assertNull(EqualCompute.of(List.of(fast, slow)), "no Adam run, no reference");
        RunResult divergedAdam = new RunResult("adam", "never", null, List.of(at(1, 0.5, 1), at(2, 4.8e21, 2)), 0, false, RunResult.Outcome.DIVERGED, "exploded");
        assertNull(EqualCompute.of(List.of(divergedAdam, fast)), "a diverged Adam run is no reference");
    }

    @Test
    void reportJsonHoldsTheEqualComputeView() throws java.io.IOException {
        RunResult adam = new RunResult("adam", "never", null, List.of(at(1, 0.5, 1), at(2, 0.3, 2)), 0, false, RunResult.Outcome.COMPLETED, null);
        RunResult two = new RunResult("two-phase", "cg-only", 0, List.of(at(1, 0.6, 1.5), at(2, 0.4, 3)), 0, false, RunResult.Outcome.COMPLETED, null);
        String json = Report.json("cpu", List.of(), 1, java.util.Map.of(), List.of(adam, two));
        var root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        assertEquals("adam", root.get("equalCompute").get("referenceRun").asText());
        assertEquals(2.0, root.get("equalCompute").get("compute").asDouble());
        assertEquals(0.6, root.get("runs").get(1).get("trainLossAtReferenceCompute").asDouble());
        assertTrue(root.get("runs").get(1).get("computeToReferenceLoss").isNull());
        assertEquals(2.0, root.get("runs").get(0).get("computeToReferenceLoss").asDouble());
    }
}
