package dev.twophase.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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
    void aLoopInsideABodyRunsOnTheCallingThread() {
        try (Parallel par = new Parallel(2)) {
            AtomicInteger inner = new AtomicInteger();
            par.forEachIndex(6, i -> par.forEachIndex(7, j -> inner.incrementAndGet()));
            assertEquals(42, inner.get());
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
            par.forEachIndex(4, i -> { });
            Thread.sleep(100);  // well past the idle exit
            Set<Thread> ranOn = ConcurrentHashMap.newKeySet();
            par.forEachIndex(8, i -> {
                ranOn.add(Thread.currentThread());
                sleep(3);
            });
            assertTrue(ranOn.size() >= 2, "8 indices of 3 ms ran on " + ranOn);
        }
    }

    @Test
    void aClosedPoolRefusesParallelLoops() {
        Parallel par = new Parallel(2);
        par.close();
        assertThrows(IllegalStateException.class, () -> par.forEachIndex(4, i -> { }));
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
