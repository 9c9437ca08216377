package dev.twophase.backend.cpu;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * SGEMM on the CPU backend beside OpenBLAS used the usual way, on the products that dominate
 * training: the MLP's first layer (forward 512x256x784 with B transposed, its weight gradient
 * 256x784x512 with A transposed) and VGG5's second convolution at batch 512 (100352x64x288).
 * Variants, each in its own JVM (JMH forks per trial, so OpenBLAS's process-wide state does not
 * leak between them):
 * <ul>
 *   <li>{@code twophase}: {@link CpuBackend#gemm} with {@code threads} threads (fixed blocks, one
 *       single-threaded OpenBLAS call each, bit-identical for any thread count);</li>
 *   <li>{@code openblas-threads}: one {@code cblas_sgemm} with OpenBLAS's own {@code threads}
 *       threads, as PyTorch calls it (the peer baseline; its bits change with the thread count);</li>
 *   <li>{@code 1-thread} and {@code 1-thread-unprefaulted}: one single-threaded call, with and
 *       without {@link OpenBlas#prefault} first, to show what the prefault is for.</li>
 * </ul>
 * {@code scripts/bench-cpu --gemm} runs it and prints GFLOP/s and the ratio to {@code openblas-threads}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
public class CpuGemmBench {
    /** M x N x K and the transposes (T for a transposed operand, N for not), A then B. */
    @Param({"512x256x784:NT", "256x784x512:TN", "100352x64x288:NT"})
    public String shape;

    @Param({"2"})
    public int threads;

    @Param({"twophase", "openblas-threads", "1-thread", "1-thread-unprefaulted"})
    public String variant;

    private int m, n, k;
    private boolean transA, transB;
    private CpuBackend backend;
    private OpenBlas blas;
    private CpuBuffer a, b, c;

    @Setup
    public void setup() throws ReflectiveOperationException {
        String[] dims = shape.split(":")[0].split("x");
        m = Integer.parseInt(dims[0]);
        n = Integer.parseInt(dims[1]);
        k = Integer.parseInt(dims[2]);
        transA = shape.endsWith(":TN") || shape.endsWith(":TT");
        transB = shape.endsWith(":NT") || shape.endsWith(":TT");
        switch (variant) {
            case "twophase" -> {
                backend = new CpuBackend(threads);
                if (!backend.usesOpenBlas()) throw new IllegalStateException("OpenBLAS did not load: " + backend.description());
            }
            case "openblas-threads" -> {
                blas = OpenBlas.load();
                blas.useOwnThreads(threads);
            }
            case "1-thread" -> {
                blas = OpenBlas.load();
                String problem = blas.prefault(1);
                if (problem != null) throw new IllegalStateException(problem);
            }
            case "1-thread-unprefaulted" -> blas = OpenBlas.load();
            default -> throw new IllegalArgumentException("variant " + variant);
        }
        Random r = new Random(42);
        a = filled(r, (long) m * k);
        b = filled(r, (long) k * n);
        c = filled(r, (long) m * n);
    }

    private CpuBuffer filled(Random r, long length) {
        float[] x = new float[(int) length];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() - 0.5f;
        return (CpuBuffer) backend.wrap(x);
    }

    @TearDown
    public void tearDown() {
        if (backend != null) backend.close();
    }

    @Benchmark
    public float[] run() {
        int lda = transA ? m : k, ldb = transB ? k : n;
        if (backend != null) backend.gemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
        else blas.sgemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
        return c.array;
    }
}
