package dev.twophase.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The paper-scale estimate's arithmetic, and {@code throughput --paper-estimate} end to end on the CPU backend. */
class PaperScaleEstimateTest {

    /**
     * 1 ms per sample for an Adam epoch, 2 ms per gradient sample, 0.5 ms per forward sample, 1,000
     * + 500 samples, 10 epochs swapping after 3, CG epochs of 4 passes (1 gradient + 9 loss
     * evaluations): Adam epoch 1 s, CG epoch 2 + 4.5 = 6.5 s, evaluation 0.75 s per epoch.
     */
    @Test void threeRunsFromThePerSampleCosts() {
        PaperScaleEstimate e = new PaperScaleEstimate(1000, 500, 10, 3, 4.0, 1e-3, 2e-3, 0.5e-3);
        assertEquals(1.0, e.adamEpochSeconds(), 1e-12);
        assertEquals(6.5, e.cgEpochSeconds(), 1e-12);
        assertEquals(0.75, e.evaluationSeconds(), 1e-12);
        assertEquals(10 * 1.75, e.adamRunSeconds(), 1e-12);
        assertEquals(3 * 1.75 + 7 * 7.25, e.twoPhaseRunSeconds(), 1e-12);
        assertEquals(10 * 7.25, e.cgOnlyRunSeconds(), 1e-12);
        assertEquals(17.5 + 56.0 + 72.5, e.totalSeconds(), 1e-12);
        assertTrue(e.describe().contains("the Table 1 row 0.04 h"), e.describe());
        assertThrows(IllegalArgumentException.class, () -> new PaperScaleEstimate(1000, 0, 10, 11, 4, 1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new PaperScaleEstimate(1000, 0, 10, 3, 0.5, 1, 1, 1));
    }

    @Test void throughputPrintsTheRatesAndTheEstimate() {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CliTest.Result r;
        try {
            System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
            r = CliTest.run("throughput", "--model", "vit-nomlp-wkewq-wvwo1", "--input", "1x8x8", "--paper-estimate", "--samples", "40",
                    "--batch-size", "16", "--rounds", "1", "--warmup", "0", "--backend", "cpu", "--threads", "1");
        } finally {
            System.setOut(saved);
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, r.code(), r.err());
        assertTrue(out.contains("vit-nomlp-wkewq-wvwo1 1x8x8: ") && out.contains("batch 16, cpu") && out.contains("samples/s"), out);
        assertTrue(out.contains("full-batch passes (chunks of 40): gradient "), out);
        assertTrue(out.contains("paper scale (60,000 + 10,000 images, 1000 epochs, swap after 300, CG epochs of 4.00 passes)"), out);
        assertTrue(out.contains("the Table 1 row "), out);
    }
}
