package dev.twophase.experiment;

import dev.twophase.train.EpochRecord;
import dev.twophase.train.RunResult;
import org.junit.jupiter.api.Test;

import java.util.List;

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
}
