package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.optim.Adam;
import dev.twophase.optim.AdamConfig;
import dev.twophase.tensor.ParameterLayout;
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

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * One {@link Adam#step} of a trainer that keeps its weights and gradients in its own memory
 * (issue 11: 1.32 ms per step at 1M parameters, 2.39 ms with the copies the README's path needed):
 * <ul>
 *   <li>{@code copies}: the old path: upload the gradient into a backend buffer, step, download the
 *       parameters back into the trainer's array;</li>
 *   <li>{@code wrapped}: {@code CpuBackend.wrap} of the trainer's float arrays, step in place;</li>
 *   <li>{@code segment}: the same on wrapped native memory (a shared arena), streamed in staged pieces;</li>
 *   <li>{@code segmentCopies}: native memory without wrapping: copy the gradient in, step on backend
 *       buffers, copy the parameters out.</li>
 * </ul>
 * Each variant includes Adam's gradient-norm pass, as a trainer's step does.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 4, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 6, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
public class EmbeddingStepBench {
    @Param({CpuBenchSupport.N_1M, CpuBenchSupport.N_10M})
    public int n;

    @Param({"1", "2"})
    public int threads;

    @Param({"copies", "wrapped", "segment", "segmentCopies"})
    public String variant;

    private CpuBackend backend;
    private Arena arena;
    private Adam adam;
    private float[] weights, gradient;
    private MemorySegment nativeWeights, nativeGradient;
    private Buffer params, grads;

    @Setup
    public void setup() {
        backend = CpuBenchSupport.backend(threads);
        adam = new Adam(backend, ParameterLayout.single(n), AdamConfig.adam());
        weights = CpuBenchSupport.array(n, 1, -1f, 2f);
        gradient = CpuBenchSupport.array(n, 2, -1f, 2f);
        switch (variant) {
            case "copies" -> {
                params = backend.allocate(n);
                grads = backend.allocate(n);
                backend.upload(weights, params);
            }
            case "wrapped" -> {
                params = backend.wrap(weights);
                grads = backend.wrap(gradient);
            }
            case "segment", "segmentCopies" -> {
                arena = Arena.ofShared();
                nativeWeights = arena.allocate((long) n * Float.BYTES, 64);
                nativeGradient = arena.allocate((long) n * Float.BYTES, 64);
                MemorySegment.copy(weights, 0, nativeWeights, ValueLayout.JAVA_FLOAT, 0, n);
                MemorySegment.copy(gradient, 0, nativeGradient, ValueLayout.JAVA_FLOAT, 0, n);
                boolean wrap = variant.equals("segment");
                params = wrap ? backend.wrap(nativeWeights) : backend.allocate(n);
                grads = wrap ? backend.wrap(nativeGradient) : backend.allocate(n);
                if (!wrap) backend.copy(backend.wrap(nativeWeights), params);
            }
            default -> throw new IllegalArgumentException("variant " + variant);
        }
    }

    @TearDown
    public void tearDown() {
        adam.close();
        backend.close();
        if (arena != null) arena.close();
    }

    @Benchmark
    public Object step() {
        switch (variant) {
            case "copies" -> {
                backend.upload(gradient, grads);
                Adam.StepResult r = adam.step(params, grads);
                backend.download(params, weights);
                return r;
            }
            case "segmentCopies" -> {
                Buffer g = backend.wrap(nativeGradient), w = backend.wrap(nativeWeights);
                backend.copy(g, grads);
                Adam.StepResult r = adam.step(params, grads);
                backend.copy(params, w);
                return r;
            }
            default -> {
                return adam.step(params, grads);
            }
        }
    }
}
