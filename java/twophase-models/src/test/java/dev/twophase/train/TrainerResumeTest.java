package dev.twophase.train;

import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.SwitchRule;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A run continued from the state its {@link EpochHook} saw after any epoch (in Adam, at the
 * switch, inside CG; both norm measures) ends exactly as the uninterrupted run: the same records
 * (every column but the seconds), the same parameters after every later epoch, bit for bit.
 */
class TrainerResumeTest {
    @BeforeAll static void setUp() { TrainerTest.setUp(); }

    @AfterAll static void close() { TrainerTest.close(); }

    /** Runs with a hook that keeps the state after every epoch. */
    static RunResult run(Trainer t, String rule, RunState from, Map<Integer, RunState> states) {
        return t.run("run", SwitchRule.parse(rule), TrainerTest.net(), TrainerTest.train, TrainerTest.val, Progress.none(), from,
                (epoch, stopping, state) -> states.put(epoch, state.get()));
    }

    @Test
    void continuingFromAnyEpochGivesTheUninterruptedRun() {
        for (NormMeasure m : NormMeasure.values()) {
            for (String rule : List.of("never", "epoch:6", "rise-peak:0.9:0.5", "cg-only")) {
                Trainer t = new Trainer(TrainerTest.cpu, TrainerTest.settings(16, m));
                Map<Integer, RunState> whole = new HashMap<>();
                RunResult expected = run(t, rule, null, whole);
                assertEquals(15, whole.size(), rule + ": a state after every epoch but the last");
                if (rule.equals("epoch:6")) assertEquals(6, expected.switchEpoch());
                if (rule.equals("cg-only")) assertEquals("cg", expected.epochs().get(0).phase());
                for (int k : new int[]{1, 5, 6, 7, 11, 15}) {
                    String label = m + " " + rule + " from epoch " + k;
                    Map<Integer, RunState> resumed = new HashMap<>();
                    RunResult got = run(new Trainer(TrainerTest.cpu, TrainerTest.settings(16, m)), rule, whole.get(k), resumed);
                    assertSameRun(expected, got, label);
                    for (int e = k + 1; e < 16; e++) {
                        assertArrayEquals(whole.get(e).parameters(), resumed.get(e).parameters(), label + ": parameters after epoch " + e);
                        assertEquals(whole.get(e).compute(), resumed.get(e).compute(), 0.0, label);
                    }
                }
            }
        }
    }

    static void assertSameRun(RunResult expected, RunResult got, String label) {
        assertEquals(expected.outcome(), got.outcome(), label);
        assertEquals(expected.switchEpoch(), got.switchEpoch(), label);
        assertEquals(expected.skippedAdamSteps(), got.skippedAdamSteps(), label);
        assertEquals(expected.fellBackToAdam(), got.fellBackToAdam(), label);
        assertEquals(withoutSeconds(expected.epochs()), withoutSeconds(got.epochs()), label);
    }

    static List<EpochRecord> withoutSeconds(List<EpochRecord> records) {
        List<EpochRecord> out = new ArrayList<>();
        for (EpochRecord r : records) {
            out.add(new EpochRecord(r.epoch(), r.phase(), r.trainLoss(), r.trainAccuracy(), r.valLoss(), r.valAccuracy(), r.gradNorm(), r.evaluations(), 0));
        }
        return out;
    }

    @Test
    void aStopIsShownToTheHookAtTheEpochTheRunEndsAfter() {
        Trainer t = new Trainer(TrainerTest.cpu, TrainerTest.settings(20, NormMeasure.MINIBATCH_MEAN));
        List<String> seen = new ArrayList<>();
        RunResult r = t.run("run", SwitchRule.atEpoch(3), TrainerTest.net(), TrainerTest.train, TrainerTest.val, Progress.none(), null,
                (epoch, stopping, state) -> {
                    seen.add(epoch + (stopping ? " stopping" : ""));
                    if (epoch == 5) t.requestStop();
                    if (stopping) assertEquals(epoch, state.get().epoch());
                });
        assertEquals(RunResult.Outcome.INTERRUPTED, r.outcome());
        assertEquals(6, r.epochs().size());
        assertEquals(List.of("1", "2", "3", "4", "5", "6 stopping"), seen);
    }

    @Test
    void aStateOfAnotherRunOrModelIsRefused() {
        Trainer t = new Trainer(TrainerTest.cpu, TrainerTest.settings(6, NormMeasure.MINIBATCH_MEAN));
        Map<Integer, RunState> states = new HashMap<>();
        run(t, "epoch:2", null, states);
        RunState s = states.get(3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(t, "epoch:4", s, new HashMap<>()));
        assertTrue(e.getMessage().contains("epoch:2") && e.getMessage().contains("epoch:4"), e.getMessage());
        RunState shorter = new RunState(s.soFar(), java.util.Arrays.copyOf(s.parameters(), 5), s.optimizer(), s.compute(), s.initialLoss(), s.seconds());
        e = assertThrows(IllegalArgumentException.class, () -> run(t, "epoch:2", shorter, new HashMap<>()));
        assertTrue(e.getMessage().contains("5 parameters"), e.getMessage());
    }
}
