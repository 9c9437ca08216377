package dev.twophase.backend.gpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.optim.Adam;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.reference.TorchAdamGroupsReference;
import dev.twophase.optim.reference.TorchAdamReference;
import dev.twophase.tensor.ParameterLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static dev.twophase.backend.gpu.GpuTestSupport.assertBits;
import static dev.twophase.backend.gpu.GpuTestSupport.download;
import static dev.twophase.backend.gpu.GpuTestSupport.random;
import static dev.twophase.backend.gpu.GpuTestSupport.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU backends' Adam in every variant against the CPU backend, bit for bit: segment tables of
 * per-tensor scalars (segments shorter than a float4, boundaries inside one, empty segments, several
 * blocks), AMSGrad on and off (with NaN and signed zeros in its maximum), misaligned slices, the
 * {@link Adam} optimizer with weight decay by tensor, and the PyTorch trajectories of core's Adam
 * tests. Runs on all four GPU backends.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuAdamParityTest {
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    /** Segment lengths: every layout has boundaries at offsets that are not multiples of 4. */
    static Stream<Arguments> backendsAndLayouts() {
        List<long[]> layouts = new ArrayList<>();
        layouts.add(new long[] {7});                                // one segment, AMSGrad: the segmented kernel alone
        layouts.add(new long[] {3, 0, 1, 2, 5, 0, 6});              // all shorter than a float4, empty ones
        layouts.add(new long[] {0, 4097, 1, 4094, 2, 0});           // empty at both ends, a 1-element one between
        SplittableRandom rng = new SplittableRandom(42);
        long[] mixed = new long[60];                                // about 70,000: 69 blocks, many boundaries per block
        for (int i = 0; i < mixed.length; i++) mixed[i] = i % 7 == 0 ? rng.nextInt(4) : 1 + rng.nextInt(2300);
        layouts.add(mixed);
        List<Arguments> a = new ArrayList<>();
        for (String b : GpuTestSupport.GPU_BACKENDS) for (int i = 0; i < layouts.size(); i++) a.add(Arguments.of(b, i, layouts.get(i)));
        return a.stream();
    }

    static long[] offsets(long[] sizes) {
        long[] off = new long[sizes.length + 1];
        for (int i = 0; i < sizes.length; i++) off[i + 1] = off[i] + sizes[i];
        return off;
    }

    /** Different scalars in every segment: Adam with L2 decay or AdamW, learning rates, betas, grad scales. */
    static AdamUpdate randomUpdate(SplittableRandom rng, long[] off, long t) {
        AdamScalars[] s = new AdamScalars[off.length - 1];
        for (int k = 0; k < s.length; k++) {
            boolean decoupled = rng.nextBoolean();
            double wd = rng.nextInt(3) == 0 ? 0 : 0.01 * (1 + rng.nextInt(20));
            s[k] = AdamScalars.forStep(t, 1e-3 * (1 + rng.nextInt(50)), 0.5 + 0.45 * rng.nextDouble(), 0.9 + 0.099 * rng.nextDouble(),
                    1e-8, wd, decoupled, rng.nextBoolean() ? 1.0 : 0.25);
        }
        return new AdamUpdate(off, s);
    }

    /** Four steps with a fresh table each step; p, m, v (and vmax) after every step. */
    @ParameterizedTest(name = "{0} layout {1}") @MethodSource("backendsAndLayouts")
    void segmentTablesAndAmsgradAreBitIdentical(String name, int layout, long[] sizes) {
        Backend gpu = env.gpu(name);
        long[] off = offsets(sizes);
        int n = Math.toIntExact(off[off.length - 1]);
        for (boolean amsgrad : new boolean[] {false, true}) {
            SplittableRandom rng = new SplittableRandom(layout * 10L + (amsgrad ? 1 : 0));
            // AMSGrad's maximum with a NaN (it stays) or -0 (maximum(-0, +0) is +0) at every fifth element
            float[] p = random(rng, n, 1f), vMax = random(rng, n, 0.01f);
            for (int i = 0; i < n; i++) vMax[i] = i % 5 != 0 ? Math.abs(vMax[i]) : i % 3 == 0 ? Float.NaN : -0.0f;
            Backend[] both = {env.cpu, gpu};
            Buffer[][] state = new Buffer[2][];
            for (int b = 0; b < 2; b++) {
                state[b] = new Buffer[] {upload(both[b], p), both[b].allocate(n), both[b].allocate(n), both[b].allocate(n),
                        amsgrad ? upload(both[b], vMax) : null};
            }
            try {
                for (int t = 1; t <= 4; t++) {
                    float[] g = random(rng, n, t == 2 ? 1e-3f : 2f);
                    if (t == 1) for (int i = 0; i < n; i += 5) g[i] = 0f; // v stays +0 where the segment adds no L2 term
                    AdamUpdate u = randomUpdate(rng, off, t);
                    for (int b = 0; b < 2; b++) {
                        both[b].upload(g, 0, state[b][1]);
                        both[b].adamStep(u, state[b][0], state[b][1], state[b][2], state[b][3], state[b][4]);
                    }
                    String what = name + " layout " + layout + (amsgrad ? " AMSGrad" : "") + " step " + t;
                    assertBits(what + " params", download(env.cpu, state[0][0]), download(gpu, state[1][0]));
                    assertBits(what + " exp_avg", download(env.cpu, state[0][2]), download(gpu, state[1][2]));
                    assertBits(what + " exp_avg_sq", download(env.cpu, state[0][3]), download(gpu, state[1][3]));
                    if (amsgrad) assertBits(what + " max_exp_avg_sq", download(env.cpu, state[0][4]), download(gpu, state[1][4]));
                }
            } finally {
                for (Buffer[] s : state) for (Buffer x : s) if (x != null) x.close();
            }
        }
    }

    /** Slices at odd float offsets take the segmented kernel's scalar path; neighbours untouched. */
    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void segmentsOnMisalignedSlices(String name) {
        Backend gpu = env.gpu(name);
        int n = 4097;
        long[] off = {0, 1, 6, 1029, 1029, 4097};
        SplittableRandom rng = new SplittableRandom(7);
        float[] all = random(rng, 5 * (n + 3), 1f), g = random(rng, n, 1f);
        AdamUpdate u = randomUpdate(rng, off, 3);
        float[][] results = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer block = upload(both[b], all)) {
                Buffer p = block.slice(1, n), gr = block.slice(n + 4, n), m = block.slice(2 * n + 7, n), v = block.slice(3 * n + 9, n),
                        vMax = block.slice(4 * n + 14, n);
                both[b].upload(g, 0, gr);
                both[b].fill(m, 0.01f);
                both[b].fill(v, 0.001f);
                both[b].fill(vMax, 0.002f);
                both[b].adamStep(u, p, gr, m, v, vMax);
                results[b] = download(both[b], block);
            }
        }
        assertBits(name + " misaligned segmented AMSGrad (whole block, neighbours untouched)", results[0], results[1]);
    }

    static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w1", 37, 29).add("b1", 29).add("norm.gain", 29)
            .add("w2", 29, 3).add("b2", 3).build();

    /**
     * The optimizer over a layout: the default configuration (one segment, the uniform kernel), AdamW
     * without decay for biases and the norm gain (segments), and that with AMSGrad; ten steps, one
     * of them with a NaN gradient (skipped by both).
     */
    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void adamWithWeightDecayByTensorAndAmsgrad(String name) {
        Backend gpu = env.gpu(name);
        int n = (int) LAYOUT.size();
        AdamConfig byTensor = AdamConfig.adamW().withLr(1e-2).withWeightDecay(0.1).withWeightDecay(v -> v.shape().length < 2, 0)
                .withWeightDecay("norm.gain", 0.02);
        for (AdamConfig cfg : new AdamConfig[] {AdamConfig.adam(), byTensor, byTensor.withAmsgrad(true), AdamConfig.adam().withAmsgrad(true)}) {
            SplittableRandom rng = new SplittableRandom(11);
            float[] p0 = random(rng, n, 0.5f);
            Backend[] both = {env.cpu, gpu};
            Adam[] adams = new Adam[2];
            Buffer[] params = new Buffer[2], grads = new Buffer[2];
            try {
                for (int b = 0; b < 2; b++) {
                    adams[b] = new Adam(both[b], LAYOUT, cfg);
                    params[b] = upload(both[b], p0);
                    grads[b] = both[b].allocate(n);
                }
                for (int t = 1; t <= 10; t++) {
                    float[] g = random(rng, n, 1f);
                    if (t == 4) g[n - 2] = Float.NaN;
                    for (int b = 0; b < 2; b++) {
                        both[b].upload(g, 0, grads[b]);
                        assertEquals(t == 4, adams[b].step(params[b], grads[b]).skipped());
                    }
                }
                String what = name + " " + cfg;
                assertBits(what + " params", download(env.cpu, params[0]), download(gpu, params[1]));
                assertBits(what + " exp_avg", download(env.cpu, adams[0].expAvg()), download(gpu, adams[1].expAvg()));
                assertBits(what + " exp_avg_sq", download(env.cpu, adams[0].expAvgSq()), download(gpu, adams[1].expAvgSq()));
                if (cfg.amsgrad()) assertBits(what + " max", download(env.cpu, adams[0].maxExpAvgSq()), download(gpu, adams[1].maxExpAvgSq()));
            } finally {
                for (int b = 0; b < 2; b++) {
                    if (adams[b] != null) adams[b].close();
                    if (params[b] != null) params[b].close();
                    if (grads[b] != null) grads[b].close();
                }
            }
        }
    }

    // ---------------------------------------------------------------- PyTorch's trajectories

    /** PyTorch keeps hyperparameters as Python doubles; the references store them as floats (as core's AdamTest). */
    static double decimal(float f) { return Double.parseDouble(Float.toString(f)); }

    /** The PyTorch cases: each one a layout, a config, the gradients and PyTorch's states after every step. */
    record TorchCase(String name, ParameterLayout layout, AdamConfig config, float[] initialParams, float[][] grads, float[][] params,
                     float[][] expAvg, float[][] expAvgSq, float[][] maxExpAvgSq) {
        @Override public String toString() { return name; }
    }

    static Stream<Arguments> torchCases() {
        List<TorchCase> cases = new ArrayList<>();
        for (TorchAdamReference.Case c : TorchAdamReference.ALL) {
            AdamConfig cfg = new AdamConfig(decimal(c.lr()), decimal(c.beta1()), decimal(c.beta2()), decimal(c.eps()), decimal(c.weightDecay()),
                    c.decoupled());
            cases.add(new TorchCase(c.name(), ParameterLayout.single(c.initialParams().length), cfg, c.initialParams(), c.grads(),
                    c.expectedParams(), c.expectedExpAvg(), c.expectedExpAvgSq(), null));
        }
        for (TorchAdamGroupsReference.Case c : TorchAdamGroupsReference.ALL) {
            ParameterLayout.Builder lb = ParameterLayout.builder();
            for (int i = 0; i < c.tensorNames().size(); i++) lb.add(c.tensorNames().get(i), c.tensorShapes()[i]);
            float[] wd = c.tensorWeightDecay();
            AdamConfig cfg = new AdamConfig(decimal(c.lr()), decimal(c.beta1()), decimal(c.beta2()), decimal(c.eps()), decimal(wd[0]), c.decoupled())
                    .withAmsgrad(c.amsgrad());
            for (int i = 1; i < wd.length; i++) cfg = cfg.withWeightDecay(c.tensorNames().get(i), decimal(wd[i]));
            cases.add(new TorchCase(c.name(), lb.build(), cfg, c.initialParams(), c.grads(), c.expectedParams(), c.expectedExpAvg(),
                    c.expectedExpAvgSq(), c.amsgrad() ? c.expectedMaxExpAvgSq() : null));
        }
        return GpuTestSupport.perBackend(cases.toArray());
    }

    /**
     * Core's PyTorch cases (Adam, AdamW, AMSGrad, parameter groups) on the GPU backend: every step
     * bit-identical to the CPU backend, and within the bound core's tests hold the CPU backend to
     * (4 ulps plus 2e-6 of the largest value: PyTorch contracts into FMAs where we round twice).
     */
    @ParameterizedTest(name = "{0} {1}") @MethodSource("torchCases")
    void pyTorchTrajectories(String name, TorchCase c) {
        Backend gpu = env.gpu(name);
        int n = (int) c.layout().size();
        Backend[] both = {env.cpu, gpu};
        Adam[] adams = new Adam[2];
        Buffer[] params = new Buffer[2], grads = new Buffer[2];
        try {
            for (int b = 0; b < 2; b++) {
                adams[b] = new Adam(both[b], c.layout(), c.config());
                params[b] = upload(both[b], c.initialParams());
                grads[b] = both[b].allocate(n);
            }
            for (int t = 0; t < c.grads().length; t++) {
                for (int b = 0; b < 2; b++) {
                    both[b].upload(c.grads()[t], 0, grads[b]);
                    adams[b].step(params[b], grads[b]);
                }
                String at = name + " " + c.name() + " after step " + (t + 1);
                float[] gp = download(gpu, params[1]), gm = download(gpu, adams[1].expAvg()), gv = download(gpu, adams[1].expAvgSq());
                assertBits(at + " params", download(env.cpu, params[0]), gp);
                assertBits(at + " exp_avg", download(env.cpu, adams[0].expAvg()), gm);
                assertBits(at + " exp_avg_sq", download(env.cpu, adams[0].expAvgSq()), gv);
                assertNearPyTorch(c.params()[t], gp, at + " params");
                assertNearPyTorch(c.expAvg()[t], gm, at + " exp_avg");
                assertNearPyTorch(c.expAvgSq()[t], gv, at + " exp_avg_sq");
                if (c.maxExpAvgSq() != null) {
                    float[] gx = download(gpu, adams[1].maxExpAvgSq());
                    assertBits(at + " max_exp_avg_sq", download(env.cpu, adams[0].maxExpAvgSq()), gx);
                    assertNearPyTorch(c.maxExpAvgSq()[t], gx, at + " max_exp_avg_sq");
                }
            }
        } finally {
            for (int b = 0; b < 2; b++) {
                if (adams[b] != null) adams[b].close();
                if (params[b] != null) params[b].close();
                if (grads[b] != null) grads[b].close();
            }
        }
    }

    /** core's AdamTest bound: 4 ulps of the expected value plus 2e-6 of the largest. */
    private static void assertNearPyTorch(float[] expected, float[] actual, String what) {
        float largest = 0;
        for (float e : expected) largest = Math.max(largest, Math.abs(e));
        for (int i = 0; i < expected.length; i++) {
            float ulp = Math.ulp(Math.max(Math.abs(expected[i]), Float.MIN_NORMAL));
            assertTrue(Math.abs(expected[i] - actual[i]) <= 4 * ulp + 2e-6 * largest, what + ", element " + i + ": PyTorch " + expected[i] + ", ours " + actual[i]);
        }
    }
}
