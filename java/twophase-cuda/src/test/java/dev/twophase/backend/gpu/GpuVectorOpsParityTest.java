package dev.twophase.backend.gpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static dev.twophase.backend.gpu.GpuTestSupport.assertBits;
import static dev.twophase.backend.gpu.GpuTestSupport.assertClose;
import static dev.twophase.backend.gpu.GpuTestSupport.download;
import static dev.twophase.backend.gpu.GpuTestSupport.random;
import static dev.twophase.backend.gpu.GpuTestSupport.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each GPU backend against the CPU backend on the optimizer's vector ops, on odd sizes. The
 * elementwise ops (Adam, CG direction, trial point, axpy, copies) must give the CPU's bits exactly:
 * the kernels evaluate the same float operations in the same order with no FMA contraction. The
 * reductions (multi-dot, segmented norms) sum doubles in another order and are compared with a
 * relative tolerance of 1e-12, and must repeat bit for bit. Skipped without a GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuVectorOpsParityTest {
    private static final int[] SIZES = {1, 7, 4097, 1_000_003};
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    static Stream<Arguments> backendsAndSizes() { return GpuTestSupport.perBackend(Arrays.stream(SIZES).boxed().toArray()); }

    // ---------------------------------------------------------------- Adam

    /** Eight steps of Adam (L2 weight decay, grad scale) and AdamW; params, exp_avg and exp_avg_sq after every step. */
    @ParameterizedTest(name = "{0} n={1}") @MethodSource("backendsAndSizes")
    void adamStepsAreBitIdentical(String name, int n) {
        Backend gpu = env.gpu(name);
        for (boolean decoupled : new boolean[] {false, true}) {
            SplittableRandom rng = new SplittableRandom(n * 31L + (decoupled ? 1 : 0));
            float[] p = random(rng, n, 1f);
            Backend[] both = {env.cpu, gpu};
            Buffer[][] state = new Buffer[2][];
            for (int b = 0; b < 2; b++) state[b] = new Buffer[] {upload(both[b], p), both[b].allocate(n), both[b].allocate(n), both[b].allocate(n)};
            try {
                for (int t = 1; t <= 8; t++) {
                    float[] g = random(rng, n, t == 3 ? 1e-4f : 2f);
                    AdamScalars s = AdamScalars.forStep(t, 1e-3, 0.9, 0.999, 1e-8, decoupled ? 0.1 : 0.01, decoupled, t % 2 == 0 ? 0.5 : 1.0);
                    for (int b = 0; b < 2; b++) {
                        both[b].upload(g, 0, state[b][1]);
                        both[b].adamStep(s, state[b][0], state[b][1], state[b][2], state[b][3]);
                    }
                    String what = name + (decoupled ? " AdamW" : " Adam") + " n=" + n + " step " + t;
                    assertBits(what + " params", download(env.cpu, state[0][0]), download(gpu, state[1][0]));
                    assertBits(what + " exp_avg", download(env.cpu, state[0][2]), download(gpu, state[1][2]));
                    assertBits(what + " exp_avg_sq", download(env.cpu, state[0][3]), download(gpu, state[1][3]));
                }
            } finally {
                for (Buffer[] s : state) for (Buffer x : s) x.close();
            }
        }
    }

    /** Slices at odd float offsets take the kernels' scalar (unaligned) path; same bits. */
    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void adamOnMisalignedSlices(String name) {
        Backend gpu = env.gpu(name);
        int n = 4097;
        SplittableRandom rng = new SplittableRandom(5);
        float[] all = random(rng, 4 * (n + 3), 1f), g = random(rng, n, 1f);
        AdamScalars s = AdamScalars.forStep(2, 1e-2, 0.9, 0.999, 1e-8, 0, false, 1);
        float[][] results = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer block = upload(both[b], all)) {
                Buffer p = block.slice(1, n), gr = block.slice(n + 4, n), m = block.slice(2 * n + 7, n), v = block.slice(3 * n + 9, n);
                both[b].upload(g, 0, gr);
                both[b].fill(m, 0.01f);
                both[b].fill(v, 0.001f);
                both[b].adamStep(s, p, gr, m, v);
                results[b] = download(both[b], block);
            }
        }
        assertBits(name + " misaligned Adam (whole block, neighbours untouched)", results[0], results[1]);
    }

    // ---------------------------------------------------------------- CG

    /** Five CG-style sequences: dots -> beta (from the CPU's dots, so both use the same float) -> direction -> trial points. */
    @ParameterizedTest(name = "{0} n={1}") @MethodSource("backendsAndSizes")
    void cgSequences(String name, int n) {
        Backend gpu = env.gpu(name);
        Backend[] both = {env.cpu, gpu};
        SplittableRandom rng = new SplittableRandom(n * 7L + 3);
        for (int seq = 0; seq < 5; seq++) {
            float[] x0 = random(rng, n, 1f), d = random(rng, n, 1f), g = random(rng, n, 1f), gPrev = random(rng, n, 1f);
            Buffer[][] buf = new Buffer[2][];
            for (int b = 0; b < 2; b++) {
                buf[b] = new Buffer[] {upload(both[b], x0), upload(both[b], d), upload(both[b], g), upload(both[b], gPrev), both[b].allocate(n)};
            }
            try {
                double[][] dots = new double[2][3], again = new double[2][3];
                for (int b = 0; b < 2; b++) {
                    both[b].multiDot(buf[b][2], new Buffer[] {buf[b][2], buf[b][3], buf[b][1]}, dots[b]);
                    both[b].multiDot(buf[b][2], new Buffer[] {buf[b][2], buf[b][3], buf[b][1]}, again[b]);
                }
                for (int j = 0; j < 3; j++) {
                    assertClose(name + " seq " + seq + " dot " + j, dots[0][j], dots[1][j], 1e-12 * n, 1e-12);
                    assertEquals(Double.doubleToRawLongBits(dots[1][j]), Double.doubleToRawLongBits(again[1][j]), "multiDot repeats bit for bit");
                }
                double beta = Math.max(0, (dots[0][0] - dots[0][1]) / Math.max(1e-30, dots[0][0])); // a PR+-like value
                double alpha = seq == 0 ? 0.0 : Math.pow(-0.5, seq) * 1.7;
                for (int b = 0; b < 2; b++) {
                    both[b].cgDirection(buf[b][1], buf[b][2], buf[b][3], beta);
                    both[b].trialPoint(buf[b][4], buf[b][0], buf[b][1], alpha);
                    both[b].trialPoint(buf[b][0], buf[b][0], buf[b][1], alpha * 0.5); // in place: x aliases x0
                    both[b].axpy((float) -alpha, buf[b][2], buf[b][0]);
                }
                String what = name + " n=" + n + " seq " + seq;
                assertBits(what + " direction", download(env.cpu, buf[0][1]), download(gpu, buf[1][1]));
                assertBits(what + " gPrev", download(env.cpu, buf[0][3]), download(gpu, buf[1][3]));
                assertBits(what + " trial point", download(env.cpu, buf[0][4]), download(gpu, buf[1][4]));
                assertBits(what + " in-place trial point + axpy", download(env.cpu, buf[0][0]), download(gpu, buf[1][0]));
            } finally {
                for (Buffer[] s : buf) for (Buffer x : s) x.close();
            }
        }
    }

    /** More than MAX_DOTS vectors in one call (the backends split them), and zero-length vectors. */
    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void multiDotManyAndEmpty(String name) {
        Backend gpu = env.gpu(name);
        int n = 4097, k = 9;
        SplittableRandom rng = new SplittableRandom(9);
        double[][] out = new double[2][k + 1];
        Backend[] both = {env.cpu, gpu};
        float[][] ys = new float[k][];
        for (int j = 0; j < k; j++) ys[j] = random(rng, n, 1f);
        float[] x = random(rng, n, 1f);
        for (int b = 0; b < 2; b++) {
            List<Buffer> owned = new ArrayList<>();
            Buffer xb = upload(both[b], x);
            owned.add(xb);
            Buffer[] yb = new Buffer[k];
            for (int j = 0; j < k; j++) owned.add(yb[j] = upload(both[b], ys[j]));
            out[b][k] = -1;
            both[b].multiDot(xb, yb, out[b]);
            for (Buffer o : owned) o.close();
        }
        for (int j = 0; j < k; j++) assertClose(name + " dot " + j, out[0][j], out[1][j], 1e-9, 1e-12);
        assertEquals(-1.0, out[1][k], "slots past k untouched");
        try (Buffer e = gpu.allocate(0)) {
            double[] z = {7, 7};
            gpu.multiDot(e, new Buffer[] {e, e}, z);
            assertEquals(0.0, z[0]);
            assertEquals(0.0, z[1]);
        }
    }

    // ---------------------------------------------------------------- segmented norms

    static Stream<Arguments> normLayouts() {
        List<long[]> sizes = new ArrayList<>();
        sizes.add(new long[] {1});
        sizes.add(new long[] {7});
        sizes.add(new long[] {0, 0, 7, 0, 4097, 1, 0});
        sizes.add(new long[] {32768, 32769, 32767});
        sizes.add(new long[] {3, 1_000_003, 0, 70000});
        SplittableRandom rng = new SplittableRandom(500);
        long[] many = new long[3000];
        for (int t = 0; t < many.length; t++) many[t] = t % 11 == 0 ? 0 : rng.nextInt(2000);
        many[1500] = 40L * 32768 + 5; // more than 32 chunks in one tensor: the warp path of the cleanup
        sizes.add(many);
        List<Arguments> a = new ArrayList<>();
        for (String b : GpuTestSupport.GPU_BACKENDS) for (int i = 0; i < sizes.size(); i++) a.add(Arguments.of(b, i, sizes.get(i)));
        return a.stream();
    }

    @ParameterizedTest(name = "{0} layout {1}") @MethodSource("normLayouts")
    void segmentedNormsMatchIncludingEmptyTensorsAndNaN(String name, int layout, long[] sizes) {
        Backend gpu = env.gpu(name);
        long[] off = new long[sizes.length + 1];
        for (int t = 0; t < sizes.length; t++) off[t + 1] = off[t] + sizes[t];
        int n = Math.toIntExact(off[sizes.length]);
        float[] g = random(new SplittableRandom(layout + 77), n, 3f);
        try (Buffer c = upload(env.cpu, g); Buffer d = upload(gpu, g)) {
            GradientNorms want = env.cpu.segmentedNorms(c, off), got = gpu.segmentedNorms(d, off), again = gpu.segmentedNorms(d, off);
            compareNorms(name + " layout " + layout, want, got);
            assertEquals(Double.doubleToRawLongBits(got.totalSumOfSquares()), Double.doubleToRawLongBits(again.totalSumOfSquares()),
                    "norms repeat bit for bit");
            for (int t = 0; t < sizes.length; t++) if (sizes[t] == 0) assertEquals(0.0, got.sumOfSquares()[t], "empty tensor " + t);

            for (float special : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                int at = n / 2;
                float[] one = {special};
                env.cpu.upload(one, 0, c.slice(at, 1));
                gpu.upload(one, 0, d.slice(at, 1));
                assertTrue(env.cpu.segmentedNorms(c, off).nonFinite());
                assertTrue(gpu.segmentedNorms(d, off).nonFinite(), name + ": " + special + " at " + at + " not flagged");
                one[0] = g[at];
                env.cpu.upload(one, 0, c.slice(at, 1));
                gpu.upload(one, 0, d.slice(at, 1));
            }
            assertFalse(gpu.segmentedNorms(d, off).nonFinite(), "flag cleared once finite again");
        }
    }

    private static void compareNorms(String what, GradientNorms want, GradientNorms got) {
        assertEquals(want.tensorCount(), got.tensorCount(), what + ": tensors");
        for (int t = 0; t < want.tensorCount(); t++) {
            assertClose(what + " tensor " + t, want.sumOfSquares()[t], got.sumOfSquares()[t], 1e-300, 1e-12);
        }
        assertClose(what + " total", want.totalSumOfSquares(), got.totalSumOfSquares(), 1e-300, 1e-12);
        assertEquals(want.nonFinite(), got.nonFinite(), what + ": non-finite flag");
    }

    /**
     * max |x_i| equals the CPU backend's exactly (a maximum has no rounding): odd sizes, a misaligned
     * slice, the largest magnitude negative; NaN anywhere gives NaN, an infinity +Infinity.
     */
    @ParameterizedTest(name = "{0} n={1}") @MethodSource("backendsAndSizes")
    void maxAbsIsExactIncludingNaNAndInfinity(String name, int n) {
        Backend gpu = env.gpu(name);
        float[] x = random(new SplittableRandom(n * 5L + 1), n + 1, 2f);
        x[n / 2 + 1] = -7f; // beyond every random value
        try (Buffer c = upload(env.cpu, x); Buffer d = upload(gpu, x)) {
            Buffer cs = c.slice(1, n), ds = d.slice(1, n);
            assertEquals(7.0, env.cpu.maxAbs(cs));
            assertEquals(env.cpu.maxAbs(cs), gpu.maxAbs(ds), name + " n=" + n);
            for (float special : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                float[] one = {special};
                int at = 1 + (n - 1) * 2 / 3;
                env.cpu.upload(one, 0, c.slice(at, 1));
                gpu.upload(one, 0, d.slice(at, 1));
                double want = Float.isNaN(special) ? Double.NaN : Double.POSITIVE_INFINITY;
                assertEquals(want, env.cpu.maxAbs(cs));
                assertEquals(want, gpu.maxAbs(ds), name + ": " + special + " at " + at);
                one[0] = x[at];
                env.cpu.upload(one, 0, c.slice(at, 1));
                gpu.upload(one, 0, d.slice(at, 1));
            }
            assertEquals(7.0, gpu.maxAbs(ds), "finite again");
        }
        try (Buffer e = gpu.allocate(0)) {
            assertEquals(0.0, gpu.maxAbs(e));
        }
    }

    /** The same buffer with alternating layouts: the cached chunk table must follow the offsets. */
    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void normLayoutCacheFollowsTheOffsets(String name) {
        Backend gpu = env.gpu(name);
        float[] g = random(new SplittableRandom(3), 5100, 1f);
        long[][] layouts = {{0, 100, 100, 5100}, {0, 5100}, {0, 100, 100, 5100}, {0, 1, 5100}};
        try (Buffer c = upload(env.cpu, g); Buffer d = upload(gpu, g)) {
            for (long[] off : layouts) compareNorms(name + " layout switch", env.cpu.segmentedNorms(c, off), gpu.segmentedNorms(d, off));
        }
    }

    // ---------------------------------------------------------------- memory ops

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void uploadsDownloadsCopiesFillsAndSlices(String name) {
        Backend gpu = env.gpu(name);
        int n = 1_000_003;
        float[] data = random(new SplittableRandom(1), n, 1f);
        try (Buffer a = gpu.allocate(n); Buffer b = gpu.allocate(n)) {
            assertBits("allocate zero-fills", new float[n], download(gpu, a));
            gpu.upload(data, 0, a);
            assertBits("round trip", data, download(gpu, a));
            gpu.copy(a, b);
            assertBits("copy", data, download(gpu, b));
            gpu.fill(b.slice(5, 10), -2.5f);
            float[] want = data.clone();
            java.util.Arrays.fill(want, 5, 15, -2.5f);
            assertBits("fill of a slice", want, download(gpu, b));
            gpu.fill(b, 0f);
            assertBits("fill 0", new float[n], download(gpu, b));
            gpu.fill(b.slice(0, 1000), 1.5f);
            float[] ones = new float[1000];
            java.util.Arrays.fill(ones, 1.5f);
            assertBits("fill non-zero", ones, download(gpu, b.slice(0, 1000)));

            float[] part = new float[10];
            gpu.download(a.slice(100, 10), part, 0);
            assertBits("download of a slice", java.util.Arrays.copyOfRange(data, 100, 110), part);
            gpu.upload(data, 200, 4, a.slice(3, 4));
            float[] got = download(gpu, a.slice(0, 8));
            assertBits("upload with a source offset", new float[] {data[0], data[1], data[2], data[200], data[201], data[202], data[203], data[7]}, got);

            // overlapping copy within one allocation behaves like System.arraycopy
            gpu.upload(data, 0, a);
            gpu.copy(a.slice(0, 1000), a.slice(10, 1000));
            float[] shifted = data.clone();
            System.arraycopy(shifted, 0, shifted, 10, 1000);
            assertBits("overlapping copy", java.util.Arrays.copyOf(shifted, 2000), java.util.Arrays.copyOf(download(gpu, a), 2000));
        }
    }
}
