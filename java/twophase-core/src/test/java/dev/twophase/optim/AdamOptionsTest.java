package dev.twophase.optim;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.optim.reference.TorchAdamGroupsReference;
import dev.twophase.tensor.ParameterLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.twophase.optim.AdamTest.assertUlps;
import static dev.twophase.optim.AdamTest.decimal;
import static org.junit.jupiter.api.Assertions.*;

/** AMSGrad, weight decay by tensor, the learning-rate setter and schedule, Adam's saved state, and a closed Adam. */
class AdamOptionsTest {
    static CpuBackend cpu;
    static final List<TorchAdamGroupsReference.Case> CASES = TorchAdamGroupsReference.ALL;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    static ParameterLayout layout(TorchAdamGroupsReference.Case c) {
        ParameterLayout.Builder b = ParameterLayout.builder();
        for (int i = 0; i < c.tensorNames().size(); i++) b.add(c.tensorNames().get(i), c.tensorShapes()[i]);
        return b.build();
    }

    /** The first tensor's decay for all, then one rule by name per other tensor (PyTorch: one parameter group per decay). */
    static AdamConfig config(TorchAdamGroupsReference.Case c) {
        float[] wd = c.tensorWeightDecay();
        AdamConfig cfg = new AdamConfig(decimal(c.lr()), decimal(c.beta1()), decimal(c.beta2()), decimal(c.eps()), decimal(wd[0]), c.decoupled())
                .withAmsgrad(c.amsgrad());
        for (int i = 1; i < wd.length; i++) cfg = cfg.withWeightDecay(c.tensorNames().get(i), decimal(wd[i]));
        return cfg;
    }

    @ParameterizedTest @FieldSource("CASES")
    void matchesPyTorchWithAmsgradAndParameterGroups(TorchAdamGroupsReference.Case c) {
        ParameterLayout layout = layout(c);
        int n = (int) layout.size();
        try (Adam adam = new Adam(cpu, layout, config(c))) {
            for (int i = 0; i < c.tensorNames().size(); i++) {
                assertEquals(decimal(c.tensorWeightDecay()[i]), adam.weightDecay(c.tensorNames().get(i)));
            }
            assertEquals(c.amsgrad(), adam.maxExpAvgSq() != null);
            Buffer p = cpu.wrap(c.initialParams().clone()), g = cpu.allocate(n);
            for (int t = 0; t < c.steps(); t++) {
                cpu.upload(c.grads()[t], g);
                assertFalse(adam.step(p, g).skipped());
                String at = " after step " + (t + 1);
                assertUlps(c.expectedParams()[t], AdamTest.read(p), 4, "params" + at);
                assertUlps(c.expectedExpAvg()[t], AdamTest.read(adam.expAvg()), 4, "exp_avg" + at);
                assertUlps(c.expectedExpAvgSq()[t], AdamTest.read(adam.expAvgSq()), 4, "exp_avg_sq" + at);
                if (c.amsgrad()) assertUlps(c.expectedMaxExpAvgSq()[t], AdamTest.read(adam.maxExpAvgSq()), 4, "max_exp_avg_sq" + at);
            }
        }
    }

    static float[] random(Random r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian() * scale;
        return a;
    }

