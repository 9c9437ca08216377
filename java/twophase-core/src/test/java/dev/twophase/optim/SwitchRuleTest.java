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

    /** A non-finite norm is an error for every rule, and leaves the rule's state as it was. */
    @Test
    void nonFiniteNormsAreRefusedAndChangeNothing() {
        for (String spec : new String[]{"peak:0.9", "rise-peak:0.9:0.5", "epoch:3", "never"}) {
            for (double bad : new double[]{Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}) {
                SwitchRule r = SwitchRule.parse(spec), reference = SwitchRule.parse(spec);
                assertFalse(r.switchAfter(1, 10));
                assertFalse(reference.switchAfter(1, 10));
                NonFiniteException e = assertThrows(NonFiniteException.class, () -> r.switchAfter(2, bad));
                assertEquals("gradient norm is " + bad + " at epoch 2", e.getMessage());
                assertEquals("gradient norm", e.quantity());
                assertEquals(2, e.iteration());
                assertEquals(reference.state().toString(), r.state().toString(), spec);
            }
        }
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
        assertEquals("peak:0.5:0.25", SwitchRule.parse(" PEAK:.5:2.5e-1 ").describe());
        assertEquals("never", SwitchRule.parse("adam").describe());
    }

    /** Every part is parsed: malformed specs are refused with the spec and the expected forms, never read in part. */
    @Test
    void theGrammarIsStrict() {
        String[][] bad = {
                {":", "no rule name"}, {"", "no rule name"}, {"peak:", "empty tolerance"}, {"peak::0.5", "empty tolerance"},
                {"peak:0.9:", "empty smoothing"}, {"peak:0.9:0.5:7", "at most two numbers"}, {"never:5", "never takes no arguments"},
                {"cg-only:1", "takes no arguments"}, {"peak:0.9d", "'0.9d' is not a decimal"}, {"peak:nan", "'nan' is not a decimal"},
                {"peak:0x1p-1", "not a decimal"}, {"peak:NaN", "tolerance 'NaN' is not a decimal"},
                {"peak:-0.5", "switch tolerance = -0.5; expected a value in (0, 1]"}, {"peak:0.9:-1", "norm smoothing = -1.0; expected a value in [0, 1)"}, {"rise-peak:0.9:1e", "not a decimal"},
                {"epoch", "exactly one number"}, {"epoch:", "epoch '' is not a whole number"}, {"epoch:3:4", "exactly one number"},
                {"epoch:+3", "not a whole number"}, {"epoch:3.0", "not a whole number"}, {"epoch:99999999999", "not a whole number"},
                {"epoch:-1", "switch epoch = -1; expected at least 1"}};
        for (String[] c : bad) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SwitchRule.parse(c[0]), c[0]);
            assertTrue(e.getMessage().startsWith("switch rule '" + c[0] + "': "), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
            assertTrue(e.getMessage().endsWith("; the rule is one of peak[:TOLERANCE[:SMOOTHING]], rise-peak[:TOLERANCE[:SMOOTHING]], epoch:N, never or cg-only"), e.getMessage());
            assertEquals(1, e.getMessage().split("expected", -1).length - (c[1].contains("expected") ? 1 : 0), "'expected' at most once: " + e.getMessage());
        }
    }
}
