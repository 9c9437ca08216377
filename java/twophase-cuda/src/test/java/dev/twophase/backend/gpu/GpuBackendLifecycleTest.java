package dev.twophase.backend.gpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cuda.CudaException;
import dev.twophase.backend.cuda.GpuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Memory ownership and errors of the GPU backends: closing frees device memory deterministically
 * (a root once, a slice never, the backend everything), use after free is an exception rather than
 * a device fault, device out-of-memory is a {@link CudaException} naming the call and leaves the
 * backend usable, and arguments are checked like the CPU backend's. Skipped without a GPU.
 */
class GpuBackendLifecycleTest {

    private static GpuBackend<?> open(String name) {
        try {
            return (GpuBackend<?>) GpuTestSupport.provider(name).open(1);
        } catch (BackendUnavailableException e) {
            GpuTestSupport.unavailable(name, e.getMessage());
            return null;
        }
    }

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void closingFreesDeviceMemory(String name) {
        long before;
        long bytes;
        try (GpuBackend<?> b = open(name)) {
            before = b.memoryInfo()[0];
            bytes = Math.min(1L << 30, b.memoryInfo()[1] / 16); // 1 GiB on a GPU, 128 MiB of the emulator's 2 GiB
            Buffer keep = b.allocate(bytes / 4);
            Buffer freed = b.allocate(bytes / 4);
            Buffer slice = keep.slice(10, 100);
            assertEquals(2, b.liveAllocations());
            slice.close(); // a slice's close does nothing
            assertEquals(2, b.liveAllocations());
            b.fill(slice, 1f);
            freed.close();
            freed.close(); // once
            assertEquals(1, b.liveAllocations());
            assertThrows(IllegalStateException.class, () -> b.fill(freed, 0f));
            assertTrue(b.memoryInfo()[0] <= before - bytes + (64L << 20), bytes + " bytes still allocated");
        }
        try (GpuBackend<?> b = open(name)) {
            long after = b.memoryInfo()[0];
            assertTrue(after >= before - (64L << 20), name + ": closing the backend did not free its memory: free " + before + " -> " + after);
        }
    }

    /** Out of memory names the size asked for and the memory free, and leaves the backend usable. */
    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void outOfMemoryIsAnExceptionAndTheBackendStaysUsable(String name) {
        try (GpuBackend<?> b = open(name)) {
            long free = b.memoryInfo()[0];
            CudaException e = assertThrows(CudaException.class, () -> b.allocate(1L << 40));
            assertTrue(e.isOutOfMemory(), e.getMessage());
            assertTrue(e.getMessage().contains(name.startsWith("ffm") ? "tp_malloc" : "cuMemAlloc"), e.getMessage());
            assertTrue(e.getMessage().contains("allocate(" + (1L << 40) + " floats = " + (1L << 42) + " bytes"), e.getMessage());
            assertTrue(e.getMessage().contains("device memory: " + free + " of " + b.memoryInfo()[1] + " bytes free"), e.getMessage());
            try (Buffer x = b.allocate(1000)) {
                b.fill(x, 2f);
                double[] out = new double[1];
                b.multiDot(x, new Buffer[] {x}, out);
                assertEquals(4000.0, out[0]);
            }
            assertEquals(0, b.liveAllocations());
        }
    }

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void useAfterCloseAndForeignBuffersAreRejected(String name) {
        GpuBackend<?> b = open(name);
        Buffer x = b.allocate(16), y = b.allocate(17);
        try (CpuBackend cpu = new CpuBackend(1); Buffer c = cpu.allocate(16)) {
            assertThrows(IllegalArgumentException.class, () -> b.copy(c, x));
            assertThrows(IllegalArgumentException.class, () -> b.maxAbs(c));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.axpy(1f, x, y));
            assertTrue(e.getMessage().contains("axpy") && e.getMessage().contains("16") && e.getMessage().contains("17"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> b.upload(new float[10], 0, x));
            assertThrows(IndexOutOfBoundsException.class, () -> b.download(x, new float[20], 5));
            assertThrows(IndexOutOfBoundsException.class, () -> x.slice(10, 7));
            assertThrows(IllegalArgumentException.class, () -> b.segmentedNorms(x, new long[] {0, 15}));
            assertThrows(IllegalArgumentException.class, () -> b.gemm(false, false, 4, 4, 4, 1f, x, 3, x, 4, 0f, x, 4));
        }
        Buffer s = x.slice(4, 4);
        x.close();
        assertThrows(IllegalStateException.class, () -> b.fill(s, 1f), "slice of a freed root");
        b.close();
        b.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> b.allocate(4));
        assertThrows(IllegalStateException.class, () -> b.fill(y, 1f));
        assertThrows(IllegalStateException.class, () -> b.maxAbs(y));
        assertDoesNotThrow(y::close); // memory already freed by the backend
        assertEquals(0, b.liveAllocations());
        assertThrows(IllegalStateException.class,
                () -> b.adamStep(AdamScalars.forStep(1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1), y, y, y, y));
    }

    @ParameterizedTest @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")
    void emptyBuffersAndZeroSizedWork(String name) {
        try (GpuBackend<?> b = open(name); Buffer e = b.allocate(0); Buffer one = b.allocate(1)) {
            b.fill(e, 1f);
            b.copy(e, e.slice(0, 0));
            b.adamStep(AdamScalars.forStep(1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1), e, e, e, e);
            assertEquals(0.0, b.squaredError(e, e, 1f, null));
            assertEquals(0.0, b.softmaxCrossEntropy(e, e, 10, 1f, e));
            assertEquals(0.0, b.segmentedNorms(e, new long[] {0, 0}).totalSumOfSquares());
            b.gemm(false, false, 0, 1, 1, 1f, e, 1, one, 1, 0f, e, 1);
            Backend base = b;
            assertEquals(name, base.name());
        }
    }
}
