package dev.twophase.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A scheduling bug shows as a hang, so every test has a time limit. */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ParallelTest {
    @ParameterizedTest @ValueSource(ints = {1, 2, 4})
    void everyIndexRunsExactlyOnce(int threads) {
        try (Parallel par = new Parallel(threads)) {
            for (int count : new int[]{0, 1, 2, 3, 17, 1000}) {
                for (int round = 0; round < 50; round++) {
                    AtomicIntegerArray runs = new AtomicIntegerArray(count);
                    par.forEachIndex(count, runs::incrementAndGet);
                    for (int i = 0; i < count; i++) assertEquals(1, runs.get(i), "index " + i + " of " + count);
                }
            }
        }
    }

    @Test
    void chunksCoverTheRangeOnce() {
        try (Parallel par = new Parallel(3)) {
            int n = 5 * Parallel.CHUNK + 123;
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            par.forEachChunk(n, (c, lo, hi) -> {
                assertEquals(c * Parallel.CHUNK, lo);
                for (int i = lo; i < hi; i++) hits.incrementAndGet(i);
            });
            for (int i = 0; i < n; i++) assertEquals(1, hits.get(i));
        }
    }

    @Test
    void aFailureIsRethrownAfterTheOtherIndicesRanAndThePoolStaysUsable() {
        try (Parallel par = new Parallel(2)) {
            AtomicInteger ran = new AtomicInteger();
            IllegalArgumentException boom = new IllegalArgumentException("index 5");
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, () -> par.forEachIndex(40, i -> {
                ran.incrementAndGet();
                if (i == 5) throw boom;
            }));
            assertSame(boom, thrown);
            assertEquals(40, ran.get());
            AtomicInteger after = new AtomicInteger();
            par.forEachIndex(9, i -> after.incrementAndGet());
            assertEquals(9, after.get());
        }
    }

    @Test
    void aLoopInsideABodyRunsOnTheThreadRunningThatBody() {
        try (Parallel par = new Parallel(2)) {
            // Both outer indices wait for each other, so the worker must run one of them.
            CountDownLatch bothIn = new CountDownLatch(2);
            Set<Thread> outer = ConcurrentHashMap.newKeySet();
            AtomicInteger inner = new AtomicInteger(), elsewhere = new AtomicInteger();
            par.forEachIndex(2, i -> {
                Thread me = Thread.currentThread();
                outer.add(me);
                bothIn.countDown();
                await(bothIn);
                par.forEachIndex(7, j -> {
                    inner.incrementAndGet();
                    if (Thread.currentThread() != me) elsewhere.incrementAndGet();
                });
            });
            assertEquals(2, outer.size(), "the outer indices ran on " + outer);
            assertEquals(14, inner.get());
            assertEquals(0, elsewhere.get(), "inner indices that left their outer body's thread");
        }
    }

    @Test
    void loopsFromTwoCallersAtOnceBothComplete() throws Exception {
        try (Parallel par = new Parallel(2)) {
            AtomicInteger total = new AtomicInteger();
            Runnable caller = () -> {
                for (int r = 0; r < 200; r++) par.forEachIndex(11, i -> total.incrementAndGet());
            };
            Thread a = new Thread(caller), b = new Thread(caller);
            a.start();
            b.start();
            a.join(TimeUnit.SECONDS.toMillis(30));
            b.join(TimeUnit.SECONDS.toMillis(30));
            assertEquals(2 * 200 * 11, total.get());
        }
    }

    @Test
    void workersThatExitedWhenIdleAreStartedAgain() throws Exception {
        try (Parallel par = new Parallel(2, TimeUnit.MILLISECONDS.toNanos(1))) {
            par.forEachIndex(2, i -> { });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (par.liveWorkers() > 0 && System.nanoTime() < deadline) Thread.sleep(5);
            assertEquals(0, par.liveWorkers(), "the idle worker should have exited");
            // Two indices that wait for each other complete only if a worker runs one of them.
            CountDownLatch bothIn = new CountDownLatch(2);
            par.forEachIndex(2, i -> {
                bothIn.countDown();
                await(bothIn);
            });
            assertEquals(0, bothIn.getCount());
        }
    }

    @Test
    void aClosedPoolRefusesParallelLoops() {
        Parallel par = new Parallel(2);
        par.close();
        assertThrows(IllegalStateException.class, () -> par.forEachIndex(4, i -> { }));
    }

    /** Waits for the latch, failing the body (and so the test) after 20 s. */
    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(20, TimeUnit.SECONDS)) throw new AssertionError("no second thread joined the loop");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
