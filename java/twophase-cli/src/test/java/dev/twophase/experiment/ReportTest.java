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
                new EpochRecord(3, "cg", 0.125, 0.75, 0.25, 0.5, 1.5, 3.75, 0.3));
        RunResult r = new RunResult("two-phase", "epoch:2", 2, epochs, 0, false, RunResult.Outcome.COMPLETED, null);
        String[] lines = Report.csv(List.of(r)).split("\n");
        assertEquals(Report.CSV_HEADER, lines[0]);
        assertEquals(4, lines.length);
        assertEquals("two-phase,3,cg,0.125000000,0.750000,0.250000000,0.500000,1.50000000,3.750000,0.300000", lines[3]);
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
}
