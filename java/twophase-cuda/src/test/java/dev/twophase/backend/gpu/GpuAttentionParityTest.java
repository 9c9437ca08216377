package dev.twophase.backend.gpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cuda.GpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import static dev.twophase.backend.gpu.GpuTestSupport.assertBits;
import static dev.twophase.backend.gpu.GpuTestSupport.download;
import static dev.twophase.backend.gpu.GpuTestSupport.random;
import static dev.twophase.backend.gpu.GpuTestSupport.ulps;
import static dev.twophase.backend.gpu.GpuTestSupport.upload;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Each GPU backend against the CPU backend (HostKernels) on the attention, layer norm and token mean, on odd shapes.
 * What is claimed, and so compared:
 * <ul>
 * <li>Attention on twophase's own kernels (always in emulation; on a GPU with cuBLAS turned off): the backward bit for
 * bit (from the same probabilities); the forward bit for bit except in rows where the device's double {@code exp} and
 * the JVM's {@code Math.exp} round to different floats (both within an ulp of the exact value, so only near a float
 * rounding boundary: at most one row in 10^3 may, never seen in emulation). In such a row one e_j moves by an ulp, z
 * and 1/z by about as much, so every probability by at most 4 ulps, and out by at most
 * {@code (4 + 2(T + 1)) 2^-24 sum_j p_j |v_j|} (its two float sums of T terms round differently).</li>
 * <li>Attention through cuBLAS (a GPU where it loads): another summation order with FMA. Each side is within the
 * float error bound of its operations of the exact value ({@link #bounds}: the dot products, the rounded scale, the
 * softmax's roundings, the products' sums), so the two are within twice that; the same bound holds between cuBLAS
 * and our kernels on one device, which checks the argument mapping onto cuBLAS where a GPU exists.</li>
 * <li>Layer norm y and dx, token mean both ways: bit for bit. dGamma and dBeta: bit for bit up to 256 rows (one row
 * chunk); over more rows the chunks' double sums are added in order, another association than the CPU's row-order
 * sum: within {@code 2 n 2^-53 sum |terms|} before the float rounding, plus an ulp of the result and one of the float
 * accumulation.</li>
 * </ul>
 * Everything must repeat bit for bit. Skipped without a GPU (except on the emulated backends, which always run).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuAttentionParityTest {
    private static final double U = Math.scalb(1.0, -24);
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    record Shape(int batch, int tokens, int heads, int headDim) {
        int features() { return heads * headDim; }

        int tokenFloats() { return batch * tokens * features(); }

        int probFloats() { return batch * heads * tokens * tokens; }

        int rows() { return batch * heads * tokens; }

        @Override public String toString() { return batch + "x" + tokens + " tokens x " + heads + " heads x " + headDim; }
    }

    /** One token; tails of the 16 x 16 tiles; more than 32 tokens (two lanes per row); the paper's 16 tokens with 4 heads of 16 and one of 64. */
    private static final Shape[] SHAPES = {new Shape(1, 1, 1, 1), new Shape(3, 7, 2, 5), new Shape(2, 16, 4, 16), new Shape(2, 37, 3, 11),
            new Shape(3, 16, 1, 64), new Shape(2, 49, 2, 17)};

    static Stream<Arguments> backendsAndShapes() { return GpuTestSupport.perBackend((Object[]) SHAPES); }

    /** q, k, v, dOut; {@code spread}: scores spread over hundreds (exp of the unshifted scores overflows a float). */
    private static float[][] inputs(Shape s, boolean spread, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float mag = spread ? 6f : 1f;
        return new float[][] {random(rng, s.tokenFloats(), mag), random(rng, s.tokenFloats(), mag), random(rng, s.tokenFloats(), 1f),
                random(rng, s.tokenFloats(), 1f)};
    }

    /** probs and out of the forward; dq, dk, dv of the backward from {@code probsIn} (the same probabilities on every backend). */
    private static float[][] run(Backend be, Shape s, float[][] in, boolean sharedKeyQuery, float[] probsIn) {
        int n = s.tokenFloats(), pn = s.probFloats();
        try (Buffer q = upload(be, in[0]); Buffer k0 = upload(be, in[1]); Buffer v = upload(be, in[2]); Buffer g = upload(be, in[3]);
             Buffer p = be.allocate(pn); Buffer o = be.allocate(n); Buffer pin = upload(be, probsIn == null ? new float[pn] : probsIn);
             Buffer dq = be.allocate(n); Buffer dk = be.allocate(n); Buffer dv = be.allocate(n)) {
            Buffer k = sharedKeyQuery ? q : k0;
            be.attention(s.batch(), s.tokens(), s.heads(), s.headDim(), q, k, v, p, o);
            be.attentionBackward(s.batch(), s.tokens(), s.heads(), s.headDim(), q, k, v, probsIn == null ? p : pin, g, dq, dk, dv);
            return new float[][] {download(be, p), download(be, o), download(be, dq), download(be, dk), download(be, dv)};
        }
    }

    private static final String[] OUTPUTS = {"probs", "out", "dq", "dk", "dv"};

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void attentionMatchesTheCpuBackend(String name, Shape s) {
        Backend gpu = env.gpu(name);
        boolean cublas = gpu instanceof GpuBackend<?> g && g.attentionUsesCublas();
        for (int variant = 0; variant < 3; variant++) {
            boolean spread = variant == 1, shared = variant == 2;
            float[][] in = inputs(s, spread, s.tokenFloats() * 7L + variant);
            if (shared) in[1] = in[0];
            float[][] cpu = run(env.cpu, s, in, shared, null);
            float[][] dev = run(gpu, s, in, shared, cpu[0]); // the backward from the CPU's probabilities
            String what = name + " " + s + (spread ? " spread" : shared ? " k = q" : "") + (cublas ? " (cuBLAS)" : "");
            if (cublas) {
                withinBound(what, cpu, dev, bounds(s, in, cpu[0], 2));
            } else {
                ownKernelsForward(what, s, in, cpu, dev);
                for (int i = 2; i < 5; i++) assertBits(what + " " + OUTPUTS[i], cpu[i], dev[i]);
            }
            float[][] again = run(gpu, s, in, shared, cpu[0]);
            for (int i = 0; i < 5; i++) assertBits(what + " " + OUTPUTS[i] + " repeats", dev[i], again[i]);
        }
    }

    /** On a GPU with cuBLAS: cuBLAS's products against our kernel's on the same device, within the bound (checks the mapping). */
    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void cublasMatchesTheOwnKernels(String name, Shape s) {
        Backend gpu = env.gpu(name);
        GpuBackend<?> g = (GpuBackend<?>) gpu;
        Assumptions.assumeTrue(g.attentionUsesCublas(), name + " runs the attention on its own kernels (cuBLAS not loaded)");
        float[][] in = inputs(s, false, s.tokenFloats() * 11L);
        float[][] own;
        g.useCublasForAttention(false);
        try {
            own = run(gpu, s, in, false, null);
        } finally {
            g.useCublasForAttention(true);
        }
        float[][] viaCublas = run(gpu, s, in, false, own[0]); // the backward from the same probabilities
        withinBound(name + " " + s + " cuBLAS vs own kernels", own, viaCublas, bounds(s, in, own[0], 2));
    }

    /** probs and out of our kernels: the CPU's bits except in the rare rows where exp rounds another way. */
    private static void ownKernelsForward(String what, Shape s, float[][] in, float[][] cpu, float[][] dev) {
        int t = s.tokens(), e = s.headDim(), d = s.features(), rowsOff = 0;
        for (int r = 0; r < s.rows(); r++) {
            boolean off = false;
            for (int j = 0; j < t; j++) {
                int at = r * t + j;
                if (Float.floatToRawIntBits(cpu[0][at]) == Float.floatToRawIntBits(dev[0][at])) continue;
                off = true;
                if (ulps(cpu[0][at], dev[0][at]) > 4) fail(what + " probs at " + at + ": cpu " + cpu[0][at] + " gpu " + dev[0][at] + " (> 4 ulps)");
            }
            int b = r / (s.heads() * t), h = r / t % s.heads(), i = r % t;
            for (int c = 0; c < e; c++) {
                int at = (b * t + i) * d + h * e + c;
                if (Float.floatToRawIntBits(cpu[1][at]) == Float.floatToRawIntBits(dev[1][at])) continue;
                if (!off) fail(what + " out at " + at + " differs (cpu " + cpu[1][at] + " gpu " + dev[1][at] + ") where the probabilities do not");
                double pv = 0;
                for (int j = 0; j < t; j++) pv += cpu[0][r * t + j] * Math.abs((double) in[2][(b * t + j) * d + h * e + c]);
                double tol = (4 + 2 * (t + 1)) * U * pv;
                if (!(Math.abs((double) dev[1][at] - cpu[1][at]) <= tol)) fail(what + " out at " + at + ": cpu " + cpu[1][at] + " gpu " + dev[1][at] + " tol " + tol);
            }
            rowsOff += off ? 1 : 0;
        }
        if (rowsOff > s.rows() / 1000) fail(what + ": " + rowsOff + " of " + s.rows() + " softmax rows differ from the CPU's bits; only a last-bit "
                + "difference of exp may make one differ, rarely");
    }

    private static void withinBound(String what, float[][] want, float[][] got, double[][] bound) {
        for (int i = 0; i < 5; i++) {
            for (int at = 0; at < want[i].length; at++) {
                if (!(Math.abs((double) got[i][at] - want[i][at]) <= bound[i][at])) {
                    fail(what + " " + OUTPUTS[i] + " at " + at + ": want " + want[i][at] + " got " + got[i][at] + " bound " + bound[i][at]);
                }
            }
        }
    }

    /**
     * The float error bound of the attention against its exact value, times {@code sides} (two float evaluations
     * differ by at most the sum of their errors), u = 2^-24, scale = 1/sqrt(E), first order and doubled for margin;
     * p and the scores are taken from a float evaluation (within 1e-6 of the exact ones):
     * s_ij: D_i = (E + 2) u max_j A_ij, A_ij = scale sum_e |q_ie k_je|; p_ij: p_ij (4 D_i + 2 u R_i + 4 u), R_i = max_j
     * |s_ij - s_max| (fl(s - max) rounds, then exp, the double sum, 1/z and the product); out_ie: (that + (T + 1) u)
     * sum_j p_ij |v_je|; backward from the given P: dP E_dP = (E + 1) u sum_e |dOut v|, dot E_dot = sum_j p E_dP + (T + 1)
     * u sum_j p |dP|, dS E_dS = scale p (E_dP + E_dot + 4 u |dP - dot|), dq = sum_j E_dS |k| + (T + 1) u sum_j |dS| |k|,
     * dk likewise with q, dv = (T + 1) u sum_i p |dOut|. The same derivation as native-tests/test_gpu_layers.cpp.
     */
    static double[][] bounds(Shape s, float[][] in, float[] probs, int sides) {
        int t = s.tokens(), e = s.headDim(), h = s.heads(), d = s.features();
        float[] q = in[0], k = in[1], v = in[2], dOut = in[3];
        double scale = 1 / Math.sqrt(e), tiny = 1e-30, f = 2.0 * sides;
        double[][] bd = {new double[s.probFloats()], new double[s.tokenFloats()], new double[s.tokenFloats()], new double[s.tokenFloats()],
                new double[s.tokenFloats()]};
        double[] ds = new double[t * t], eds = new double[t * t], dp = new double[t], edp = new double[t];
        for (int b = 0; b < s.batch(); b++) {
            for (int hh = 0; hh < h; hh++) {
                for (int i = 0; i < t; i++) {
                    int prow = ((b * h + hh) * t + i) * t, qi = (b * t + i) * d + hh * e;
                    double amax = 0, smax = Double.NEGATIVE_INFINITY, smin = Double.POSITIVE_INFINITY;
                    for (int j = 0; j < t; j++) {
                        int kj = (b * t + j) * d + hh * e;
                        double a = 0, sc = 0;
                        for (int c = 0; c < e; c++) {
                            a += Math.abs((double) q[qi + c] * k[kj + c]);
                            sc += (double) q[qi + c] * k[kj + c];
                        }
                        amax = Math.max(amax, a * scale);
                        smax = Math.max(smax, sc * scale);
                        smin = Math.min(smin, sc * scale);
                    }
                    double rel = 4 * (e + 2) * U * amax + 2 * U * (smax - smin) + 4 * U;
                    for (int j = 0; j < t; j++) bd[0][prow + j] = f * rel * probs[prow + j] + 1e-44;
                    for (int c = 0; c < e; c++) {
                        double pv = 0;
                        for (int j = 0; j < t; j++) pv += probs[prow + j] * Math.abs((double) v[(b * t + j) * d + hh * e + c]);
                        bd[1][qi + c] = f * (rel + (t + 1) * U) * pv + tiny;
                    }
                    double dot = 0, edot = 0;
                    for (int j = 0; j < t; j++) {
                        int vj = (b * t + j) * d + hh * e;
                        double sdp = 0, adp = 0;
                        for (int c = 0; c < e; c++) {
                            sdp += (double) dOut[qi + c] * v[vj + c];
                            adp += Math.abs((double) dOut[qi + c] * v[vj + c]);
                        }
                        dp[j] = sdp;
                        edp[j] = (e + 1) * U * adp;
                        dot += sdp * probs[prow + j];
                        edot += probs[prow + j] * edp[j] + (t + 1) * U * probs[prow + j] * Math.abs(sdp);
                    }
                    for (int j = 0; j < t; j++) {
                        double diff = Math.abs(dp[j] - dot);
                        ds[i * t + j] = scale * probs[prow + j] * diff;
                        eds[i * t + j] = scale * probs[prow + j] * (edp[j] + edot + 4 * U * diff);
                    }
                }
                for (int w = 0; w < t; w++) {
                    int at0 = (b * t + w) * d + hh * e;
                    for (int c = 0; c < e; c++) {
                        double bq = 0, bk = 0, bv = 0;
                        for (int x = 0; x < t; x++) {
                            int tx = (b * t + x) * d + hh * e + c;
                            double kk = Math.abs((double) k[tx]), qq = Math.abs((double) q[tx]);
                            bq += eds[w * t + x] * kk + (t + 1) * U * ds[w * t + x] * kk;
                            bk += eds[x * t + w] * qq + (t + 1) * U * ds[x * t + w] * qq;
                            bv += (t + 1) * U * probs[((b * h + hh) * t + x) * t + w] * Math.abs((double) dOut[tx]);
                        }
                        bd[2][at0 + c] = f * bq + tiny;
                        bd[3][at0 + c] = f * bk + tiny;
                        bd[4][at0 + c] = f * bv + tiny;
                    }
                }
            }
        }
        return bd;
    }

    // ---------------------------------------------------------------- layer norm, token mean

    record Rows(int rows, int dim) { }

    /** Several row blocks, rows longer than a warp, one row chunk of the gamma/beta sums (256 rows) and several with a tail. */
    private static final Rows[] ROWS = {new Rows(1, 1), new Rows(7, 3), new Rows(333, 64), new Rows(256, 33), new Rows(4097, 64), new Rows(20, 1000)};

    static Stream<Arguments> backendsAndRows() { return GpuTestSupport.perBackend((Object[]) ROWS); }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndRows")
    void layerNormMatchesTheCpuBackend(String name, Rows s) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(s.rows() * 31L + s.dim());
        int n = s.rows() * s.dim();
        float eps = 1e-5f;
        float[] x = random(rng, n, 3f), gamma = random(rng, s.dim(), 1f), beta = random(rng, s.dim(), 1f), dy = random(rng, n, 1f);
        float[] dg0 = random(rng, s.dim(), 1f), db0 = random(rng, s.dim(), 1f);
        for (int i = 0; i < n; i += 7) x[i] += 100f; // a mean far from 0
        float[][][] res = new float[2][][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            Backend be = both[b];
            try (Buffer xb = upload(be, x); Buffer gb = upload(be, gamma); Buffer bb = upload(be, beta); Buffer yb = be.allocate(n);
                 Buffer dyb = upload(be, dy); Buffer dxb = be.allocate(n); Buffer dgb = upload(be, dg0); Buffer dbb = upload(be, db0)) {
                be.layerNorm(s.rows(), s.dim(), eps, xb, gb, bb, yb);
                be.layerNormBackward(s.rows(), s.dim(), eps, xb, gb, dyb, dxb, dgb, dbb);
                float[] y = download(be, yb), dx = download(be, dxb), dg = download(be, dgb), db = download(be, dbb);
                be.upload(dg0, 0, dgb);
                be.upload(db0, 0, dbb);
                be.layerNormBackward(s.rows(), s.dim(), eps, xb, gb, dyb, dxb, dgb, dbb);
                assertBits(name + " layer norm backward repeats", dg, download(be, dgb));
                be.layerNorm(s.rows(), s.dim(), eps, xb, gb, bb, xb); // in place
                assertBits(name + " layer norm in place", y, download(be, xb));
                res[b] = new float[][] {y, dx, dg, db};
            }
        }
        String what = name + " layer norm " + s;
        assertBits(what + " y", res[0][0], res[1][0]);
        assertBits(what + " dx", res[0][1], res[1][1]);
        if (s.rows() <= 256) {
            assertBits(what + " dGamma", res[0][2], res[1][2]);
            assertBits(what + " dBeta", res[0][3], res[1][3]);
            return;
        }
        // sum |terms| per column: |dy * xhat| (dGamma) and |dy| (dBeta)
        double[] ag = new double[s.dim()], ab = new double[s.dim()];
        for (int r = 0; r < s.rows(); r++) {
            double m = 0, sq = 0;
            for (int i = 0; i < s.dim(); i++) m += x[r * s.dim() + i];
            m /= s.dim();
            for (int i = 0; i < s.dim(); i++) sq += (x[r * s.dim() + i] - m) * (x[r * s.dim() + i] - m);
            double rstd = 1 / Math.sqrt(sq / s.dim() + eps);
            for (int c = 0; c < s.dim(); c++) {
                ag[c] += Math.abs(dy[r * s.dim() + c] * (x[r * s.dim() + c] - m) * rstd);
                ab[c] += Math.abs(dy[r * s.dim() + c]);
            }
        }
        double twoNu = 2.0 * s.rows() * Math.scalb(1.0, -53), ulp = Math.scalb(1.0, -23);
        float[][] cpu = res[0], dev = res[1];
        for (int c = 0; c < s.dim(); c++) {
            double tg = twoNu * ag[c] + 2 * ulp * Math.abs(cpu[2][c]) + 1e-40, tb = twoNu * ab[c] + 2 * ulp * Math.abs(cpu[3][c]) + 1e-40;
            if (!(Math.abs((double) dev[2][c] - cpu[2][c]) <= tg)) fail(what + " dGamma[" + c + "]: cpu " + cpu[2][c] + " gpu " + dev[2][c] + " tol " + tg);
            if (!(Math.abs((double) dev[3][c] - cpu[3][c]) <= tb)) fail(what + " dBeta[" + c + "]: cpu " + cpu[3][c] + " gpu " + dev[3][c] + " tol " + tb);
        }
    }

    record Tokens(int batch, int tokens, int dim) { }

    static Stream<Arguments> backendsAndTokens() {
        return GpuTestSupport.perBackend(new Tokens(1, 1, 1), new Tokens(3, 7, 5), new Tokens(37, 16, 64), new Tokens(5, 49, 1001));
    }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndTokens")
    void tokenMeanMatchesTheCpuBackend(String name, Tokens s) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(s.batch() * 7L + s.tokens());
        int nx = s.batch() * s.tokens() * s.dim(), ny = s.batch() * s.dim();
        float[] x = random(rng, nx, 2f), dy = random(rng, ny, 1f);
        float[][][] res = new float[2][][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            Backend be = both[b];
            try (Buffer xb = upload(be, x); Buffer yb = be.allocate(ny); Buffer dyb = upload(be, dy); Buffer dxb = be.allocate(nx)) {
                be.tokenMean(s.batch(), s.tokens(), s.dim(), xb, yb);
                be.tokenMeanBackward(s.batch(), s.tokens(), s.dim(), dyb, dxb);
                res[b] = new float[][] {download(be, yb), download(be, dxb)};
            }
        }
        assertBits(name + " token mean " + s, res[0][0], res[1][0]);
        assertBits(name + " token mean backward " + s, res[0][1], res[1][1]);
    }
}
