package dev.twophase.backend.gpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.Transfers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import static dev.twophase.backend.gpu.GpuTestSupport.assertBits;
import static dev.twophase.backend.gpu.GpuTestSupport.download;
import static dev.twophase.backend.gpu.GpuTestSupport.random;
import static dev.twophase.backend.gpu.GpuTestSupport.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each GPU backend against the CPU backend on the training-data ops (gather by index, one-hot,
 * correct predictions), odd shapes with tails and several blocks: bit-identical (they copy, compare
 * and count), including rows with ties for the maximum and NaN outputs. Where the CPU backend
 * refuses an invalid index or label, a GPU backend writes NaN rows (gather, one-hot) or refuses it
 * too (the count). Gather and one-hot move no bytes between host and device; the count moves one
 * double back. Skipped without a GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuDataOpsParityTest {
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    record Shape(int srcRows, int cols, int rows) { }

    private static final Shape[] SHAPES = {new Shape(1, 1, 1), new Shape(7, 3, 5), new Shape(1001, 10, 4097),
            new Shape(37, 1001, 13), new Shape(5, 3, 20011)};

    static Stream<Arguments> backendsAndShapes() { return GpuTestSupport.perBackend((Object[]) SHAPES); }

    /** Row numbers (or labels) below {@code limit}, some repeated, row 0 as -0. */
    private static float[] rows(SplittableRandom r, int n, int limit) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = r.nextInt(limit);
        a[0] = -0f;
        return a;
    }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void gatherRowsMatchesTheCpuBitForBit(String name, Shape s) {
        Backend gpu = env.gpu(name);
        SplittableRandom r = new SplittableRandom(s.srcRows() * 31L + s.rows());
        float[] src = random(r, s.srcRows() * s.cols(), 1f), idx = rows(r, s.rows(), s.srcRows());
        float[][] got = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer sb = upload(both[b], src); Buffer ib = upload(both[b], idx); Buffer db = both[b].allocate((long) s.rows() * s.cols())) {
                Transfers before = both[b].transfers();
                both[b].gatherRows(sb, s.cols(), ib, db);
                assertEquals(Transfers.NONE, both[b].transfers().minus(before), name + ": gather moves nothing between host and device");
                got[b] = download(both[b], db);
            }
        }
        assertBits(name + " gatherRows " + s, got[0], got[1]);
    }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void oneHotMatchesTheCpuBitForBit(String name, Shape s) {
        Backend gpu = env.gpu(name);
        SplittableRandom r = new SplittableRandom(s.rows() * 7L + s.cols());
        float[] labels = rows(r, s.rows(), s.cols());
        float[][] got = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer lb = upload(both[b], labels); Buffer db = upload(both[b], random(r, s.rows() * s.cols(), 1f))) {
                both[b].oneHot(lb, s.cols(), db);
                got[b] = download(both[b], db);
            }
        }
        assertBits(name + " oneHot " + s, got[0], got[1]);
    }

    /** Four levels per output (most rows tie for the maximum) and a NaN in every seventh row. */
    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void countCorrectMatchesTheCpuExactly(String name, Shape s) {
        Backend gpu = env.gpu(name);
        SplittableRandom r = new SplittableRandom(s.rows() * 3L + s.cols());
        float[] out = new float[s.rows() * s.cols()], labels = rows(r, s.rows(), s.cols());
        for (int i = 0; i < out.length; i++) out[i] = r.nextInt(4) - 1.5f;
        for (int i = 0; i < s.rows(); i += 7) out[i * s.cols() + r.nextInt(s.cols())] = Float.NaN;
        long[] got = new long[2];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer ob = upload(both[b], out); Buffer lb = upload(both[b], labels)) {
                Transfers before = both[b].transfers();
                got[b] = both[b].countCorrect(ob, s.cols(), lb);
                long back = both[b].transfers().minus(before).deviceToHostBytes();
                assertEquals(b == 0 ? 0 : Double.BYTES, back, name + ": the count comes back as one double");
                assertEquals(got[b], both[b].countCorrect(ob, s.cols(), lb), name + ": the same count again");
            }
        }
        assertEquals(got[0], got[1], name + " countCorrect " + s);
    }

    static Stream<String> gpuBackends() { return GpuTestSupport.gpuBackends(); }

    /** The CPU backend refuses what a device cannot check without reading it back; the GPU writes NaN rows instead. */
    @ParameterizedTest @MethodSource("gpuBackends")
    void invalidIndicesGiveNaNRowsAndInvalidLabelsAreRefused(String name) {
        Backend gpu = env.gpu(name);
        float[] bad = {-1f, 3f, 0.5f, 2.5f, 16777216f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        float[] idx = new float[2 * bad.length];
        for (int i = 0; i < bad.length; i++) {
            idx[2 * i] = i % 3;
            idx[2 * i + 1] = bad[i];
        }
        try (Buffer src = upload(gpu, new float[] {1, 2, 3, 4, 5, 6}); Buffer ib = upload(gpu, idx);
             Buffer dst = gpu.allocate(2L * idx.length); Buffer hot = gpu.allocate(3L * idx.length)) {
            gpu.gatherRows(src, 2, ib, dst);
            gpu.oneHot(ib, 3, hot);
            float[] g = download(gpu, dst), h = download(gpu, hot);
            for (int i = 0; i < idx.length; i++) {
                boolean valid = i % 2 == 0;
                for (int c = 0; c < 2; c++) {
                    float want = valid ? 1 + (int) idx[i] * 2 + c : Float.NaN;
                    assertEquals(want, g[i * 2 + c], name + ": gathered row " + i + " (index " + idx[i] + ")");
                }
                for (int c = 0; c < 3; c++) {
                    float want = valid ? (c == (int) idx[i] ? 1f : 0f) : Float.NaN;
                    assertEquals(want, h[i * 3 + c], name + ": one-hot row " + i + " (label " + idx[i] + ")");
                }
            }
            try (Buffer labels = upload(gpu, new float[] {0, 1, 3})) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.countCorrect(src.slice(0, 6), 2, labels));
                assertTrue(e.getMessage().contains("countCorrect") && e.getMessage().contains("0 to 1"), e.getMessage());
            }
        }
    }
}
