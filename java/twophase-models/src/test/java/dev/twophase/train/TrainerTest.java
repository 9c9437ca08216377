package dev.twophase.train;

import dev.twophase.backend.Activation;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.data.Dataset;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Network;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.SwitchRule;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** End-to-end training on a small generated problem: two Gaussian blobs per class in 6 dimensions. */
class TrainerTest {
    static CpuBackend cpu;
    static Dataset train, val;

    @BeforeAll static void setUp() {
        cpu = new CpuBackend(2);
        Random r = new Random(3);
        int n = 300, f = 6, k = 3;
        float[] x = new float[n * f];
        int[] y = new int[n];
        double[][] centers = new double[k][f];
        for (double[] c : centers) for (int j = 0; j < f; j++) c[j] = 2 * r.nextGaussian();
        for (int i = 0; i < n; i++) {
            y[i] = i % k;
            for (int j = 0; j < f; j++) x[i * f + j] = (float) (centers[y[i]][j] + r.nextGaussian());
        }
        Dataset.Split s = new Dataset("blobs", f, k, x, y).split(0.2, 1);
        train = s.train();
        val = s.validation();
    }

    @AfterAll static void close() { cpu.close(); }

    static TrainSettings settings(int epochs, NormMeasure m) {
        return new TrainSettings(epochs, 64, 7, AdamConfig.adam().withLr(1e-2), CgConfig.defaults(), m, Loss.MSE);
    }

    static Network net() { return Network.mlp(6, new int[]{8}, 3, Activation.TANH, Activation.IDENTITY); }

    @Test
    void adamAndTwoPhaseStartAlikeAndSwitchOnce() {
        Trainer t = new Trainer(cpu, settings(30, NormMeasure.MINIBATCH_MEAN));
        RunResult adam = t.run("adam", SwitchRule.never(), net(), train, val, Progress.none());
        RunResult two = t.run("two-phase", SwitchRule.atEpoch(10), net(), train, val, Progress.none());
        assertEquals(30, adam.epochs().size());
        assertNull(adam.switchEpoch());
        assertEquals(10, two.switchEpoch());
        // Same seed, same batches: the first 10 epochs are identical, bit for bit.
        for (int e = 0; e < 10; e++) {
            assertEquals(adam.epochs().get(e).trainLoss(), two.epochs().get(e).trainLoss(), 0.0, "epoch " + (e + 1));
            assertEquals("adam", two.epochs().get(e).phase());
        }
        for (int e = 10; e < two.epochs().size(); e++) assertEquals("cg", two.epochs().get(e).phase());
        // CG never increases the training loss.
        for (int e = 11; e < two.epochs().size(); e++) {
            assertTrue(two.epochs().get(e).trainLoss() <= two.epochs().get(e - 1).trainLoss(), "epoch " + (e + 1));
        }
        // Compute: one Adam epoch is one pass; a CG epoch is a gradient plus line-search forward passes.
        assertEquals(10.0, two.epochs().get(9).evaluations(), 1e-9);
        assertTrue(two.last().evaluations() > adam.last().evaluations());
        assertTrue(adam.last().trainAccuracy() > 0.9, "blobs are separable: " + adam.last());
        assertTrue(two.last().trainLoss() < two.epochs().get(9).trainLoss());
    }

    @Test
    void fullBatchNormMeasureCostsOneGradientPerEpoch() {
        Trainer t = new Trainer(cpu, settings(5, NormMeasure.FULL_BATCH));
        RunResult r = t.run("two-phase", SwitchRule.parse("peak:0.01"), net(), train, val, Progress.none());
        assertNull(r.switchEpoch());
        assertEquals(10.0, r.last().evaluations(), 1e-9);
        assertTrue(r.epochs().stream().allMatch(e -> e.gradNorm() > 0));
        // Adam alone does not look at the norm, so it pays for no full-batch gradient.
        assertEquals(5.0, t.run("adam", SwitchRule.never(), net(), train, val, Progress.none()).last().evaluations(), 1e-9);
    }

    @Test
    void stopRequestEndsTheRunAfterTheCurrentEpoch() {
        Trainer t = new Trainer(cpu, settings(50, NormMeasure.MINIBATCH_MEAN));
        RunResult r = t.run("adam", SwitchRule.never(), net(), train, val, (run, rec, total) -> { if (rec.epoch() == 3) t.requestStop(); });
        assertEquals(3, r.epochs().size());
        assertEquals(RunResult.Outcome.INTERRUPTED, r.outcome());
        assertNull(r.divergedEpoch());
    }

    static TrainSettings withLr(double lr, double factor) {
        return new TrainSettings(20, 64, 7, AdamConfig.adam().withLr(lr), CgConfig.defaults(), NormMeasure.MINIBATCH_MEAN, Loss.MSE, factor);
    }

    @Test
    void anExplodingLossStopsTheRunAsDiverged() {
        RunResult r = new Trainer(cpu, withLr(1e10, TrainSettings.DEFAULT_DIVERGENCE_FACTOR)).run("adam", SwitchRule.never(), net(), train, val, Progress.none());
        assertEquals(RunResult.Outcome.DIVERGED, r.outcome());
        assertEquals(1, r.divergedEpoch());
        assertEquals(1, r.epochs().size(), "stops at the epoch it diverged");
        assertTrue(r.reason().contains("times the loss at the initial weights"), r.reason());
        // with the factor off the same run goes on; only a non-finite value would stop it
        RunResult on = new Trainer(cpu, withLr(1e10, Double.POSITIVE_INFINITY)).run("adam", SwitchRule.never(), net(), train, val, Progress.none());
        assertNotEquals(1, on.epochs().size());
        // an ordinary run completes
        RunResult ok = new Trainer(cpu, withLr(1e-2, TrainSettings.DEFAULT_DIVERGENCE_FACTOR)).run("adam", SwitchRule.never(), net(), train, val, Progress.none());
        assertEquals(RunResult.Outcome.COMPLETED, ok.outcome());
        assertNull(ok.reason());
        assertEquals(20, ok.epochs().size());
    }

    @Test
    void divergenceIsANonFiniteLossOrNormOrAnExplodedLoss() {
        assertEquals("the training loss is NaN", Trainer.divergence(Double.NaN, 1, 0.1, 1e3));
        assertEquals("the training loss is Infinity", Trainer.divergence(Double.POSITIVE_INFINITY, 1, 0.1, 1e3));
        assertEquals("the gradient norm is NaN", Trainer.divergence(0.05, Double.NaN, 0.1, 1e3));
        assertNull(Trainer.divergence(99.9, 5, 0.1, 1e3));
        assertTrue(Trainer.divergence(100.1, 5, 0.1, 1e3).startsWith("the training loss 100.1 is above 1000 times"));
        assertNull(Trainer.divergence(1e30, 5, 0.1, Double.POSITIVE_INFINITY));
        assertThrows(IllegalArgumentException.class, () -> withLr(1, 1));
    }
}
