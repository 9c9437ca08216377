package dev.twophase.backend.cpu;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * Runs loops over fixed-size chunks on private threads. The chunk size does not depend on the
 * thread count, and reductions combine per-chunk partials in chunk order, so results are
 * bit-identical for any number of threads. Public so that the benchmarks' baselines run on exactly
 * this threading.
 *
 * <p>A training step issues dozens of short parallel loops (an MLP step on a batch of 512 takes
 * about 10 ms), so the cost of starting one matters: a {@code ForkJoinPool} took about 30 us
 * to wake a parked worker. Here the caller takes indices itself, and idle workers spin for
 * {@link #SPIN_NANOS} before they park (as OpenMP runtimes do), so back-to-back loops start
 * without a wake-up. Workers that stay idle for {@link #IDLE_EXIT_NANOS} exit and are started
 * again by the next loop, so a backend that is never closed does not keep threads alive.
 */
public final class Parallel implements AutoCloseable {
    /** Elements per chunk: large enough to amortize scheduling, small enough to balance 2..64 threads. */
    public static final int CHUNK = 1 << 15;
    /** How long an idle worker polls for the next loop before it parks. */
    static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(50);
    /** How long a parked worker waits for a loop before its thread ends. */
    static final long IDLE_EXIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    public interface ChunkBody { void run(int chunk, int lo, int hi); }

    /** One parallel loop: indices are claimed from {@code next}; {@code done} counts finished ones. */
    private static final class Job {
        final long id;
        final int count;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(long id, int count, IntConsumer body) {
            this.id = id;
            this.count = count;
            this.body = body;
        }

        /** Runs indices until none is left; a failure is kept for the caller and the rest still run. */
        void work() {
            for (int i; (i = next.getAndIncrement()) < count; ) {
                try {
                    body.accept(i);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private final int threads;
    private final Thread[] workers;
    private final ReentrantLock dispatch = new ReentrantLock();
    private volatile Job current;
    private volatile boolean closed;
    private long jobs;  // guarded by dispatch

    private final long idleExitNanos;

    public Parallel(int threads) {
        this(threads, IDLE_EXIT_NANOS);
    }

    /** With a shorter idle exit, for tests. */
    Parallel(int threads, long idleExitNanos) {
        if (threads < 1) throw new IllegalArgumentException("threads = " + threads + "; expected at least 1");
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.idleExitNanos = idleExitNanos;
    }

    int threads() { return threads; }

    public static int chunkCount(int n) { return (n + CHUNK - 1) / CHUNK; }

    /** Calls {@code body} once per chunk of {@code [0, n)}, in parallel when there is more than one chunk. */
    public void forEachChunk(int n, ChunkBody body) {
        forEachIndex(chunkCount(n), c -> body.run(c, c * CHUNK, Math.min(n, (c + 1) * CHUNK)));
    }

    /**
     * Calls {@code body(i)} for i in [0, count), in parallel; for work split by rows or columns.
     * A loop started from inside another loop's body runs on the calling thread. The first
     * exception a body throws is rethrown here after all indices have run.
     */
    void forEachIndex(int count, IntConsumer body) {
        if (workers.length == 0 || count <= 1 || isWorker() || dispatch.isHeldByCurrentThread()) {
            for (int i = 0; i < count; i++) body.accept(i);
            return;
        }
        if (closed) throw new IllegalStateException("this thread pool is closed");
        Job job;
        dispatch.lock();
        try {
            job = new Job(++jobs, count, body);
            try {
                current = job;
                wakeWorkers();
            } catch (Throwable t) {
                // No thread could be started: the caller still runs every index, then reports it.
                job.failure.compareAndSet(null, t);
            }
            job.work();
            // Spin while workers finish their last indices; yield once that takes long (a
            // preempted worker on a loaded machine).
            for (int spins = 0; job.done.get() < count; spins++) {
                if (spins < 10_000) Thread.onSpinWait(); else Thread.yield();
            }
        } finally {
            current = null;
            dispatch.unlock();
        }
        Throwable failure = job.failure.get();
        if (failure instanceof RuntimeException e) throw e;
        if (failure instanceof Error e) throw e;
        if (failure != null) throw new IllegalStateException(failure);
    }

    /** Worker threads alive now (for tests of the idle exit). */
    int liveWorkers() {
        int live = 0;
        for (Thread w : workers) if (w != null && w.isAlive()) live++;
        return live;
    }

    private boolean isWorker() {
        Thread me = Thread.currentThread();
        for (Thread w : workers) if (w == me) return true;
        return false;
    }

    /**
     * Starts missing workers and unparks the others; runs under {@link #dispatch}, after
     * {@code current} is set. A worker that has not parked yet keeps the permit, so its next
     * park returns at once and it sees the job: no wake-up is lost.
     */
    private void wakeWorkers() {
        for (int w = 0; w < workers.length; w++) {
            Thread t = workers[w];
            if (t == null || !t.isAlive()) {
                t = Thread.ofPlatform().daemon().name("twophase-cpu-" + (w + 1)).unstarted(this::workerLoop);
                workers[w] = t;
                t.start();
            } else {
                LockSupport.unpark(t);
            }
        }
    }

    /** Polls {@code current}: spinning for a while after each job, then parked. */
    private void workerLoop() {
        long lastJob = 0;  // an id, not the job: a finished job's body (and what it holds) can go
        long idleSince = System.nanoTime();
        while (!closed) {
            Job job = current;
            if (job != null && job.id != lastJob) {
                lastJob = job.id;
                job.work();
                idleSince = System.nanoTime();
                continue;
            }
            long idle = System.nanoTime() - idleSince;
            if (idle < SPIN_NANOS) {
                Thread.onSpinWait();
                continue;
            }
            if (idle > idleExitNanos) return;
            LockSupport.parkNanos(this, Math.min(idleExitNanos, TimeUnit.SECONDS.toNanos(1)));
        }
    }

    @Override public void close() {
        closed = true;
        for (Thread t : workers) if (t != null) LockSupport.unpark(t);
    }
}