    /** One Adam over a layout with decay by tensor gives the bits of one Adam per tensor, each with its decay. */
    @Test
    void weightDecayByTensorEqualsSeparateOptimizersPerTensor() {
        ParameterLayout layout = ParameterLayout.builder().add("w1", 3, 5).add("b1", 5).add("norm.gain", 7).add("w2", 5, 2).build();
        AdamConfig cfg = AdamConfig.adamW().withLr(1e-2).withWeightDecay(0.1).withWeightDecay(v -> v.shape().length < 2, 0)
                .withWeightDecay("norm.gain", 0.02).withAmsgrad(true);
        assertEquals(List.of(0.1, 0.0, 0.02, 0.1), layout.views().stream().map(cfg::weightDecayOf).toList(), "the last matching rule wins");
        Random r = new Random(17);
        int n = (int) layout.size();
        float[] p0 = random(r, n, 1f);
        List<float[]> grads = new ArrayList<>();
        for (int t = 0; t < 6; t++) grads.add(random(r, n, t % 2 == 0 ? 1f : 0.1f));

        float[] together = p0.clone();
        try (Adam adam = new Adam(cpu, layout, cfg)) {
            Buffer p = cpu.wrap(together);
            for (float[] g : grads) adam.step(p, cpu.wrap(g));
        }
        float[] separate = p0.clone();
        for (var v : layout.views()) {
            int off = (int) v.offset(), len = (int) v.size();
            AdamConfig alone = new AdamConfig(cfg.lr(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecayOf(v), true).withAmsgrad(true);
            try (Adam adam = new Adam(cpu, ParameterLayout.single(len), alone)) {
                Buffer p = cpu.wrap(separate, off, len);
                for (float[] g : grads) adam.step(p, cpu.wrap(g, off, len));
            }
        }
        assertArrayEquals(separate, together);
    }

    @Test
    void unknownTensorNamesAreRefused() {
        ParameterLayout layout = ParameterLayout.builder().add("w", 2, 2).add("b", 2).build();
        AdamTest.assertMessage(() -> new Adam(cpu, layout, AdamConfig.adamW().withWeightDecay("bias", 0)),
                "AdamConfig: weight decay for tensor 'bias', but the layout has no such tensor; it has [w, b]");
    }

    /** A schedule gives the bits of setting the same learning rate by hand before each step; skipped steps do not advance it. */
    @Test
    void scheduleAndSetterAgree() {
        int n = 1001;
        Random r = new Random(23);
        float[] p0 = random(r, n, 1f);
        List<float[]> grads = new ArrayList<>();
        for (int t = 0; t < 8; t++) grads.add(random(r, n, 1f));
        grads.get(3)[5] = Float.NaN;  // a skipped step
        AdamConfig cfg = AdamConfig.adam().withLr(2e-2);
        LearningRateSchedule warmup = (step, lr) -> step <= 4 ? lr * step / 4 : lr * 0.5;

        float[] scheduled = p0.clone();
        List<Long> steps = new ArrayList<>();
        try (Adam adam = new Adam(cpu, ParameterLayout.single(n), cfg)) {
            adam.setSchedule((step, lr) -> {
                steps.add(step);
                return warmup.learningRate(step, lr);
            });
            for (int t = 0; t < grads.size(); t++) {
                Adam.StepResult res = adam.step(cpu.wrap(scheduled), cpu.wrap(grads.get(t)));
                if (t == 3) assertTrue(res.skipped() && Double.isNaN(res.learningRate()));
                else assertEquals(warmup.learningRate(res.step(), 2e-2), res.learningRate());
            }
        }
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L), steps);

        float[] byHand = p0.clone();
        try (Adam adam = new Adam(cpu, ParameterLayout.single(n), cfg)) {
            for (float[] g : grads) {
                adam.setLearningRate(warmup.learningRate(adam.stepCount() + 1, 2e-2));
                adam.step(cpu.wrap(byHand), cpu.wrap(g));
            }
            assertEquals(0.01, adam.learningRate());
        }
        assertArrayEquals(byHand, scheduled);

