package dev.twophase.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * {@code cblas_sgemm} from the OpenBLAS build that ships in Maven Central's
 * {@code org.bytedeco:openblas} jar, called through FFM. JavaCPP only extracts and loads the
 * library; the calls go through a critical downcall that passes the Java float arrays in place
 * (no copy, no JNI array pinning).
 *
 * <p>OpenBLAS runs single-threaded: its own threads split the reduction differently for each
 * thread count, which changes the last bits. {@link CpuBackend#gemm} instead splits C into
 * blocks of a size that does not depend on the thread count and runs one single-threaded
 * sgemm per block on the backend's pool, so results are bit-identical for any thread count.
 *
 * <p>Each concurrent call takes one of OpenBLAS's work buffers (128 MiB of lazily mapped memory
 * per slot). The Zen SGEMM kernel prefetches past the packed panels into pages of that buffer
 * that were never touched, and every such prefetch costs a failed page walk: on this project's
 * AMD EPYC machines single-threaded SGEMM ran at 12 instead of 33 GFLOP/s until the pages had
 * been written once. {@link #prefault} writes the start of as many slots as the backend can use
 * at once.
 */
final class OpenBlas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    /**
     * Bytes written at the start of each work buffer, so 16 MiB resident per backend thread. The
     * packed panels of a block fill the buffer from its start (a panel of op(A), then one of
     * op(B), which grows with n); the prefetches fall just past their end. 1 MiB sufficed for
     * every product of the MLP and VGG5 (checked up to 12544x288x64); 16 MiB leaves room for
     * much wider ones.
     */
    private static final long PREFAULT_BYTES = 16L << 20;
    /** Work buffers already prefaulted in this process (OpenBLAS hands out the lowest free slots first). */
    private static int prefaultedSlots;

    private final MethodHandle sgemm, setThreads, memoryAlloc, memoryFree;
    private final String version;

    private OpenBlas(MethodHandle sgemm, MethodHandle setThreads, MethodHandle memoryAlloc, MethodHandle memoryFree, String version) {
        this.sgemm = sgemm;
        this.setThreads = setThreads;
        this.memoryAlloc = memoryAlloc;
        this.memoryFree = memoryFree;
        this.version = version;
    }

    /** Loads OpenBLAS, single-threaded; throws with the reason when it cannot. */
    static OpenBlas load() throws ReflectiveOperationException {
        // The JavaCPP preset class extracts libopenblas_nolapack and its JNI wrapper from the jar.
        Class<?> preset = Class.forName("org.bytedeco.openblas.global.openblas_nolapack");
        String jniPath = org.bytedeco.javacpp.Loader.load(preset);
        if (jniPath == null) throw new IllegalStateException("JavaCPP did not load " + preset.getName());
        // dlsym on the JNI wrapper's handle also searches its dependency, libopenblas_nolapack.
        SymbolLookup lookup = SymbolLookup.libraryLookup(Path.of(jniPath), Arena.global());
        Linker linker = Linker.nativeLinker();
        ValueLayout.OfInt i = ValueLayout.JAVA_INT;
        ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
        MethodHandle sgemm = linker.downcallHandle(symbol(lookup, "cblas_sgemm"),
                FunctionDescriptor.ofVoid(i, i, i, i, i, i, f, ValueLayout.ADDRESS, i, ValueLayout.ADDRESS, i, f, ValueLayout.ADDRESS, i),
                Linker.Option.critical(true));
        MethodHandle setThreads = linker.downcallHandle(symbol(lookup, "openblas_set_num_threads"), FunctionDescriptor.ofVoid(i));
        MethodHandle config = linker.downcallHandle(symbol(lookup, "openblas_get_config"), FunctionDescriptor.of(ValueLayout.ADDRESS));
        // OpenBLAS internals, used only to prefault its buffers: a build without them still runs.
        MethodHandle memoryAlloc = lookup.find("blas_memory_alloc")
                .map(a -> linker.downcallHandle(a, FunctionDescriptor.of(ValueLayout.ADDRESS, i))).orElse(null);
        MethodHandle memoryFree = lookup.find("blas_memory_free")
                .map(a -> linker.downcallHandle(a, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS))).orElse(null);
        try {
            setThreads.invokeExact(1);
            MemorySegment cfg = (MemorySegment) config.invokeExact();
            String version = cfg.reinterpret(256).getString(0);
            return new OpenBlas(sgemm, setThreads, memoryAlloc, memoryFree, version);
        } catch (Throwable t) {
            throw new IllegalStateException("OpenBLAS initialisation failed: " + t, t);
        }
    }

    /** A symbol that must exist (SymbolLookup.findOrThrow is Java 23; the library targets 22). */
    private static MemorySegment symbol(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("OpenBLAS lacks " + name));
    }

    String version() { return version; }

    /**
     * Lets OpenBLAS split each call over its own {@code threads} threads, process-wide. Only for
     * the GEMM benchmark's peer baseline: results then depend on the thread count.
     */
    void useOwnThreads(int threads) {
        try {
            setThreads.invokeExact(threads);
        } catch (Throwable t) {
            throw new IllegalStateException("openblas_set_num_threads failed: " + t, t);
        }
    }

    /**
     * Writes the first {@link #PREFAULT_BYTES} of {@code slots} work buffers, holding them all at
     * once so that each is a different slot. Later single-threaded calls from up to that many
     * threads at a time then reuse these slots (OpenBLAS keeps them mapped). Best effort: on
     * failure GEMM still works, only slower; returns why, or null when the buffers are ready.
     */
    String prefault(int slots) {
        if (memoryAlloc == null || memoryFree == null) return "this OpenBLAS does not export blas_memory_alloc/free";
        synchronized (OpenBlas.class) {
            if (slots <= prefaultedSlots) return null;
            MemorySegment[] held = new MemorySegment[slots];
            Throwable failure = null;
            try {
                for (int s = 0; s < slots; s++) {
                    MemorySegment buffer = (MemorySegment) memoryAlloc.invokeExact(0);
                    if (buffer.address() == 0) throw new IllegalStateException("blas_memory_alloc returned NULL for slot " + s);
                    held[s] = buffer;
                    buffer.reinterpret(PREFAULT_BYTES).fill((byte) 0);
                }
            } catch (Throwable t) {
                failure = t;
            }
            // Every slot taken goes back, whatever failed.
            for (MemorySegment m : held) {
                if (m == null) continue;
                try {
                    memoryFree.invokeExact(m);
                } catch (Throwable t) {
                    if (failure == null) failure = t; else failure.addSuppressed(t);
                }
            }
            if (failure != null) return "prefaulting OpenBLAS work buffers failed: " + failure;
            prefaultedSlots = slots;
            return null;
        }
    }

    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, CpuBuffer a, int lda,
               CpuBuffer b, int ldb, float beta, CpuBuffer c, int ldc) {
        try {
            sgemm.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
                    heap(a), lda, heap(b), ldb, beta, heap(c), ldc);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_sgemm failed: " + t, t);
        }
    }

    private static MemorySegment heap(CpuBuffer x) {
        return MemorySegment.ofArray(x.array).asSlice((long) x.offset * Float.BYTES, (long) x.length * Float.BYTES);
    }
}
