package dev.twophase.optim;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.tensor.ParameterLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * TwoPhase saved mid-run and restored into fresh objects continues bit for bit, in each phase and
 * across the switch, on a small tanh network written here (core has no models).
 */
class TwoPhaseStateTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    /**
     * A 3-6-2 tanh network with a linear output and the mean squared error, on 24 fixed random
     * samples in 3 mini-batches; the gradient by backpropagation in double. Mini-batch gradients
     * are of the batch's summed loss, so Adam gets {@code gradScale = 1 / rows} (the case of a
     * library whose gradient is a sum where its loss is a mean).
     */
    static final class TinyNet implements Objective {
        static final int IN = 3, HID = 6, OUT = 2, ROWS = 24, BATCHES = 3;
        static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w1", HID, IN).add("b1", HID).add("w2", OUT, HID).add("b2", OUT).build();
        final VectorBackend be;
        final double[][] x = new double[ROWS][IN], y = new double[ROWS][OUT];

        TinyNet(VectorBackend be) {
            this.be = be;
            Random r = new Random(3);
            for (int i = 0; i < ROWS; i++) {
                for (int j = 0; j < IN; j++) x[i][j] = r.nextGaussian();
                y[i][0] = Math.sin(2 * x[i][0]) * x[i][1];
                y[i][1] = Math.cos(x[i][2] + x[i][0]);
            }
        }

        static float[] initial() {
            Random r = new Random(5);
            float[] p = new float[(int) LAYOUT.size()];
            for (int i = 0; i < p.length; i++) p[i] = (float) (r.nextGaussian() * 0.7);
            return p;
        }

        /** Summed squared error over rows [from, to), divided by {@code divisor}; gradient into g if not null. */
        double loss(float[] p, int from, int to, double divisor, double[] g) {
            int w1 = 0, b1 = HID * IN, w2 = b1 + HID, b2 = w2 + OUT * HID;
            double total = 0;
            for (int s = from; s < to; s++) {
                double[] h = new double[HID], out = new double[OUT];
                for (int k = 0; k < HID; k++) {
                    double a = p[b1 + k];
                    for (int j = 0; j < IN; j++) a += p[w1 + k * IN + j] * x[s][j];
                    h[k] = Math.tanh(a);
                }
                for (int o = 0; o < OUT; o++) {
                    double a = p[b2 + o];
                    for (int k = 0; k < HID; k++) a += p[w2 + o * HID + k] * h[k];
                    out[o] = a;
                    total += (a - y[s][o]) * (a - y[s][o]);
                }
                if (g == null) continue;
                double[] dh = new double[HID];
                for (int o = 0; o < OUT; o++) {
                    double d = 2 * (out[o] - y[s][o]) / divisor;
                    g[b2 + o] += d;
                    for (int k = 0; k < HID; k++) {
                        g[w2 + o * HID + k] += d * h[k];
                        dh[k] += d * p[w2 + o * HID + k];
                    }
                }
                for (int k = 0; k < HID; k++) {
                    double da = dh[k] * (1 - h[k] * h[k]);
                    g[b1 + k] += da;
                    for (int j = 0; j < IN; j++) g[w1 + k * IN + j] += da * x[s][j];
                }
            }
            return total / divisor;
        }

        float[] read(Buffer b) {
            float[] a = new float[(int) b.length()];
            be.download(b, a);
            return a;
        }

        void write(double[] g, Buffer b) {
            float[] f = new float[g.length];
            for (int i = 0; i < g.length; i++) f[i] = (float) g[i];
            be.upload(f, b);
        }

        /** The summed loss gradient of mini-batch {@code batch}. */
        void batchGradient(Buffer params, int batch, Buffer grads) {
            int rows = ROWS / BATCHES;
            double[] g = new double[(int) LAYOUT.size()];
            loss(read(params), batch * rows, (batch + 1) * rows, 1, g);
            write(g, grads);
        }

        @Override public double value(Buffer params) { return loss(read(params), 0, ROWS, ROWS * OUT, null); }

        @Override public double valueAndGradient(Buffer params, Buffer gradient) {
            double[] g = new double[(int) LAYOUT.size()];
            double v = loss(read(params), 0, ROWS, ROWS * OUT, g);
            write(g, gradient);
            return v;
        }
    }

    /** The caller's loop, one call per tick: an Adam step per mini-batch, the end of each Adam epoch, or one CG iteration. */
    static final class Loop {
        final TinyNet net;
        final TwoPhase opt;
        final Buffer params, grads;
        int batch;

        Loop(TinyNet net, TwoPhase opt, Buffer params) {
            this.net = net;
            this.opt = opt;
            this.params = params;
            this.grads = cpu.allocate(params.length());
        }

        void tick() {
            switch (opt.phase()) {
                case ADAM -> {
                    if (batch < TinyNet.BATCHES) {
                        net.batchGradient(params, batch++, grads);
                        opt.adamStep(params, grads, 1.0 / (TinyNet.ROWS / TinyNet.BATCHES));
                    } else {
                        opt.endAdamEpoch(net, params);
                        batch = 0;
                    }
                }
                case CG -> opt.cgIteration(net, params);
                case DONE -> { }
            }
        }
    }

    static TwoPhase twoPhase(String rule, NormMeasure measure) {
        return new TwoPhase(cpu, TinyNet.LAYOUT, AdamConfig.adamW().withLr(0.05).withAmsgrad(true).withWeightDecay(v -> v.name().startsWith("b"), 0),
                CgConfig.defaults(), SwitchRule.parse(rule), measure);
    }

    /**
     * {@code ticks} ticks straight, against {@code split} ticks, save to a file, fresh objects,
     * load, the rest. With epoch:3 and 3 batches an Adam epoch is 4 ticks, so the splits fall
     * mid-epoch (2, 11), on an epoch boundary (8), right after the switch (12) and inside CG (15).
     */
    @ParameterizedTest
    @CsvSource({
            "epoch:3, minibatch-mean, 2", "epoch:3, minibatch-mean, 8", "epoch:3, minibatch-mean, 11",
            "epoch:3, minibatch-mean, 12", "epoch:3, minibatch-mean, 15",
            "peak:0.9, full-batch, 5", "peak:0.9, full-batch, 14", "peak:0.9, full-batch, 22",
            "peak:0.9:0.5, minibatch-mean, 6", "cg-only, minibatch-mean, 3"})
    void continuesBitForBitAfterSaveAndLoad(String rule, String measure, int split, @TempDir Path dir) throws IOException {
        int ticks = 26;
        NormMeasure m = NormMeasure.parse(measure);
        TinyNet net = new TinyNet(cpu);

        float[] straight = TinyNet.initial();
        TwoPhase.Phase straightPhase;
        Integer straightSwitch;
        byte[] straightState;
        try (TwoPhase opt = twoPhase(rule, m)) {
            Loop loop = new Loop(net, opt, cpu.wrap(straight));
            for (int t = 0; t < ticks; t++) loop.tick();
            straightPhase = opt.phase();
            straightSwitch = opt.switchEpoch();
            straightState = bytes(opt.state());
        }
        assertNotEquals(TwoPhase.Phase.ADAM, straightPhase, rule + " should have reached CG within " + ticks + " ticks");

        float[] resumed = TinyNet.initial();
        Path file = dir.resolve("two-phase.state");
        int batch;
        TwoPhase.Phase phaseAtSplit;
        try (TwoPhase opt = twoPhase(rule, m)) {
            Loop loop = new Loop(net, opt, cpu.wrap(resumed));
            for (int t = 0; t < split; t++) loop.tick();
            opt.state().write(file);
            batch = loop.batch;
            phaseAtSplit = opt.phase();
        }
        try (TwoPhase opt = twoPhase(rule, m)) {
            opt.load(OptimizerState.read(file));
            assertEquals(phaseAtSplit, opt.phase());
            Loop loop = new Loop(net, opt, cpu.wrap(resumed));
            loop.batch = batch;
            for (int t = split; t < ticks; t++) loop.tick();
            assertEquals(straightPhase, opt.phase());
            assertEquals(straightSwitch, opt.switchEpoch());
            assertArrayEquals(straightState, bytes(opt.state()), "every saved number (moments, CG vectors, the rule's peak, ...) ends the same");
        }
        assertArrayEquals(straight, resumed, "split after " + split + " ticks (phase " + phaseAtSplit + ")");
    }

    static byte[] bytes(OptimizerState s) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        s.writeTo(out);
        return out.toByteArray();
    }

    @Test
    void aStateOfOtherSettingsIsRefusedBeforeAnythingChanges() {
        OptimizerState s;
        try (TwoPhase opt = twoPhase("epoch:3", NormMeasure.MINIBATCH_MEAN)) {
            s = opt.state();
        }
        try (TwoPhase opt = twoPhase("epoch:4", NormMeasure.MINIBATCH_MEAN)) {
            AdamTest.assertMessage(() -> opt.load(s), "optimizer state was saved with rule = epoch:3; this optimizer has epoch:4");
        }
        try (TwoPhase opt = twoPhase("epoch:3", NormMeasure.FULL_BATCH)) {
            AdamTest.assertMessage(() -> opt.load(s), "optimizer state was saved with normMeasure = minibatch-mean; this optimizer has full-batch");
        }
    }

    @Test
    void adamStepWithGradScaleEqualsPrescaledGradients() {
        TinyNet net = new TinyNet(cpu);
        float[] a = TinyNet.initial(), b = TinyNet.initial();
        try (TwoPhase x = twoPhase("never", NormMeasure.MINIBATCH_MEAN); TwoPhase y = twoPhase("never", NormMeasure.MINIBATCH_MEAN)) {
            Buffer ga = cpu.allocate(TinyNet.LAYOUT.size()), gb = cpu.allocate(TinyNet.LAYOUT.size());
            for (int t = 0; t < 4; t++) {
                net.batchGradient(cpu.wrap(a), t % 3, ga);
                x.adamStep(cpu.wrap(a), ga, 0.25);
                net.batchGradient(cpu.wrap(b), t % 3, gb);
                float[] g = net.read(gb);
                for (int i = 0; i < g.length; i++) g[i] *= 0.25f;  // exact: a power of two
                y.adamStep(cpu.wrap(b), cpu.wrap(g));
            }
        }
        assertArrayEquals(b, a);
    }

    @Test
    void closedOptimizersRefuseUse() {
        TinyNet net = new TinyNet(cpu);
        Buffer p = cpu.wrap(TinyNet.initial());
        TwoPhase opt = twoPhase("cg-only", NormMeasure.MINIBATCH_MEAN);
        opt.close();
        opt.close();
        assertEquals("TwoPhase.cgIteration: this TwoPhase is closed", assertThrows(IllegalStateException.class, () -> opt.cgIteration(net, p)).getMessage());
        assertEquals("TwoPhase.state: this TwoPhase is closed", assertThrows(IllegalStateException.class, opt::state).getMessage());
        ConjugateGradient cg = new ConjugateGradient(cpu, p.length(), CgConfig.defaults());
        cg.close();
        assertEquals("ConjugateGradient.iterate: this ConjugateGradient is closed", assertThrows(IllegalStateException.class, () -> cg.iterate(net, p)).getMessage());
    }
}
