package dev.twophase.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * Runs loops over fixed-size chunks on a private pool. The chunk size does not depend on the
 * thread count, and reductions combine per-chunk partials in chunk order, so results are
 * bit-identical for any number of threads. Public so that the benchmarks' baselines run on exactly
 * this threading.
 */
public final class Parallel implements AutoCloseable {
    /** Elements per chunk: large enough to amortize scheduling, small enough to balance 2..64 threads. */
    public static final int CHUNK = 1 << 15;

    public interface ChunkBody { void run(int chunk, int lo, int hi); }

    private final int threads;
    private final ForkJoinPool pool;

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads = " + threads + "; expected at least 1");
        this.threads = threads;
        this.pool = threads > 1 ? new ForkJoinPool(threads) : null;
    }

    int threads() { return threads; }

    public static int chunkCount(int n) { return (n + CHUNK - 1) / CHUNK; }

    /** Calls {@code body} once per chunk of {@code [0, n)}, in parallel when there is more than one chunk. */
    public void forEachChunk(int n, ChunkBody body) {
        int chunks = chunkCount(n);
        if (pool == null || chunks <= 1) {
            for (int c = 0; c < chunks; c++) body.run(c, c * CHUNK, Math.min(n, (c + 1) * CHUNK));
            return;
        }
        pool.submit(() -> IntStream.range(0, chunks).parallel()
                .forEach(c -> body.run(c, c * CHUNK, Math.min(n, (c + 1) * CHUNK)))).join();
    }

    /** Calls {@code body(i)} for i in [0, count) in parallel; for work split by rows or columns. */
    void forEachIndex(int count, java.util.function.IntConsumer body) {
        if (pool == null || count <= 1) {
            for (int i = 0; i < count; i++) body.accept(i);
            return;
        }
        pool.submit(() -> IntStream.range(0, count).parallel().forEach(body)).join();
    }

    @Override public void close() {
        if (pool != null) pool.shutdownNow();
    }
}
