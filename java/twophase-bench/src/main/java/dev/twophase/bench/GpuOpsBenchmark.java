package dev.twophase.bench;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.Backends;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The optimizer's vector ops on each GPU backend at 1e6, 1e7 and 1e8 parameters, next to a
 * device-to-device copy of the same length measured in the same run (the baseline: only the ratio
 * op / copy is stable on shared machines).
 *
 * <p>Throughput mode: JMH reports operations per second; the bandwidth is {@code ops/s * n *
 * bytesPerElement / 1e9} GB/s with the minimum bytes each op must move per element
 * ({@link #BYTES_PER_ELEMENT}, float32): copy 8 (read, write), Adam 28 (p, g, m, v read; p, m, v
 * written), multi-dot k=3 16 (x and three y read), CG direction 16 (d, g read; d, gPrev written),
 * trial point 12 (x0, d read; x written), segmented norms 4 (g read; 64 tensors). {@link
 * GpuBenchMain} runs this class and prints that table.
 *
 * <p>Each invocation queues {@link #OPS} operations and then waits for the device, so the JCuda
 * backend (asynchronous launches) and the FFM backend (each call synchronizes) are both timed to
 * completion. {@link TinyLaunch} times {@code trialPoint} on one element: the per-call overhead
 * of each binding, with and without waiting for the device.
 *
 * <p>Without a GPU the setup fails with the backend's reason; {@link GpuBenchMain} checks first and
 * skips cleanly.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GpuOpsBenchmark {
    /** Operations queued per invocation before waiting for the device. */
    public static final int OPS = 10;

    /** Minimum bytes moved per element by each benchmark method (float32 reads + writes). */
    public static final Map<String, Integer> BYTES_PER_ELEMENT = Map.of(
            "copy", 8, "adam", 28, "multiDot3", 16, "cgDirection", 16, "trialPoint", 12, "segmentedNorms", 4);

    /** Tensors in the segmented-norm layout (uneven sizes, weights 1..5). */
    public static final int NORM_TENSORS = 64;

    @Param({"jcuda", "ffm"})
    public String backend;

    @Param({"1000000", "10000000", "100000000"})
    public int n;

    private Backend b;
    private Buffer p, g, m, v, x, y1, y2;
    private Buffer[] ys;
    private long[] offsets;
    private final double[] dots = new double[3];
    private final AdamScalars scalars = AdamScalars.forStep(10, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1);

    /** Opens a GPU backend by name, or throws with the reason it cannot run here. */
    static Backend open(String name) {
        for (BackendProvider provider : Backends.providers()) {
            if (!provider.name().equals(name)) continue;
            try {
                return provider.open(1);
            } catch (BackendUnavailableException e) {
                throw new IllegalStateException("SKIPPED: the " + name + " backend cannot run here: " + e.getMessage(), e);
            }
        }
        throw new IllegalArgumentException("no backend named " + name);
    }

    @Setup(Level.Trial)
    public void setup() {
        b = open(backend);
        p = filled(0.5f);
        g = filled(-0.25f);
        m = filled(0.01f);
        v = filled(1e-4f);
        x = filled(0.75f);
        y1 = filled(-1.5f);
        y2 = filled(2f);
        ys = new Buffer[] {x, y1, y2};
        offsets = new long[NORM_TENSORS + 1];
        long weights = 0;
        for (int t = 0; t < NORM_TENSORS; t++) weights += t % 5 + 1;
        for (int t = 0; t < NORM_TENSORS; t++) offsets[t + 1] = t == NORM_TENSORS - 1 ? n : offsets[t] + (long) n * (t % 5 + 1) / weights;
        b.synchronize();
    }

    private Buffer filled(float value) {
        Buffer buf = b.allocate(n);
        b.fill(buf, value);
        return buf;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (b != null) b.close(); // frees every buffer
    }

    @Benchmark @OperationsPerInvocation(OPS)
    public void copy() {
        for (int i = 0; i < OPS; i++) b.copy(y1, y2);
        b.synchronize();
    }

    @Benchmark @OperationsPerInvocation(OPS)
    public void adam() {
        for (int i = 0; i < OPS; i++) b.adamStep(scalars, p, g, m, v);
        b.synchronize();
    }

    @Benchmark @OperationsPerInvocation(OPS)
    public void multiDot3(Blackhole bh) {
        for (int i = 0; i < OPS; i++) {
            b.multiDot(g, ys, dots); // returns the dots to the host: waits
            bh.consume(dots[0]);
        }
    }

    @Benchmark @OperationsPerInvocation(OPS)
    public void cgDirection() {
        for (int i = 0; i < OPS; i++) b.cgDirection(x, g, y1, 0.5);
        b.synchronize();
    }

    @Benchmark @OperationsPerInvocation(OPS)
    public void trialPoint() {
        for (int i = 0; i < OPS; i++) b.trialPoint(y2, p, x, 1e-3);
        b.synchronize();
    }

    @Benchmark @OperationsPerInvocation(OPS)
    public void segmentedNorms(Blackhole bh) {
        for (int i = 0; i < OPS; i++) {
            GradientNorms norms = b.segmentedNorms(g, offsets);
            bh.consume(norms.totalSumOfSquares());
        }
    }

    /**
     * Per-call overhead: {@code trialPoint} on one element, in microseconds per call. {@code
     * callOnly} times the call alone (JCuda returns once the launch is queued, so its steady state
     * is bounded by how fast the device drains the launch queue; FFM's call has already waited);
     * {@code callAndSynchronize} also waits for the device after every call.
     */
    @State(Scope.Benchmark)
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    @Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public static class TinyLaunch {
        @Param({"jcuda", "ffm"})
        public String backend;

        private Backend b;
        private Buffer x, x0, d;

        @Setup(Level.Trial)
        public void setup() {
            b = open(backend);
            x = b.allocate(1);
            x0 = b.allocate(1);
            d = b.allocate(1);
            b.fill(d, 1f);
            b.synchronize();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (b != null) b.close();
        }

        @Benchmark
        public void callOnly() {
            b.trialPoint(x, x0, d, 0.5);
        }

        @Benchmark
        public void callAndSynchronize() {
            b.trialPoint(x, x0, d, 0.5);
            b.synchronize();
        }
    }
}
