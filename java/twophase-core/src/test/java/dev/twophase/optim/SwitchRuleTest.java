package dev.twophase.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SwitchRuleTest {

    /** Epoch (1-based) after which the rule switches on this norm sequence, or -1. */
    static int switchEpoch(SwitchRule r, double... norms) {
        for (int e = 1; e <= norms.length; e++) if (r.switchAfter(e, norms[e - 1])) return e;
        return -1;
    }

    @Test
    void peakRuleIsThePapersAlgorithm1() {
        // Rising, peak 10, then 9.5 (within tolerance), then 8.9 < 0.9 * 10: switch after epoch 6.
        assertEquals(6, switchEpoch(SwitchRule.peak(0.9, 0), 1, 3, 7, 10, 9.5, 8.9, 12));
        assertEquals(-1, switchEpoch(SwitchRule.peak(0.9, 0), 1, 2, 3, 4, 5));
        // Exactly at the tolerance counts as fallen (the paper keeps Adam only while gn > 0.9 max).
        assertEquals(2, switchEpoch(SwitchRule.peak(0.9, 0), 10, 9));
    }

    @Test
    void risePeakIgnoresTheInitialFall() {
        double[] norms = {10, 6, 3, 2, 2.5, 4, 5, 4.2, 3};
        assertEquals(2, switchEpoch(SwitchRule.peak(0.9, 0), norms));
        assertEquals(8, switchEpoch(SwitchRule.risePeak(0.9, 0), norms));
        assertEquals(-1, switchEpoch(SwitchRule.risePeak(0.9, 0), 10, 8, 6, 4, 2), "no rise, no peak: stay with Adam");
    }

    @Test
    void smoothingDelaysTheSwitchPastNoise() {
        double[] noisy = {1, 2, 3, 2.6, 3.4, 3.8, 3.9, 3.3, 3.0, 2.5, 2.0};
        assertEquals(4, switchEpoch(SwitchRule.peak(0.9, 0), noisy));
        int smoothed = switchEpoch(SwitchRule.peak(0.9, 0.5), noisy);
        assertTrue(smoothed > 4, "smoothed rule switched after " + smoothed);
    }

    @Test
    void fixedNeverAndCgOnly() {
        assertEquals(3, switchEpoch(SwitchRule.atEpoch(3), 5, 5, 5, 5));
        assertEquals(-1, switchEpoch(SwitchRule.never(), 5, 1, 0.1));
        assertTrue(SwitchRule.cgOnly().startsWithCg());
        assertFalse(SwitchRule.never().startsWithCg());
    }

    @Test
    void nonFiniteNormsAreIgnored() {
        assertEquals(-1, switchEpoch(SwitchRule.peak(0.9, 0), 5, Double.NaN, Double.POSITIVE_INFINITY, 5));
    }

    @Test
    void parsesEveryFormAndRejectsBadOnes() {
        assertEquals("peak:0.9", SwitchRule.parse("peak").describe());
        assertEquals("peak:0.8:0.5", SwitchRule.parse("peak:0.8:0.5").describe());
        assertEquals("rise-peak:0.9", SwitchRule.parse("rise-peak").describe());
        assertEquals("epoch:30", SwitchRule.parse("epoch:30").describe());
        assertEquals("never", SwitchRule.parse("never").describe());
        assertEquals("cg-only", SwitchRule.parse("cg-only").describe());
        AdamTest.assertMessage(() -> SwitchRule.parse("peak:1.5"), "switch tolerance = 1.5");
        AdamTest.assertMessage(() -> SwitchRule.parse("peak:0"), "switch tolerance = 0.0");
        AdamTest.assertMessage(() -> SwitchRule.parse("epoch:0"), "switch epoch = 0");
        AdamTest.assertMessage(() -> SwitchRule.parse("sometimes"), "'sometimes'");
    }
}
