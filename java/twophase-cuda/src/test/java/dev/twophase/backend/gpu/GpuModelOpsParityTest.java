package dev.twophase.backend.gpu;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
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
import static dev.twophase.backend.gpu.GpuTestSupport.assertClose;
import static dev.twophase.backend.gpu.GpuTestSupport.download;
import static dev.twophase.backend.gpu.GpuTestSupport.random;
import static dev.twophase.backend.gpu.GpuTestSupport.ulps;
import static dev.twophase.backend.gpu.GpuTestSupport.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Each GPU backend against the CPU backend on the model ops, odd shapes. Bias add, relu/identity
 * and the float-only backward formulas must match bit for bit; transcendental activations within
 * one float ulp (or, for GELU's backward where 1 - s cancels, within what one ulp of s changes), and
 * in at most one result in 10^4 (the same formula on both sides);
 * GEMM within the float-accumulation bound; reductions within double-rounding tolerances, and
 * bit-identical on repetition. Skipped without a GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuModelOpsParityTest {
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    record Shape(int rows, int cols) { }

    private static final Shape[] SHAPES = {new Shape(1, 1), new Shape(7, 3), new Shape(4097, 10), new Shape(333, 1000),
            new Shape(37, 4097), new Shape(300_007, 5), new Shape(1_000_003, 1)};

    static Stream<Arguments> backendsAndShapes() { return GpuTestSupport.perBackend((Object[]) SHAPES); }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void biasAddAndGradient(String name, Shape s) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(s.rows() * 13L + s.cols());
        float[] y = random(rng, s.rows() * s.cols(), 1f), bias = random(rng, s.cols(), 1f), db = random(rng, s.cols(), 1f);
        float[][] yOut = new float[2][], dbOut = new float[2][], dbAgain = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer yb = upload(both[b], y); Buffer bb = upload(both[b], bias); Buffer gb = upload(both[b], db)) {
                both[b].addBias(yb, bb);
                yOut[b] = download(both[b], yb);
                both[b].accumulateBiasGradient(yb, gb);
                dbOut[b] = download(both[b], gb);
                both[b].upload(db, 0, gb);
                both[b].accumulateBiasGradient(yb, gb);
                dbAgain[b] = download(both[b], gb);
            }
        }
        assertBits(name + " addBias " + s, yOut[0], yOut[1]);
        // column sums in double in another order: the float results differ by at most about an ulp
        float[] colAbs = new float[s.cols()];
        for (int r = 0; r < s.rows(); r++) for (int c = 0; c < s.cols(); c++) colAbs[c] += Math.abs(yOut[0][r * s.cols() + c]);
        for (int c = 0; c < s.cols(); c++) {
            assertClose(name + " bias gradient " + s + " column " + c, dbOut[0][c], dbOut[1][c], 1e-12 * colAbs[c] + 1e-30, 1.2e-7);
        }
        assertBits(name + " bias gradient repeats", dbOut[1], dbAgain[1]);
    }

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void biasGradientOfNoRowsAddsPlusZero(String name) {
        Backend gpu = env.gpu(name);
        try (Buffer dy = gpu.allocate(0); Buffer db = upload(gpu, new float[] {-0f, 2f})) {
            gpu.accumulateBiasGradient(dy, db);
            float[] got = download(gpu, db);
            try (Buffer cdy = env.cpu.allocate(0); Buffer cdb = upload(env.cpu, new float[] {-0f, 2f})) {
                env.cpu.accumulateBiasGradient(cdy, cdb);
                assertBits(name + " rows = 0", download(env.cpu, cdb), got);
            }
        }
    }

    static Stream<Arguments> backendsAndActivations() {
        List<Arguments> a = new ArrayList<>();
        for (String b : GpuTestSupport.GPU_BACKENDS) for (Activation f : Activation.values()) for (int n : new int[] {1, 7, 4097, 1_000_003}) a.add(Arguments.of(b, f, n));
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1} n={2}") @MethodSource("backendsAndActivations")
    void activations(String name, Activation f, int n) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(n + f.ordinal());
        float[] x = random(rng, n, 6f), dy = random(rng, n, 1f);
        if (n >= 7) {
            x[0] = 0f; x[1] = -0f; x[2] = 40f; x[3] = -40f; x[4] = Float.NaN; x[5] = 1e-30f; x[6] = -1e-30f;
        }
        float[] yCpu, yGpu, gCpu, gGpu;
        try (Buffer xc = upload(env.cpu, x); Buffer yc = env.cpu.allocate(n); Buffer dc = upload(env.cpu, dy); Buffer gc = env.cpu.allocate(n)) {
            env.cpu.activation(f, xc, yc);
            yCpu = download(env.cpu, yc);
            env.cpu.activationBackward(f, xc, yc, dc, gc);
            gCpu = download(env.cpu, gc);
        }
        try (Buffer xg = upload(gpu, x); Buffer yg = gpu.allocate(n); Buffer dg = upload(gpu, dy); Buffer gg = gpu.allocate(n)) {
            gpu.activation(f, xg, yg);
            yGpu = download(gpu, yg);
            gpu.upload(yCpu, 0, yg); // backward from the same y on both sides
            gpu.activationBackward(f, xg, yg, dg, gg);
            gGpu = download(gpu, gg);
            gpu.activationBackward(f, xg, yg, dg, dg); // dx may alias dy
            assertBits(name + " " + f + " backward in place", gGpu, download(gpu, dg));
        }
        boolean exactForward = f == Activation.IDENTITY || f == Activation.RELU;
        boolean exactBackward = f != Activation.GELU;
        // one formula on both sides: only a last-bit difference of the double exp/tanh of the device
        // and of the JVM may change a float, and that rarely (two different formulas differ in ~44%)
        int differ = 0;
        for (int i = 0; i < n; i++) {
            if (Float.floatToRawIntBits(yCpu[i]) != Float.floatToRawIntBits(yGpu[i]) && !(Float.isNaN(yCpu[i]) && Float.isNaN(yGpu[i]))) differ++;
            if (Float.floatToRawIntBits(gCpu[i]) != Float.floatToRawIntBits(gGpu[i]) && !(Float.isNaN(gCpu[i]) && Float.isNaN(gGpu[i]))) differ++;
        }
        if (differ > n / 10_000) fail(name + " " + f + " n=" + n + ": " + differ + " of " + 2 * n + " results differ from the CPU's bits; "
                + "the CPU and the kernel must evaluate the same formula");
        for (int i = 0; i < n; i++) {
            if (!(exactForward ? Float.floatToRawIntBits(yCpu[i]) == Float.floatToRawIntBits(yGpu[i]) : near(f, false, x[i], 0f, yCpu[i], yGpu[i]))) {
                fail(name + " " + f + " forward at " + i + " x=" + x[i] + ": cpu " + yCpu[i] + " gpu " + yGpu[i]);
            }
            boolean bothNaN = Float.isNaN(gCpu[i]) && Float.isNaN(gGpu[i]);
            if (!bothNaN && !(exactBackward ? Float.floatToRawIntBits(gCpu[i]) == Float.floatToRawIntBits(gGpu[i]) : near(f, true, x[i], dy[i], gCpu[i], gGpu[i]))) {
                fail(name + " " + f + " backward at " + i + " x=" + x[i] + ": cpu " + gCpu[i] + " gpu " + gGpu[i]);
            }
        }
    }

    /** One float ulp, or for GELU what one ulp of its gate s changes (x s, and s + x s (1 - s) 2 du where 1 - s cancels). */
    private static boolean near(Activation f, boolean backward, float x, float dy, float want, float got) {
        if (ulps(want, got) <= 1) return true;
        if (f != Activation.GELU) return false;
        double ax = Math.abs((double) x), dt = 1.2e-7;
        double bound = backward ? Math.abs((double) dy) * dt * (1 + ax * (1 + 0.14 * ax * ax)) : 0.5 * ax * dt;
        return Math.abs((double) got - want) <= 2 * bound;
    }

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void squaredError(String name) {
        Backend gpu = env.gpu(name);
        for (int n : new int[] {1, 7, 4097, 1_000_003}) {
            SplittableRandom rng = new SplittableRandom(n);
            float[] out = random(rng, n, 1f), target = random(rng, n, 1f);
            double[] loss = new double[2];
            float[][] grad = new float[2][];
            Backend[] both = {env.cpu, gpu};
            for (int b = 0; b < 2; b++) {
                try (Buffer o = upload(both[b], out); Buffer t = upload(both[b], target); Buffer g = both[b].allocate(n)) {
                    loss[b] = both[b].squaredError(o, t, 1f / 3, g);
                    grad[b] = download(both[b], g);
                    assertEquals(loss[b], both[b].squaredError(o, t, 1f, null), "loss without a gradient, repeated");
                }
            }
            assertClose(name + " squared error n=" + n, loss[0], loss[1], 1e-300, 1e-12);
            assertBits(name + " squared error gradient n=" + n, grad[0], grad[1]);
        }
    }

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void softmaxCrossEntropy(String name) {
        Backend gpu = env.gpu(name);
        Shape[] shapes = {new Shape(1, 1), new Shape(7, 10), new Shape(4097, 10), new Shape(100, 1000), new Shape(3, 40000), new Shape(100_003, 3)};
        for (Shape s : shapes) {
            for (boolean soft : new boolean[] {false, true}) {
                SplittableRandom rng = new SplittableRandom(s.rows() * 3L + (soft ? 1 : 0));
                int n = s.rows() * s.cols();
                float[] logits = random(rng, n, soft ? 50f : 4f), target = new float[n];
                for (int r = 0; r < s.rows(); r++) {
                    if (soft) {
                        float sum = 0;
                        for (int c = 0; c < s.cols(); c++) sum += target[r * s.cols() + c] = (float) rng.nextDouble();
                        for (int c = 0; c < s.cols(); c++) target[r * s.cols() + c] /= sum;
                    } else {
                        target[r * s.cols() + rng.nextInt(s.cols())] = 1f;
                    }
                }
                float scale = 1f / s.rows();
                double[] loss = new double[2];
                float[][] grad = new float[2][];
                Backend[] both = {env.cpu, gpu};
                for (int b = 0; b < 2; b++) {
                    try (Buffer l = upload(both[b], logits); Buffer t = upload(both[b], target); Buffer g = both[b].allocate(n)) {
                        loss[b] = both[b].softmaxCrossEntropy(l, t, s.cols(), scale, g);
                        grad[b] = download(both[b], g);
                        double again = both[b].softmaxCrossEntropy(l, t, s.cols(), scale, null);
                        assertEquals(Double.doubleToRawLongBits(loss[b]), Double.doubleToRawLongBits(again), "cross-entropy repeats");
                    }
                }
                String what = name + " cross-entropy " + s + (soft ? " soft" : " one-hot");
                assertClose(what, loss[0], loss[1], 1e-12 * s.rows(), 1e-11);
                assertClose(what + " gradient", grad[0], grad[1], 1e-7 * scale, 1e-6);
            }
        }
    }

    record GemmCase(int m, int n, int k) { }

    static Stream<Arguments> gemmCases() {
        GemmCase[] cases = {new GemmCase(1, 1, 1), new GemmCase(7, 5, 3), new GemmCase(64, 64, 16), new GemmCase(65, 63, 17),
                new GemmCase(128, 256, 300), new GemmCase(1000, 10, 784), new GemmCase(10, 1000, 784), new GemmCase(3, 4, 0)};
        return GpuTestSupport.perBackend((Object[]) cases);
    }

    /** All four transpose combinations, alpha/beta with and without padding of the leading dimensions. */
    @ParameterizedTest(name = "{0} {1}") @MethodSource("gemmCases")
    void gemm(String name, GemmCase g) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(g.m() * 1000L + g.n() * 10L + g.k());
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                for (int variant = 0; variant < 2; variant++) {
                    boolean transA = ta == 1, transB = tb == 1;
                    int pad = variant == 0 ? 0 : 3;
                    float alpha = variant == 0 ? 1f : -0.5f, beta = variant == 0 ? 0f : 0.75f;
                    int aRows = transA ? g.k() : g.m(), aCols = transA ? g.m() : g.k(), bRows = transB ? g.n() : g.k(), bCols = transB ? g.k() : g.n();
                    int lda = Math.max(1, aCols + pad), ldb = Math.max(1, bCols + pad), ldc = Math.max(1, g.n() + pad);
                    float[] a = random(rng, Math.max(1, aRows * lda), 1f), b = random(rng, Math.max(1, bRows * ldb), 1f);
                    float[] c = random(rng, Math.max(1, g.m() * ldc), 1f);
                    float[][] res = new float[2][];
                    Backend[] both = {env.cpu, gpu};
                    for (int i = 0; i < 2; i++) {
                        try (Buffer ab = upload(both[i], a); Buffer bb = upload(both[i], b); Buffer cb = upload(both[i], c)) {
                            both[i].gemm(transA, transB, g.m(), g.n(), g.k(), alpha, ab, lda, bb, ldb, beta, cb, ldc);
                            res[i] = download(both[i], cb);
                        }
                    }
                    String what = name + " gemm " + g + " ta=" + ta + " tb=" + tb + " alpha=" + alpha + " beta=" + beta + " pad=" + pad;
                    for (int r = 0; r < g.m(); r++) {
                        for (int col = 0; col < ldc && r * ldc + col < res[0].length; col++) {
                            int at = r * ldc + col;
                            if (col >= g.n()) { // padding of C is never written
                                assertEquals(Float.floatToRawIntBits(c[at]), Float.floatToRawIntBits(res[1][at]), what + ": padding written at " + at);
                                continue;
                            }
                            double bound = beta == 0 ? 0 : Math.abs((double) beta * c[at]);
                            for (int p = 0; p < g.k(); p++) {
                                float av = transA ? a[p * lda + r] : a[r * lda + p];
                                float bv = transB ? b[col * ldb + p] : b[p * ldb + col];
                                bound += Math.abs((double) alpha * av * bv);
                            }
                            double tol = 2 * (g.k() + 2) * 1.2e-7 * bound + 1e-30;
                            if (!(Math.abs((double) res[1][at] - res[0][at]) <= tol)) {
                                fail(what + " at (" + r + "," + col + "): cpu " + res[0][at] + " gpu " + res[1][at] + " tol " + tol);
                            }
                        }
                    }
                }
            }
        }
    }
}
