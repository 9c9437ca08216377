package dev.twophase.backend.gpu;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.Transfers;
import dev.twophase.backend.cuda.CudaGeometry;
import dev.twophase.backend.cuda.GpuBackend;
import dev.twophase.backend.cuda.HostFallbackException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;

import static dev.twophase.backend.gpu.GpuTestSupport.download;
import static dev.twophase.backend.gpu.GpuTestSupport.random;
import static dev.twophase.backend.gpu.GpuTestSupport.upload;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU backends' protocol with the host: work is queued and the host waits only where it reads
 * a value; every byte between host and device is counted; a layer op without a kernel never runs
 * through host copies unless allowed. On the emulator, which runs each launch at once, the
 * emulator's count of host waits shows where a binding waits (the library and the driver wait in
 * the same calls as CUDA's); on a device the same calls are checked for their results after many
 * queued ops (stream order) by {@code test_gpu_layers test_queued_order}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuQueueAndTransfersTest {
    private final GpuTestSupport env = new GpuTestSupport();

    @AfterAll void close() { env.close(); }

    static java.util.stream.Stream<String> gpuBackends() { return GpuTestSupport.gpuBackends(); }

    /**
     * A training step's ops (fills, copies, GEMM, bias, activations, gather and one-hot, Adam, the
     * CG updates) make the host wait nowhere; a download, each reduction that returns a value and
     * synchronize each wait. The results after the queued ops are the CPU backend's.
     */
    @ParameterizedTest @MethodSource("gpuBackends")
    void queuedOpsDoNotWaitAndReadsDo(String name) {
        Backend gpu = env.gpu(name);
        GpuBackend<?> g = (GpuBackend<?>) gpu;
        Assumptions.assumeTrue(name.endsWith("-emu"), "host waits are counted by the emulator; on a device the results say it");
        SplittableRandom r = new SplittableRandom(5);
        int rows = 37, cols = 11, n = rows * cols;
        float[] x = random(r, n, 1f), w = random(r, cols * cols, 0.5f), bias = random(r, cols, 1f);
        float[] idx = new float[rows], labels = new float[rows];
        for (int i = 0; i < rows; i++) {
            idx[i] = (i * 7) % rows;
            labels[i] = i % cols;
        }
        float[][] results = new float[2][];
        Backend[] both = {env.cpu, gpu};
        for (int b = 0; b < 2; b++) {
            Backend be = both[b];
            try (Buffer xb = upload(be, x); Buffer wb = upload(be, w); Buffer bb = upload(be, bias); Buffer ib = upload(be, idx); Buffer lb = upload(be, labels);
                 Buffer y = be.allocate(n); Buffer z = be.allocate(n); Buffer hot = be.allocate((long) rows * cols);
                 Buffer m = be.allocate(n); Buffer v = be.allocate(n); Buffer x0 = be.allocate(n)) {
                long before = b == 1 ? g.emulatorHostWaits() : 0;
                be.fill(y, 0f);
                be.gatherRows(xb, cols, ib, z);
                be.gemm(false, false, rows, cols, cols, 1f, z, cols, wb, cols, 0f, y, cols);
                be.addBias(y, bb);
                be.activation(Activation.TANH, y, z);
                be.activationBackward(Activation.TANH, y, z, z, z);
                be.oneHot(lb, cols, hot);
                be.axpy(0.5f, hot, y);
                be.copy(y, x0);
                be.adamStep(AdamScalars.forStep(1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1), x0, z, m, v);
                be.cgDirection(m, z, v, 0.25);
                be.trialPoint(y, x0, m, -0.125);
                if (b == 1) {
                    assertEquals(before, g.emulatorHostWaits(), name + ": queued ops made the host wait");
                    double[] dots = new double[2];
                    be.multiDot(y, new Buffer[] {y, x0}, dots);
                    long afterDot = g.emulatorHostWaits();
                    assertTrue(afterDot > before, name + ": multiDot returns values, so it waits");
                    be.squaredError(y, x0, 1f, null);
                    long afterLoss = g.emulatorHostWaits();
                    assertTrue(afterLoss > afterDot, name + ": a loss waits");
                    be.countCorrect(y, cols, lb);
                    assertTrue(g.emulatorHostWaits() > afterLoss, name + ": countCorrect waits");
                    long beforeSync = g.emulatorHostWaits();
                    be.synchronize();
                    assertEquals(beforeSync + 1, g.emulatorHostWaits(), name + ": synchronize waits once");
                }
                results[b] = download(be, y);
            }
        }
        GpuTestSupport.assertClose(name + ": results after the queued ops", results[0], results[1], 1e-6, 1e-5);
    }

    /** Uploads and downloads count their bytes; reductions the doubles they return; the norms' chunk table once. */
    @ParameterizedTest @MethodSource("gpuBackends")
    void transfersCountEveryByteBetweenHostAndDevice(String name) {
        Backend gpu = env.gpu(name);
        SplittableRandom r = new SplittableRandom(name.hashCode());
        int n = 70_001;
        float[] a = random(r, n, 1f);
        Transfers t0 = gpu.transfers();
        try (Buffer x = gpu.allocate(n); Buffer y = gpu.allocate(n)) {
            gpu.upload(a, x);
            assertEquals(new Transfers(4L * n, 0), gpu.transfers().minus(t0), name + ": upload");
            Transfers t1 = gpu.transfers();
            gpu.copy(x, y);
            gpu.axpy(2f, x, y);
            gpu.fill(y, 0f);
            assertEquals(Transfers.NONE, gpu.transfers().minus(t1), name + ": ops between buffers move nothing");
            double[] dots = new double[3];
            gpu.multiDot(x, new Buffer[] {x, y, x}, dots);
            assertEquals(new Transfers(0, 3 * Double.BYTES), gpu.transfers().minus(t1), name + ": three dots come back");
            Transfers t2 = gpu.transfers();
            // segment lengths of this test only: the chunk table is uploaded once (the library's cache is per process)
            long cut = 3 + r.nextInt(1000), cut2 = cut + CudaGeometry.NORM_CHUNK + r.nextInt(1000);
            long[] offsets = {0, cut, cut2, n};
            int tensors = offsets.length - 1;
            long chunks = 0;
            for (int t = 0; t < tensors; t++) chunks += CudaGeometry.normChunkCount(offsets[t + 1] - offsets[t]);
            gpu.segmentedNorms(x, offsets);
            long table = 2L * Long.BYTES * chunks + (long) Integer.BYTES * (tensors + 1);
            Transfers first = gpu.transfers().minus(t2);
            assertEquals(table, first.hostToDeviceBytes(), name + ": segmented norms, first call: the chunk table");
            // the sums (per tensor and total) and the flag come back, and whatever else the reduction returns per tensor
            long sums = (long) Double.BYTES * (tensors + 1) + Integer.BYTES, most = 16L * (tensors + 2);
            assertTrue(first.deviceToHostBytes() >= sums && first.deviceToHostBytes() <= most,
                    name + ": segmented norms read " + first.deviceToHostBytes() + " bytes; expected " + sums + " to " + most);
            Transfers t3 = gpu.transfers();
            gpu.segmentedNorms(x, offsets);
            assertEquals(new Transfers(0, first.deviceToHostBytes()), gpu.transfers().minus(t3), name + ": segmented norms, table cached");
            Transfers t4 = gpu.transfers();
            float[] back = new float[n];
            gpu.download(x, back);
            assertArrayEquals(a, back);
            assertEquals(new Transfers(0, 4L * n), gpu.transfers().minus(t4), name + ": download");
        }
    }

    /** Backend's host-copy path is refused by default; allowed, it works and is counted. */
    @ParameterizedTest @MethodSource("gpuBackends")
    void hostRoundTripsAreRefusedUnlessAllowed(String name) {
        GpuBackend<?> g = (GpuBackend<?>) env.gpu(name);
        float[] a = {1, 2, 3, 4, 5};
        try (Buffer b = upload(g, a)) {
            HostFallbackException e = assertThrows(HostFallbackException.class, () -> g.hostRead(b));
            assertEquals(name, e.backend());
            assertTrue(e.getMessage().contains("allowHostFallback"), e.getMessage());
            assertThrows(HostFallbackException.class, () -> g.hostWrite(b));
            long copies = g.hostFallbackCopies();
            g.allowHostFallback(true);
            try {
                Transfers t = g.transfers();
                Backend.HostArray h = g.hostRead(b);
                h.array()[h.offset()] = 9;
                g.hostWriteBack(h, b);
                assertArrayEquals(new float[] {9, 2, 3, 4, 5}, download(g, b));
                assertEquals(copies + 2, g.hostFallbackCopies());
                assertEquals(new Transfers(4L * a.length, 4L * a.length), g.transfers().minus(t).minus(new Transfers(0, 4L * a.length)),
                        name + ": the round trip's bytes are counted (and the check's download)");
            } finally {
                g.allowHostFallback(false);
            }
        }
    }
}
