package dev.twophase.bench;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cpu.Parallel;

import java.util.stream.IntStream;

/**
 * Shared pieces of the CPU benchmarks ({@code Cpu*Bench}): deterministic test data, and the
 * threading the baselines run on.
 *
 * <p>Every CPU benchmark has a {@code variant} parameter: {@code op} times the CpuBackend operation,
 * {@code baseline} times a loop that moves the same bytes (same arrays read and written, same
 * lengths) with only additions, on the same threading as CpuBackend. {@code variant} is the last
 * parameter in JMH's order, so the op and its baseline run back to back for each (n, threads):
 * the ratio op/baseline is the number to read; absolute GB/s move with the machine's load.
 */
final class CpuBenchSupport {
    private CpuBenchSupport() { }

    static final int CHUNK = Parallel.CHUNK;

    /** The parameter counts every CPU benchmark runs at (2^25 = 33,554,432 is the largest). */
    static final String N_100K = "100000", N_1M = "1000000", N_10M = "10000000", N_32M = "33554432";

    static int chunkCount(int n) { return Parallel.chunkCount(n); }

    /** A CPU backend without OpenBLAS: none of the benchmarked ops uses GEMM, and its threads stay out of the way. */
    static CpuBackend backend(int threads) {
        return new CpuBackend(threads, false);
    }

    /** Value {@code i} of a deterministic pseudo-random sequence, uniform on [lo, lo + width), never subnormal. */
    static float value(long seed, int i, float lo, float width) {
        long h = (i + 1L) * 0x9E3779B97F4A7C15L + seed * 0xC2B2AE3D27D4EB4FL;
        h ^= h >>> 31;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 29;
        return lo + width * ((h >>> 40) * 0x1.0p-24f);
    }

    /** A plain array of {@code n} values on [lo, lo + width). */
    static float[] array(int n, long seed, float lo, float width) {
        float[] a = new float[n];
        IntStream.range(0, chunkCount(n)).parallel().forEach(c -> {
            for (int i = c * CHUNK, end = Math.min(n, i + CHUNK); i < end; i++) a[i] = value(seed, i, lo, width);
        });
        return a;
    }

    /** A backend buffer holding the same values as {@link #array}, uploaded slice by slice (no second full-size copy). */
    static Buffer buffer(Backend backend, int n, long seed, float lo, float width) {
        Buffer b = backend.allocate(n);
        int block = 1 << 20;
        float[] tmp = new float[Math.min(n, block)];
        for (int off = 0; off < n; off += block) {
            int len = Math.min(block, n - off);
            for (int i = 0; i < len; i++) tmp[i] = value(seed, off + i, lo, width);
            backend.upload(tmp, 0, len, b.slice(off, len));
        }
        return b;
    }

    /**
     * The baselines' "trivial arithmetic" for reads-only traffic: the sum of {@code (int) a[i]} over
     * the chunk. C2 vectorizes this loop (an int sum may be reordered), so it runs at the speed the
     * memory system allows; a float sum has to stay in order and is compute-bound on one core.
     */
    static int sum(float[] a, int lo, int hi) {
        int s = 0;
        for (int i = lo; i < hi; i++) s += (int) a[i];
        return s;
    }

    /** Sum of per-chunk partials in chunk order, as CpuBackend combines its reductions. */
    static double total(double[] partial) {
        double s = 0;
        for (double p : partial) s += p;
        return s;
    }
}
