package dev.twophase.bench;

import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cpu.Parallel;
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

import java.util.concurrent.TimeUnit;

/**
 * The frame every CPU op benchmark shares (JMH inherits parameters, setup and the benchmark
 * method): sizes {@code n}, {@code threads}, and {@code variant} = {@code op} (the CpuBackend
 * operation) or {@code baseline} (a loop moving the same bytes with only additions, on the same
 * threading, the backend's own {@link Parallel}). {@code variant} is the last parameter, so an op and its baseline run back to back.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xms3g", "-Xmx3g"})
@Warmup(iterations = 3, time = 400, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 400, timeUnit = TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
public abstract class CpuOpBench {
    @Param({CpuBenchSupport.N_100K, CpuBenchSupport.N_1M, CpuBenchSupport.N_10M, CpuBenchSupport.N_32M})
    public int n;

    @Param({"1", "2"})
    public int threads;

    @Param({"op", "baseline"})
    public String variant;

    protected CpuBackend backend;
    protected Parallel chunked;
    private boolean op;

    @Setup
    public void setup() {
        op = switch (variant) {
            case "op" -> true;
            case "baseline" -> false;
            default -> throw new IllegalArgumentException("variant " + variant);
        };
        if (op) {
            backend = CpuBenchSupport.backend(threads);
            setupOp();
        } else {
            chunked = new Parallel(threads);
            setupBaseline();
        }
    }

    @TearDown
    public void tearDown() {
        if (backend != null) backend.close();
        if (chunked != null) chunked.close();
    }

    @Benchmark
    public Object run() { return op ? runOp() : runBaseline(); }

    /** Allocates the op's buffers on {@link #backend}. */
    protected abstract void setupOp();

    /** Allocates the baseline's arrays. */
    protected abstract void setupBaseline();

    protected abstract Object runOp();

    /** The same memory traffic as the op, with {@link #chunked}. */
    protected abstract Object runBaseline();
}
