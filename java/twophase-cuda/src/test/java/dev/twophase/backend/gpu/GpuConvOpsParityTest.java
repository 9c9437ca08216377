package dev.twophase.backend.gpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.ConvShape;
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

/**
 * Each GPU backend against the CPU backend (HostKernels) on the conv ops of channels-last batches:
 * im2col, col2im, max pooling forward and backward, and the batched transpose. They copy,
 * compare and add in the CPU's order (col2im and the pool backward sum each element's
 * contributions in window order), so every result must match bit for bit (any NaN matches any
 * NaN). Odd shapes: stride 1, 2 and past the kernel, padding 0 to 2, one channel and more than a
 * warp, batch tails; pooling also on inputs full of ties and signed zeros (the first maximum in
 * window order takes the gradient; Java's max puts +0 above -0) with some NaN and infinities.
 * Skipped without a GPU; runs on the emulated backends everywhere.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuConvOpsParityTest {
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    private static final ConvShape[] SHAPES = {
            new ConvShape(3, 7, 5, 1, 3, 1, 1),     // VGG5's first convolution: one channel, padding 1
            new ConvShape(2, 9, 6, 3, 3, 2, 0),     // stride 2: windows overlap by one
            new ConvShape(3, 7, 7, 5, 2, 2, 1),     // padded pooling
            new ConvShape(2, 5, 4, 3, 2, 3, 2),     // stride past the kernel, windows of padding only
            new ConvShape(5, 8, 6, 32, 2, 2, 0),    // VGG5's pooling
            new ConvShape(2, 12, 12, 3, 4, 4, 0),   // the ViT patch embedding
            new ConvShape(3, 11, 13, 33, 3, 1, 1),  // channels past a warp, several blocks
            new ConvShape(9, 28, 28, 32, 3, 1, 1)}; // VGG5's second convolution at MNIST size: past the grid cap

    static Stream<Arguments> backendsAndShapes() { return GpuTestSupport.perBackend((Object[]) SHAPES); }

    /** Floats of the pooling output of s. */
    private static int pooled(ConvShape s) { return s.batch() * s.outHeight() * s.outWidth() * s.channels(); }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void im2colAndCol2im(String name, ConvShape s) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(s.hashCode());
        int patches = (int) (s.patchRows() * s.patchColumns());
        float[] x = random(rng, (int) s.inputSize(), 1f), g = random(rng, patches, 1f);
        float[][] cols = new float[2][], dx = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer xb = upload(both[b], x); Buffer cb = both[b].allocate(patches); Buffer gb = upload(both[b], g);
                 Buffer db = both[b].allocate(s.inputSize())) {
                both[b].fill(cb, Float.NaN);
                both[b].fill(db, Float.NaN);
                both[b].im2col(s, xb, cb);
                cols[b] = download(both[b], cb);
                both[b].col2im(s, gb, db);
                dx[b] = download(both[b], db);
            }
        }
        assertBits(name + " im2col " + s, cols[0], cols[1]);
        assertBits(name + " col2im " + s, dx[0], dx[1]);
    }

    @ParameterizedTest(name = "{0} {1}") @MethodSource("backendsAndShapes")
    void maxPoolForwardAndBackward(String name, ConvShape s) {
        Backend gpu = env.gpu(name);
        SplittableRandom rng = new SplittableRandom(s.hashCode() * 31L);
        for (boolean ties : new boolean[] {false, true}) {
            float[] x = ties ? tieValues(rng, (int) s.inputSize()) : random(rng, (int) s.inputSize(), 1f);
            float[] dy = random(rng, pooled(s), 1f);
            float[][] y = new float[2][], dx = new float[2][];
            Backend[] both = {env.cpu, gpu};
            for (int b = 0; b < 2; b++) {
                try (Buffer xb = upload(both[b], x); Buffer yb = both[b].allocate(pooled(s)); Buffer gyb = upload(both[b], dy);
                     Buffer gxb = both[b].allocate(s.inputSize())) {
                    both[b].fill(yb, Float.NaN);
                    both[b].fill(gxb, Float.NaN);
                    both[b].maxPool(s, xb, yb);
                    y[b] = download(both[b], yb);
                    both[b].maxPoolBackward(s, xb, yb, gyb, gxb);
                    dx[b] = download(both[b], gxb);
                }
            }
            String what = name + (ties ? " ties " : " ") + s;
            assertBits("maxPool " + what, y[0], y[1]);
            assertBits("maxPoolBackward " + what, dx[0], dx[1]);
        }
    }

    /** A few values (most windows hold ties), signed zeros, and 1 in 100 NaN or an infinity. */
    private static float[] tieValues(SplittableRandom rng, int n) {
        float[] pick = {-1f, -0f, 0f, 0.5f, 1f};
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            int r = rng.nextInt(300);
            v[i] = r == 0 ? Float.NaN : r == 1 ? Float.NEGATIVE_INFINITY : r == 2 ? Float.POSITIVE_INFINITY : pick[rng.nextInt(pick.length)];
        }
        return v;
    }

    record Transpose(int batch, int rows, int cols) { }

    static Stream<Arguments> transposes() {
        Transpose[] cases = {new Transpose(1, 1, 1), new Transpose(3, 1, 784), new Transpose(3, 784, 1), new Transpose(2, 3, 1024),
                new Transpose(2, 1024, 3), new Transpose(5, 33, 65), new Transpose(4097, 2, 33)};
        return GpuTestSupport.perBackend((Object[]) cases);
    }

    /** ChannelsLast's forward (channels x pixels) and backward (pixels x channels), odd tiles, more tiles than the grid cap. */
    @ParameterizedTest(name = "{0} {1}") @MethodSource("transposes")
    void batchedTranspose(String name, Transpose t) {
        Backend gpu = env.gpu(name);
        int n = t.batch() * t.rows() * t.cols();
        float[] x = random(new SplittableRandom(n), n, 1f);
        float[][] y = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            try (Buffer xb = upload(both[b], x); Buffer yb = both[b].allocate(n)) {
                both[b].fill(yb, Float.NaN);
                both[b].batchedTranspose(t.batch(), t.rows(), t.cols(), xb, yb);
                y[b] = download(both[b], yb);
            }
        }
        assertBits(name + " batchedTranspose " + t, y[0], y[1]);
    }
}
