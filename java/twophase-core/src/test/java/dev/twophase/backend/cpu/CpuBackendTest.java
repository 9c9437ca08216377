package dev.twophase.backend.cpu;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The CPU backend's chunked, multi-threaded ops against plain sequential loops, on random odd sizes. */
class CpuBackendTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(3); }

    @AfterAll static void close() { cpu.close(); }

    static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    static Buffer up(CpuBackend b, float[] a) {
        Buffer x = b.allocate(a.length);
        b.upload(a, 0, x);
        return x;
    }

    static float[] down(Buffer x) {
        float[] a = new float[(int) x.length()];
        x.backend().download(x, a, 0);
        return a;
    }

    static void assertClose(float[] expected, float[] actual, double abs, double rel) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            double tol = abs + rel * Math.abs(expected[i]);
            assertTrue(Math.abs(expected[i] - actual[i]) <= tol, "element " + i + ": expected " + expected[i] + " got " + actual[i]);
        }
    }

    @ParameterizedTest @ValueSource(ints = {1, 7, 4097, 100_003})
    void adamMatchesPlainLoop(int n) {
        Random r = new Random(n);
        float[] p = random(r, n), g = random(r, n), m = random(r, n), v = random(r, n);
        for (int i = 0; i < n; i++) v[i] = Math.abs(v[i]);
        AdamScalars s = AdamScalars.forStep(3, 1e-2, 0.9, 0.999, 1e-8, 0.01, true, 0.5);
        Buffer P = up(cpu, p), G = up(cpu, g), M = up(cpu, m), V = up(cpu, v);
        cpu.adamStep(s, P, G, M, V);
        for (int i = 0; i < n; i++) {
            float gi = g[i] * s.gradScale() + s.l2WeightDecay() * p[i];
            float pi = p[i] * s.decayFactor();
            m[i] = s.beta1() * m[i] + s.oneMinusBeta1() * gi;
            v[i] = s.beta2() * v[i] + s.oneMinusBeta2() * gi * gi;
            p[i] = pi - s.stepSize() * m[i] / ((float) Math.sqrt(v[i]) / s.biasCorrection2Sqrt() + s.eps());
        }
        assertArrayEquals(p, down(P));
        assertArrayEquals(m, down(M));
        assertArrayEquals(v, down(V));
    }

    /**
     * A segment table (three segments, one of them empty, different weight decay and eps) with
     * and without AMSGrad's maximum, against the formula written per element.
     */
    @ParameterizedTest @ValueSource(ints = {3, 7, 4097, 100_003})
    void adamUpdateWithSegmentsAndAmsgradMatchesPlainLoop(int n) {
        for (boolean amsgrad : new boolean[]{false, true}) {
            Random r = new Random(n + (amsgrad ? 1 : 0));
            float[] p = random(r, n), g = random(r, n), m = random(r, n), v = random(r, n), vMax = random(r, n);
            for (int i = 0; i < n; i++) {
                v[i] = Math.abs(v[i]);
                vMax[i] = i % 3 == 0 ? 0f : Math.abs(vMax[i]) * 2;  // some maxima below v, some above
            }
            long cut = n / 3, cut2 = n / 3 + n / 2;
            AdamScalars[] sc = {
                    AdamScalars.forStep(3, 1e-2, 0.9, 0.999, 1e-8, 0.01, true, 0.5),
                    AdamScalars.forStep(3, 1e-2, 0.9, 0.999, 1e-6, 0, true, 0.5),
                    AdamScalars.forStep(3, 1e-2, 0.9, 0.999, 1e-8, 0.3, true, 0.5),
                    AdamScalars.forStep(3, 1e-2, 0.9, 0.999, 1e-8, 0.1, true, 0.5)};
            long[] offsets = {0, cut, cut, cut2, n};
            AdamUpdate u = new AdamUpdate(offsets, sc);
            Buffer P = up(cpu, p), G = up(cpu, g), M = up(cpu, m), V = up(cpu, v), VM = up(cpu, vMax);
            cpu.adamStep(u, P, G, M, V, amsgrad ? VM : null);
            for (int i = 0; i < n; i++) {
                AdamScalars s = sc[u.segmentOf(i)];
                float gi = g[i] * s.gradScale() + s.l2WeightDecay() * p[i];
                float pi = p[i] * s.decayFactor();
                m[i] = s.beta1() * m[i] + s.oneMinusBeta1() * gi;
                v[i] = s.beta2() * v[i] + s.oneMinusBeta2() * gi * gi;
                float denomV = v[i];
                if (amsgrad) {
                    vMax[i] = Math.max(vMax[i], v[i]);
                    denomV = vMax[i];
                }
                p[i] = pi - s.stepSize() * m[i] / ((float) Math.sqrt(denomV) / s.biasCorrection2Sqrt() + s.eps());
            }
            assertEquals(2, u.segmentOf(cut), "an empty segment is never the one holding an element");
            assertArrayEquals(p, down(P), "params, amsgrad " + amsgrad);
            assertArrayEquals(m, down(M));
            assertArrayEquals(v, down(V));
            if (amsgrad) assertArrayEquals(vMax, down(VM));
        }
    }

    @ParameterizedTest @ValueSource(ints = {1, 7, 4097, 1_000_003})
    void multiDotMatchesPlainDoubleLoop(int n) {
        Random r = new Random(n + 1);
        float[] x = random(r, n), a = random(r, n), b = random(r, n);
        double[] out = new double[2];
        cpu.multiDot(up(cpu, x), new Buffer[]{up(cpu, a), up(cpu, b)}, out);
        double ea = 0, eb = 0;
        for (int i = 0; i < n; i++) { ea += (double) x[i] * a[i]; eb += (double) x[i] * b[i]; }
        assertEquals(ea, out[0], 1e-9 * (1 + Math.abs(ea)) + 1e-12 * n);
        assertEquals(eb, out[1], 1e-9 * (1 + Math.abs(eb)) + 1e-12 * n);
    }

    @Test
    void reductionsAreBitIdenticalForAnyThreadCount() {
        Random r = new Random(5);
        int n = 1_234_567;
        float[] x = random(r, n), y = random(r, n);
        long[] offsets = {0, 3, 3, 500_000, n};
        double[][] dots = new double[4][1];
        GradientNorms[] norms = new GradientNorms[4];
        int[] threads = {1, 2, 3, 7};
        for (int t = 0; t < threads.length; t++) {
            try (CpuBackend b = new CpuBackend(threads[t], false)) {
                b.multiDot(up(b, x), new Buffer[]{up(b, y)}, dots[t]);
                norms[t] = b.segmentedNorms(up(b, x), offsets);
            }
        }
        for (int t = 1; t < threads.length; t++) {
            assertEquals(Double.doubleToLongBits(dots[0][0]), Double.doubleToLongBits(dots[t][0]));
            assertArrayEquals(norms[0].sumOfSquares(), norms[t].sumOfSquares());
        }
    }

    @Test
    void segmentedNormsHandleEmptyTensorsAndFlagNonFinite() {
        Random r = new Random(9);
        int n = 70_001;
        float[] g = random(r, n);
        long[] offsets = {0, 0, 5, 5, 40_000, n};
        GradientNorms norms = cpu.segmentedNorms(up(cpu, g), offsets);
        assertEquals(5, norms.tensorCount());
        double total = 0;
        for (int t = 0; t < 5; t++) {
            double s = 0;
            for (long i = offsets[t]; i < offsets[t + 1]; i++) s += (double) g[(int) i] * g[(int) i];
            assertEquals(s, norms.sumOfSquares()[t], 1e-9 * (1 + s));
            total += s;
        }
        assertEquals(0.0, norms.sumOfSquares()[0]);
        assertEquals(Math.sqrt(total), norms.total(), 1e-9 * Math.sqrt(total));
        assertFalse(norms.nonFinite());
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] h = g.clone();
            h[n - 2] = bad;
            assertTrue(cpu.segmentedNorms(up(cpu, h), offsets).nonFinite(), "flag for " + bad);
        }
    }

    /** max |x_i| against a plain loop, on arrays and segments, with any thread count; NaN, infinities, zeros, empty. */
    @Test
    void maxAbsIsExactAndPropagatesNaN() {
        Random r = new Random(13);
        int n = 1_234_567;
        float[] x = random(r, n);
        float max = 0;
        for (float v : x) max = Math.max(max, Math.abs(v));
        x[n - 7] = -2 * max; // the largest magnitude negative, in the last chunk
        for (int threads : new int[]{1, 2, 3}) {
            try (CpuBackend b = new CpuBackend(threads, false); Arena arena = Arena.ofConfined()) {
                assertEquals(2.0 * max, b.maxAbs(up(b, x)), threads + " threads");
                MemorySegment seg = arena.allocate((long) n * Float.BYTES, Float.BYTES);
                MemorySegment.copy(x, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n);
                assertEquals(2.0 * max, b.maxAbs(b.wrap(seg)), threads + " threads, a wrapped segment");
            }
        }
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] h = x.clone();
            h[n / 3] = bad;
            assertEquals(Float.isNaN(bad) ? Double.NaN : Double.POSITIVE_INFINITY, cpu.maxAbs(up(cpu, h)), "with " + bad);
        }
        float[] nanFirst = {Float.NaN, 5f, -9f, Float.POSITIVE_INFINITY};
        assertEquals(Double.NaN, cpu.maxAbs(up(cpu, nanFirst)), "a NaN before larger values and an infinity");
        assertEquals(0L, Double.doubleToRawLongBits(cpu.maxAbs(up(cpu, new float[]{-0f, -0f}))), "max |-0| is +0");
        assertEquals(0.0, cpu.maxAbs(cpu.allocate(0)), "empty");
    }

    @Test
    void cgUpdatesMatchPlainLoops() {
        Random r = new Random(11);
        int n = 65_537;
        float[] d = random(r, n), g = random(r, n), x0 = random(r, n);
        Buffer D = up(cpu, d), G = up(cpu, g), Gp = cpu.allocate(n), X = cpu.allocate(n);
        cpu.cgDirection(D, G, Gp, 0.37);
        cpu.trialPoint(X, up(cpu, x0), D, -1.5);
        float[] ed = new float[n], ex = new float[n];
        for (int i = 0; i < n; i++) {
            ed[i] = -g[i] + 0.37f * d[i];
            ex[i] = x0[i] + -1.5f * ed[i];
        }
        assertArrayEquals(ed, down(D));
        assertArrayEquals(g, down(Gp));
        assertArrayEquals(ex, down(X));
    }

    @Test
    void gemmWithOpenBlasMatchesJavaReferenceInAllTransposes() {
        assertTrue(cpu.usesOpenBlas(), "OpenBLAS should load from the bundled jar: " + cpu.description());
        Random r = new Random(13);
        // One product small enough for a single call, two split into blocks of rows / of columns,
        // one split along the reduction.
        for (int[] shape : new int[][]{{37, 23, 51}, {301, 150, 67}, {67, 301, 150}, {37, 23, 5003}}) {
            for (boolean ta : new boolean[]{false, true}) {
                for (boolean tb : new boolean[]{false, true}) checkGemm(r, shape[0], shape[1], shape[2], ta, tb);
            }
        }
    }

    /**
     * OpenBLAS path and Java GEMM, each against a double-precision triple loop, with padded
     * leading dimensions; the tolerance is the float summation bound k * 2^-24 * sum |terms|.
     */
    private void checkGemm(Random r, int m, int n, int k, boolean ta, boolean tb) {
        int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
        float[] a = random(r, (ta ? k : m) * lda), b = random(r, (tb ? n : k) * ldb), c = random(r, m * ldc);
        Buffer C1 = up(cpu, c), C2 = up(cpu, c);
        cpu.gemm(ta, tb, m, n, k, 0.7f, up(cpu, a), lda, up(cpu, b), ldb, 0.3f, C1, ldc);
        cpu.javaGemm(ta, tb, m, n, k, 0.7f, up(cpu, a), lda, up(cpu, b), ldb, 0.3f, C2, ldc);
        float[] blas = down(C1), java = down(C2);
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
            double s = 0, abs = 0;
            for (int p = 0; p < k; p++) {
                double t = (double) (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                s += t;
                abs += Math.abs(t);
            }
            int at = i * ldc + j;
            double exact = 0.7 * s + 0.3 * c[at], tol = (k + 2) * 0x1p-24 * (0.7 * abs + 0.3 * Math.abs(c[at])) + 1e-6;
            String where = m + "x" + n + "x" + k + (ta ? " A^T" : "") + (tb ? " B^T" : "") + " at (" + i + "," + j + ")";
            assertEquals(exact, blas[at], tol, "OpenBLAS " + where);
            assertEquals(exact, java[at], tol, "Java " + where);
            if (j == n - 1) {
                assertEquals(c[at + 1], blas[at + 1], "OpenBLAS wrote C's padding column at row " + i);
                assertEquals(c[at + 1], java[at + 1], "Java wrote C's padding column at row " + i);
            }
        }
    }

    @Test
    void streamingOpsOnSlicesAtDifferentOffsetsMatchWholeBuffers() {
        Random r = new Random(29);
        int n = 40_003;
        float[] p = random(r, n), g = random(r, n), m = random(r, n), v = random(r, n);
        for (int i = 0; i < n; i++) v[i] = Math.abs(v[i]);
        AdamScalars s = AdamScalars.forStep(2, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1);
        // Whole buffers (the aligned fast path)...
        Buffer P = up(cpu, p), G = up(cpu, g), M = up(cpu, m), V = up(cpu, v);
        cpu.adamStep(s, P, G, M, V);
        cpu.cgDirection(M, G, V, 0.3);
        cpu.trialPoint(P, G, M, -0.7);
        // ...and the same data as slices at four different offsets of one big array.
        float[] big = new float[4 * n + 10];
        System.arraycopy(p, 0, big, 1, n);
        System.arraycopy(g, 0, big, n + 3, n);
        System.arraycopy(m, 0, big, 2 * n + 6, n);
        System.arraycopy(v, 0, big, 3 * n + 9, n);
        Buffer all = up(cpu, big);
        Buffer Ps = all.slice(1, n), Gs = all.slice(n + 3, n), Ms = all.slice(2 * n + 6, n), Vs = all.slice(3 * n + 9, n);
        cpu.adamStep(s, Ps, Gs, Ms, Vs);
        cpu.cgDirection(Ms, Gs, Vs, 0.3);
        cpu.trialPoint(Ps, Gs, Ms, -0.7);
        assertArrayEquals(down(P), down(Ps));
        assertArrayEquals(down(G), down(Gs));
        assertArrayEquals(down(M), down(Ms));
        assertArrayEquals(down(V), down(Vs));
        float[] after = down(all);
        assertEquals(big[0], after[0]);
        assertEquals(big[n + 1], after[n + 1], "the gaps between slices stay untouched");
    }

    @Test
    void gemmIsBitIdenticalForAnyThreadCount() {
        Random r = new Random(31);
        int[][] shapes = {{1030, 70, 300}, {40, 900, 1200}, {5, 7, 3}, {20, 30, 9001}};
        for (int[] sh : shapes) {
            int m = sh[0], n = sh[1], k = sh[2];
            for (boolean ta : new boolean[]{false, true}) {
                float[] a = random(r, m * k), b = random(r, k * n);
                float[][] results = new float[3][];
                int[] threads = {1, 2, 5};
                for (int t = 0; t < threads.length; t++) {
                    try (CpuBackend be = new CpuBackend(threads[t])) {
                        Buffer c = be.allocate((long) m * n);
                        be.gemm(ta, true, m, n, k, 1f, up(be, a), ta ? m : k, up(be, b), k, 0f, c, n);
                        results[t] = down(c);
                    }
                }
                assertArrayEquals(results[0], results[1], m + "x" + n + "x" + k);
                assertArrayEquals(results[0], results[2], m + "x" + n + "x" + k);
            }
        }
    }

    @Test
    void gemmWithBetaZeroIgnoresNaNInC() {
        Random r = new Random(19);
        for (int[] sh : new int[][]{{37, 23, 51}, {301, 150, 67}, {67, 301, 150}, {37, 23, 5003}}) {
            int m = sh[0], n = sh[1], k = sh[2];
            float[] nan = new float[m * n];
            java.util.Arrays.fill(nan, Float.NaN);
            Buffer c = up(cpu, nan);
            cpu.gemm(false, false, m, n, k, 1f, up(cpu, random(r, m * k)), k, up(cpu, random(r, k * n)), n, 0f, c, n);
            for (float v : down(c)) assertTrue(Float.isFinite(v), m + "x" + n + "x" + k + ": " + v);
        }
    }

    @Test
    void gemmOnSlicesWritesOnlyTheSlice() {
        Random r = new Random(17);
        float[] big = random(r, 100);
        Buffer all = up(cpu, big);
        Buffer a = all.slice(3, 6), b = all.slice(10, 6), c = all.slice(50, 4);
        cpu.gemm(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2);
        float[] out = down(all);
        for (int i = 0; i < 100; i++) if (i < 50 || i >= 54) assertEquals(big[i], out[i]);
        assertEquals(big[3] * big[10] + big[4] * big[12] + big[5] * big[14], out[50], 1e-5);
    }

    @Test
    void splitGemmsOnSlicesMatchWholeBuffersAndLeaveTheRestAlone() {
        Random r = new Random(23);
        // Blocks of rows, blocks of columns, slices of the reduction.
        for (int[] sh : new int[][]{{301, 150, 67}, {67, 301, 150}, {37, 23, 5003}}) {
            int m = sh[0], n = sh[1], k = sh[2];
            float[] a = random(r, m * k), b = random(r, k * n), c = random(r, m * n);
            Buffer whole = up(cpu, c);
            cpu.gemm(false, false, m, n, k, 0.5f, up(cpu, a), k, up(cpu, b), n, 0.25f, whole, n);
            int aAt = 5, bAt = aAt + a.length + 3, cAt = bAt + b.length + 7;
            float[] big = random(r, cAt + c.length + 11);
            System.arraycopy(a, 0, big, aAt, a.length);
            System.arraycopy(b, 0, big, bAt, b.length);
            System.arraycopy(c, 0, big, cAt, c.length);
            Buffer all = up(cpu, big);
            cpu.gemm(false, false, m, n, k, 0.5f, all.slice(aAt, a.length), k, all.slice(bAt, b.length), n, 0.25f,
                    all.slice(cAt, c.length), n);
            float[] out = down(all), expected = big.clone();
            System.arraycopy(down(whole), 0, expected, cAt, c.length);
            assertArrayEquals(expected, out, m + "x" + n + "x" + k);
        }
    }

    @ParameterizedTest @ValueSource(strings = {"identity", "relu", "tanh", "sigmoid", "gelu"})
    void activationsMatchTheirScalarDefinition(String name) {
        Activation f = Activation.parse(name);
        Random r = new Random(name.hashCode());
        int n = 40_001;
        float[] x = random(r, n), dy = random(r, n);
        Buffer X = up(cpu, x), Y = cpu.allocate(n), DX = cpu.allocate(n);
        cpu.activation(f, X, Y);
        cpu.activationBackward(f, X, Y, up(cpu, dy), DX);
        float[] y = down(Y), dx = down(DX);
        for (int i = 0; i < n; i++) {
            assertEquals(f.apply(x[i]), y[i], 1e-6);
            assertEquals(dy[i] * f.derivative(x[i], y[i]), dx[i], 1e-5);
        }
    }

    @Test
    void reluBackwardMatchesTheSelectBitForBitOnEdgeValues() {
        float[] edges = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0xffc00001), 1f, -1f,
                // the mask's boundaries: the first NaN above +Inf, the largest positive NaN, the smallest negative
                Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0x7fffffff), Float.intBitsToFloat(0x80000001)};
        int n = edges.length * edges.length;
        float[] x = new float[n], dy = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = edges[i / edges.length];
            dy[i] = edges[i % edges.length];
        }
        Buffer DX = cpu.allocate(n);
        cpu.activationBackward(Activation.RELU, up(cpu, x), cpu.allocate(n), up(cpu, dy), DX);
        float[] dx = down(DX);
        for (int i = 0; i < n; i++) {
            float expected = x[i] > 0f ? dy[i] : 0f;
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(dx[i]), "x = " + x[i] + ", dy = " + dy[i]);
        }
    }

    @Test
    void biasOpsMatchPlainLoops() {
        Random r = new Random(19);
        int rows = 33, cols = 7;
        float[] y = random(r, rows * cols), bias = random(r, cols), db0 = random(r, cols);
        Buffer Y = up(cpu, y), DB = up(cpu, db0);
        cpu.addBias(Y, up(cpu, bias));
        cpu.accumulateBiasGradient(up(cpu, y), DB);
        float[] ey = y.clone(), edb = db0.clone();
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) { ey[i * cols + j] += bias[j]; edb[j] += y[i * cols + j]; }
        assertArrayEquals(ey, down(Y));
        assertClose(edb, down(DB), 1e-5, 1e-6);
    }

    @Test
    void lossesMatchPlainFormulas() {
        Random r = new Random(23);
        int rows = 9, cols = 5;
        float[] out = random(r, rows * cols), target = new float[rows * cols];
        for (int i = 0; i < rows; i++) target[i * cols + r.nextInt(cols)] = 1f;
        Buffer O = up(cpu, out), T = up(cpu, target), D = cpu.allocate(rows * cols);
        double se = cpu.squaredError(O, T, 0.25f, D);
        double es = 0;
        float[] d = down(D);
        for (int i = 0; i < out.length; i++) {
            double diff = out[i] - target[i];
            es += diff * diff;
            assertEquals(0.5f * (out[i] - target[i]), d[i], 1e-6);
        }
        assertEquals(es, se, 1e-9);
        double ce = cpu.softmaxCrossEntropy(O, T, cols, 1f, D);
        d = down(D);
        double ec = 0;
        for (int i = 0; i < rows; i++) {
            double z = 0;
            for (int j = 0; j < cols; j++) z += Math.exp(out[i * cols + j]);
            for (int j = 0; j < cols; j++) {
                double p = Math.exp(out[i * cols + j]) / z;
                ec -= target[i * cols + j] * Math.log(p);
                assertEquals(p - target[i * cols + j], d[i * cols + j], 1e-6);
            }
        }
        assertEquals(ec, ce, 1e-6);
    }

    @Test
    void mismatchedLengthsNameTheOperation() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.axpy(1f, cpu.allocate(3), cpu.allocate(4)));
        assertTrue(e.getMessage().contains("axpy") && e.getMessage().contains("3") && e.getMessage().contains("4"), e.getMessage());
    }
}
