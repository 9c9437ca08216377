package dev.twophase.optim;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The state file format, and saving and restoring CG and the switch rules mid-run. */
class OptimizerStateTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    static OptimizerState sample() {
        Random r = new Random(5);
        float[] f = new float[1001];
        for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
        f[3] = Float.intBitsToFloat(0x7fc01234); // a NaN with a payload
        f[4] = -0f;
        OptimizerState nested = new OptimizerState().putLong("step", 7).putFloats("m", new float[]{1.5f, -2.25f});
        return new OptimizerState().putFloats("x", f).putDouble("loss", Math.PI).putLong("count", -3L)
                .putBoolean("flag", true).putString("rule", "peak:0.9 ünicode").putAll("adam", nested);
    }

    @Test
    void fileRoundTripIsExactAndNestingWorks(@TempDir Path dir) throws IOException {
        OptimizerState s = sample();
        Path file = dir.resolve("state.bin");
        s.write(file);
        OptimizerState t = OptimizerState.read(file);
        assertEquals(s.names().stream().toList(), t.names().stream().toList());
        float[] a = s.floats("x"), b = t.floats("x");
        for (int i = 0; i < a.length; i++) assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), "x[" + i + "]");
        assertEquals(Math.PI, t.getDouble("loss"));
        assertEquals(-3L, t.getLong("count"));
        assertTrue(t.getBoolean("flag"));
        assertEquals("peak:0.9 ünicode", t.getString("rule"));
        assertEquals(7L, t.nested("adam").getLong("step"));
        assertArrayEquals(new float[]{1.5f, -2.25f}, t.nested("adam").floats("m"));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file left beside the state");
        }
    }

    @Test
    void everyDamageIsReportedWithFileAndOffset(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("state.bin");
        sample().write(file);
        byte[] good = Files.readAllBytes(file);
        Random r = new Random(11);
        for (int trial = 0; trial < 300; trial++) {
            byte[] bad = good.clone();
            int kind = trial % 3;
            if (kind == 0) {
                bad[r.nextInt(bad.length)] ^= (byte) (1 << r.nextInt(8));
            } else if (kind == 1) {
                bad = java.util.Arrays.copyOf(bad, r.nextInt(bad.length));
            } else {
                bad = java.util.Arrays.copyOf(bad, bad.length + 1 + r.nextInt(8));
            }
            Path damaged = dir.resolve("damaged.bin");
            Files.write(damaged, bad);
            IOException e = assertThrows(IOException.class, () -> OptimizerState.read(damaged), "trial " + trial);
            assertTrue(e.getMessage().startsWith(damaged + ": at byte "), e.getMessage());
        }
    }

    @Test
    void missingOrMistypedEntriesAreNamed() {
        OptimizerState s = sample();
        AdamTest.assertMessage(() -> s.getDouble("nope"), "no entry 'nope'");
        AdamTest.assertMessage(() -> s.floats("loss"), "'loss' is not a float array");
        AdamTest.assertMessage(() -> s.require("rule", "epoch:3"), "rule = peak:0.9 ünicode");
    }

    /** CG saved after N iterations and restored into a fresh object continues bit for bit. */
    @ParameterizedTest @EnumSource(LineSearchKind.class)
    void cgContinuesBitForBitAfterSaveAndLoad(LineSearchKind ls, @TempDir Path dir) throws IOException {
        int n = 7, before = 4, after = 5;
        TestProblems.Rosenbrock2 f = new TestProblems.Rosenbrock2(cpu, n);
        CgConfig cfg = CgConfig.defaults().withLineSearch(ls);
        float[] start = new float[n];
        for (int i = 0; i < n; i++) start[i] = i % 2 == 0 ? -1.2f : 1f;

        float[] straight = new float[n];
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, cfg); Buffer x = TestProblems.buffer(cpu, start)) {
            for (int i = 0; i < before + after; i++) cg.iterate(f, x);
            cpu.download(x, straight, 0);
        }

        float[] resumed = new float[n];
        Path file = dir.resolve("cg.state");
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, cfg); Buffer x = TestProblems.buffer(cpu, start)) {
            for (int i = 0; i < before; i++) cg.iterate(f, x);
            cg.state().write(file);
            cpu.download(x, resumed, 0);
        }
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, cfg); Buffer x = TestProblems.buffer(cpu, resumed)) {
            cg.load(OptimizerState.read(file));
            for (int i = 0; i < after; i++) {
                ConjugateGradient.Iteration it = cg.iterate(f, x);
                if (i == 0) assertFalse(it.restarted(), "a loaded CG keeps its direction: " + it);
            }
            cpu.download(x, resumed, 0);
        }
        assertArrayEquals(straight, resumed);
    }

    /**
     * The record of recent step guesses is part of the state: saved while CG skips probes (the
     * extended Rosenbrock function, n = 7, after 8 iterations), the restored CG skips the next probe
     * too and continues bit for bit.
     */
    @Test
    void cgSavedWhileSkippingProbesContinuesBitForBit() {
        int n = 7, before = 8, after = 5;
        TestProblems.Rosenbrock2 f = new TestProblems.Rosenbrock2(cpu, n);
        float[] start = new float[n];
        for (int i = 0; i < n; i++) start[i] = i % 2 == 0 ? -1.2f : 1f;
        float[] straight = new float[n];
        int straightValues;
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, CgConfig.defaults().withReliableGuessC2(0.4)); Buffer x = TestProblems.buffer(cpu, start)) {
            for (int i = 0; i < before; i++) cg.iterate(f, x);
            assertEquals(0, cg.iterate(f, x).valueCalls(), "iteration " + (before + 1) + " skips its probe");
            for (int i = 1; i < after; i++) cg.iterate(f, x);
            cpu.download(x, straight, 0);
            straightValues = (int) cg.valueCalls();
        }
        float[] resumed = new float[n];
        OptimizerState saved;
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, CgConfig.defaults().withReliableGuessC2(0.4)); Buffer x = TestProblems.buffer(cpu, start)) {
            for (int i = 0; i < before; i++) cg.iterate(f, x);
            saved = cg.state();
            cpu.download(x, resumed, 0);
        }
        try (ConjugateGradient cg = new ConjugateGradient(cpu, n, CgConfig.defaults().withReliableGuessC2(0.4)); Buffer x = TestProblems.buffer(cpu, resumed)) {
            cg.load(saved);
            assertEquals(0, cg.iterate(f, x).valueCalls(), "the restored CG skips the probe as the uninterrupted one did");
            for (int i = 1; i < after; i++) cg.iterate(f, x);
            cpu.download(x, resumed, 0);
            assertEquals(straightValues, cg.valueCalls(), "the same value calls as the uninterrupted run");
        }
        assertArrayEquals(straight, resumed);
    }

    /**
     * Whether d is steepest descent (a beta of 0) is part of the state: Brown's badly scaled function
     * from (1, 1), saved after its 3rd iteration (beta 0), whose next search finds no decrease. The
     * restored CG goes on to relative steepest descent at once as the uninterrupted one does, with the
     * same calls and point (without the flag it repeats the failed search along -g).
     */
    @Test
    void cgRestoredAlongSteepestDescentDoesNotRepeatAFailedSearch() {
        CgStop stop = CgStop.gradientBelow(0.35, GradientNorm.MAX).withMaxEvaluations(200);
        float[] straight = new float[2], resumed = new float[2];
        TestProblems.BrownBadlyScaled f = new TestProblems.BrownBadlyScaled(cpu);
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults()); Buffer x = TestProblems.buffer(cpu, 1f, 1f)) {
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, cg.minimize(f, x, stop).status());
            cpu.download(x, straight, 0);
        }
        int straightCalls = f.values + f.gradients;
        TestProblems.BrownBadlyScaled h = new TestProblems.BrownBadlyScaled(cpu);
        OptimizerState saved;
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults()); Buffer x = TestProblems.buffer(cpu, 1f, 1f)) {
            ConjugateGradient.Iteration third = null;
            for (int i = 0; i < 3; i++) third = cg.iterate(h, x);
            assertEquals(0, third.beta(), "the 3rd iteration leaves d = -g: " + third);
            assertFalse(third.restarted(), "by a beta of 0, not a restart: " + third);
            saved = cg.state();
            cpu.download(x, resumed, 0);
        }
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 2, CgConfig.defaults()); Buffer x = TestProblems.buffer(cpu, resumed)) {
            cg.load(saved);
            assertEquals(CgResult.Status.GRADIENT_TOLERANCE, cg.minimize(h, x, stop).status());
            cpu.download(x, resumed, 0);
        }
        assertEquals(straightCalls, h.values + h.gradients, "the same calls as the uninterrupted run");
        assertArrayEquals(straight, resumed);
    }

    /** A stall is part of the state: the restored CG checks the point's bits and reports STALLED without evaluating anything. */
    @Test
    void aStalledCgStaysStalledAfterSaveAndLoad() {
        TestProblems.Quadratic f = TestProblems.randomQuadratic(cpu, 4, 7);
        CgConfig cfg = CgConfig.defaults().withStop(CgStop.gradientBelow(0, GradientNorm.TWO));
        OptimizerState saved;
        float[] at = new float[4];
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 4, cfg); Buffer x = TestProblems.buffer(cpu, 1f, -1f, 0.5f, 2f)) {
            assertEquals(CgResult.Status.STALLED, cg.minimize(f, x, CgStop.gradientBelow(0, GradientNorm.TWO)).status());
            saved = cg.state();
            cpu.download(x, at, 0);
        }
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 4, cfg); Buffer x = TestProblems.buffer(cpu, at)) {
            cg.load(saved);
            int calls = f.values + f.gradients;
            ConjugateGradient.Iteration it = cg.iterate(f, x);
            assertEquals(ConjugateGradient.Status.STALLED, it.status());
            assertEquals(0, it.evaluations(), "the point is checked by its checksum, not by a loss evaluation");
            assertEquals(calls, f.values + f.gradients);
        }
    }

    /** A state restored over other parameters than those it was saved with is refused, not continued from a wrong point. */
    @Test
    void aLoadedCgRefusesOtherParameters() {
        TestProblems.Quadratic f = TestProblems.randomQuadratic(cpu, 5, 3);
        OptimizerState saved;
        float[] at = new float[5];
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 5, CgConfig.defaults()); Buffer x = TestProblems.buffer(cpu, 1f, -2f, 0.5f, 2f, 3f)) {
            for (int i = 0; i < 2; i++) cg.iterate(f, x);
            saved = cg.state();
            cpu.download(x, at, 0);
        }
        at[2] = Math.nextUp(at[2]);
        try (ConjugateGradient cg = new ConjugateGradient(cpu, 5, CgConfig.defaults()); Buffer x = TestProblems.buffer(cpu, at)) {
            cg.load(saved);
            AdamTest.assertMessage(() -> cg.iterate(f, x), "does not hold the parameters CG's state was saved with");
        }
    }

    @Test
    void cgRefusesAStateOfAnotherShape() {
        try (ConjugateGradient a = new ConjugateGradient(cpu, 3, CgConfig.defaults());
             ConjugateGradient b = new ConjugateGradient(cpu, 4, CgConfig.defaults());
             ConjugateGradient c = new ConjugateGradient(cpu, 3, CgConfig.defaults().withFormula(CgFormula.FLETCHER_REEVES))) {
            AdamTest.assertMessage(() -> b.load(a.state()), "for 3 parameters");
            AdamTest.assertMessage(() -> c.load(a.state()), "formula = pr+");
        }
    }

    /** A peak rule restored mid-run decides exactly as the uninterrupted one. */
    @Test
    void switchRulesContinueAfterSaveAndLoad() {
        double[] norms = {3, 2, 2.5, 4, 5, 5.2, 4.9, 4.6, 4.0, 3.5};
        for (String spec : new String[]{"peak:0.9", "rise-peak:0.9:0.5", "epoch:6", "never", "cg-only"}) {
            SwitchRule straight = SwitchRule.parse(spec), first = SwitchRule.parse(spec);
            Integer expected = null, got = null;
            for (int e = 1; e <= norms.length && expected == null; e++) if (straight.switchAfter(e, norms[e - 1])) expected = e;
            int cut = 4;
            for (int e = 1; e <= cut && got == null; e++) if (first.switchAfter(e, norms[e - 1])) got = e;
            SwitchRule second = SwitchRule.parse(spec);
            second.load(first.state());
            for (int e = cut + 1; e <= norms.length && got == null; e++) if (second.switchAfter(e, norms[e - 1])) got = e;
            assertEquals(expected, got, spec);
        }
        AdamTest.assertMessage(() -> SwitchRule.parse("peak:0.8").load(SwitchRule.parse("peak:0.9").state()), "rule = peak:0.9");
    }
}