        try (Adam adam = new Adam(cpu, ParameterLayout.single(n), cfg)) {
            float[] p = p0.clone();
            adam.setSchedule((step, lr) -> step == 2 ? Double.NaN : lr);
            adam.step(cpu.wrap(p), cpu.wrap(grads.get(0)));
            float[] before = p.clone();
            AdamTest.assertMessage(() -> adam.step(cpu.wrap(p), cpu.wrap(grads.get(1))),
                    "Adam.step: the learning-rate schedule returned NaN for step 2; expected a finite value >= 0");
            assertEquals(1, adam.stepCount(), "a refused step changes nothing");
            assertArrayEquals(before, p);
            AdamTest.assertMessage(() -> adam.setLearningRate(-1), "lr = -1.0");
        }
    }

    /** N steps, save to a file, a fresh Adam loads it and runs M more: the bits of N + M steps in one go. */
    @Test
    void savedStateContinuesBitForBit(@TempDir Path dir) throws IOException {
        ParameterLayout layout = ParameterLayout.builder().add("w", 40, 30).add("b", 30).build();
        AdamConfig cfg = AdamConfig.adamW().withAmsgrad(true).withWeightDecay("b", 0);
        int n = (int) layout.size(), before = 5, after = 4;
        Random r = new Random(29);
        float[] p0 = random(r, n, 1f);
        List<float[]> grads = new ArrayList<>();
        for (int t = 0; t < before + after; t++) grads.add(random(r, n, t == 2 ? 5f : 0.5f));
        grads.get(1)[7] = Float.POSITIVE_INFINITY;

        float[] straight = p0.clone();
        float[] straightM;
        try (Adam adam = new Adam(cpu, layout, cfg)) {
            for (int t = 0; t < before + after; t++) {
                if (t == 3) adam.setLearningRate(3e-3);
                adam.step(cpu.wrap(straight), cpu.wrap(grads.get(t)));
            }
            straightM = AdamTest.read(adam.maxExpAvgSq());
        }

        float[] resumed = p0.clone();
        Path file = dir.resolve("adam.state");
        try (Adam adam = new Adam(cpu, layout, cfg)) {
            for (int t = 0; t < before; t++) {
                if (t == 3) adam.setLearningRate(3e-3);
                adam.step(cpu.wrap(resumed), cpu.wrap(grads.get(t)));
            }
            adam.state().write(file);
        }
        try (Adam adam = new Adam(cpu, layout, cfg)) {
            adam.load(OptimizerState.read(file));
            assertEquals(4, adam.stepCount());
            assertEquals(1, adam.skippedCount());
            assertEquals(3e-3, adam.learningRate());
            for (int t = before; t < before + after; t++) adam.step(cpu.wrap(resumed), cpu.wrap(grads.get(t)));
            assertArrayEquals(straightM, AdamTest.read(adam.maxExpAvgSq()));
        }
        assertArrayEquals(straight, resumed);
    }

    @Test
    void statesThatDoNotFitAreRefusedAndChangeNothing() {
        ParameterLayout layout = ParameterLayout.single(10);
        OptimizerState withAmsgrad, shorter;
        try (Adam a = new Adam(cpu, layout, AdamConfig.adam().withAmsgrad(true)); Adam b = new Adam(cpu, ParameterLayout.single(9), AdamConfig.adam())) {
            a.step(cpu.wrap(new float[10]), cpu.wrap(random(new Random(1), 10, 1f)));
            withAmsgrad = a.state();
            shorter = b.state();
        }
        try (Adam adam = new Adam(cpu, layout, AdamConfig.adam())) {
            AdamTest.assertMessage(() -> adam.load(withAmsgrad), "Adam state was saved with amsgrad = true; this Adam has amsgrad = false");
            AdamTest.assertMessage(() -> adam.load(shorter), "Adam state is for 9 parameters; this Adam has 10");
            AdamTest.assertMessage(() -> adam.load(new OptimizerState().putString("optimizer", "sgd")), "optimizer state was saved with optimizer = sgd");
            assertEquals(0, adam.stepCount());
            assertArrayEquals(new float[10], AdamTest.read(adam.expAvg()));
        }
    }

    @Test
    void aClosedAdamRefusesUse() {
        Adam adam = new Adam(cpu, ParameterLayout.single(3), AdamConfig.adam());
        adam.close();
        adam.close();
        Buffer p = cpu.allocate(3);
        for (var call : List.<org.junit.jupiter.api.function.Executable>of(() -> adam.step(p, p), adam::state, () -> adam.load(new OptimizerState()),
                () -> adam.setLearningRate(1e-3))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, call);
            assertTrue(e.getMessage().startsWith("Adam.") && e.getMessage().endsWith(": this Adam is closed"), e.getMessage());
        }
    }
}
