package dev.twophase.backend.ffm;

import dev.twophase.backend.cuda.CudaAbi;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS through FFM, loaded at run time by soname (never linked): the path in the system property
 * {@value #LIBRARY_PROPERTY} when set, else {@code libcublas.so.13}, then {@code libcublas.so.12}.
 * One handle on the device's primary context and the legacy default stream (the stream the tp_*
 * calls use), so GEMMs and kernels run in call order. Row-major GEMM is the column-major product
 * with the operands swapped: {@code C^T = op(B)^T op(A)^T}.
 */
final class FfmCublas implements AutoCloseable {
    static final String LIBRARY_PROPERTY = "twophase.cublas.library";
    private static final String[] SONAMES = {"libcublas.so.13", "libcublas.so.12"};

    private final String library;
    private final int version;
    private final MethodHandle sgemm;
    private final MethodHandle sgemmStridedBatched;
    private final MethodHandle destroy;
    private final MemorySegment handle;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment alpha;
    private final MemorySegment beta;

    private FfmCublas(String library, SymbolLookup lookup) {
        this.library = library;
        Linker linker = Linker.nativeLinker();
        MethodHandle create = linker.downcallHandle(find(lookup, "cublasCreate_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        MethodHandle getVersion = linker.downcallHandle(find(lookup, "cublasGetVersion_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        this.destroy = linker.downcallHandle(find(lookup, "cublasDestroy_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        this.sgemm = linker.downcallHandle(find(lookup, "cublasSgemm_v2"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        this.sgemmStridedBatched = linker.downcallHandle(find(lookup, "cublasSgemmStridedBatched"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT,
                JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT));
        this.alpha = arena.allocate(JAVA_FLOAT);
        this.beta = arena.allocate(JAVA_FLOAT);
        MemorySegment slot = arena.allocate(ADDRESS);
        try {
            NativeCall.check("cublasCreate_v2 (" + library + ")", CudaAbi::cublasStatusName, () -> (int) create.invokeExact(slot));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        this.handle = slot.get(ADDRESS, 0);
        MemorySegment v = arena.allocate(JAVA_INT);
        int[] ver = {0};
        try {
            NativeCall.check("cublasGetVersion_v2", CudaAbi::cublasStatusName, () -> (int) getVersion.invokeExact(handle, v));
            ver[0] = v.get(JAVA_INT, 0);
        } catch (RuntimeException ignored) {
            // the version is only for the description
        }
        this.version = ver[0];
    }

    private static MemorySegment find(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("cuBLAS library lacks " + name));
    }

    /**
     * Loads cuBLAS and creates a handle, or returns the reason why not in {@code whyNot} (one entry
     * per library tried) and null.
     */
    static FfmCublas load(List<String> whyNot) {
        String override = System.getProperty(LIBRARY_PROPERTY);
        List<String> names = new ArrayList<>();
        if (override != null && !override.isBlank()) names.add(override);
        else names.addAll(List.of(SONAMES));
        for (String name : names) {
            SymbolLookup lookup;
            try {
                lookup = SymbolLookup.libraryLookup(name, Arena.global());
            } catch (IllegalArgumentException e) {
                whyNot.add(name + " not found");
                continue;
            }
            try {
                return new FfmCublas(name, lookup);
            } catch (RuntimeException e) {
                whyNot.add(name + ": " + e.getMessage());
            }
        }
        return null;
    }

    String description() { return "cuBLAS " + version + " via FFM (" + library + ")"; }

    /** Row-major {@code C = alpha op(A) op(B) + beta C} on device addresses. */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float a, long aPtr, int lda, long bPtr, int ldb, float b,
               long cPtr, int ldc) {
        alpha.set(JAVA_FLOAT, 0, a);
        beta.set(JAVA_FLOAT, 0, b);
        int opA = transA ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N, opB = transB ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N;
        MemorySegment as = MemorySegment.ofAddress(aPtr), bs = MemorySegment.ofAddress(bPtr), cs = MemorySegment.ofAddress(cPtr);
        NativeCall.check("cublasSgemm_v2(" + m + "x" + n + "x" + k + ")", CudaAbi::cublasStatusName,
                () -> (int) sgemm.invokeExact(handle, opB, opA, n, m, k, alpha, bs, ldb, as, lda, beta, cs, ldc));
    }

    /**
     * {@code cublasSgemmStridedBatched} as cuBLAS defines it: column-major, beta 0 (C not read), on device addresses; the
     * caller maps its row-major products (GpuBackend).
     */
    void sgemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float a, long aPtr, int lda, long strideA,
                             long bPtr, int ldb, long strideB, long cPtr, int ldc, long strideC, int batchCount) {
        alpha.set(JAVA_FLOAT, 0, a);
        beta.set(JAVA_FLOAT, 0, 0f);
        int opA = transA ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N, opB = transB ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N;
        MemorySegment as = MemorySegment.ofAddress(aPtr), bs = MemorySegment.ofAddress(bPtr), cs = MemorySegment.ofAddress(cPtr);
        NativeCall.check("cublasSgemmStridedBatched(" + m + "x" + n + "x" + k + ", " + batchCount + " matrices)", CudaAbi::cublasStatusName,
                () -> (int) sgemmStridedBatched.invokeExact(handle, opA, opB, m, n, k, alpha, as, lda, strideA, bs, ldb, strideB, beta, cs,
                        ldc, strideC, batchCount));
    }

    @Override public void close() {
        try {
            NativeCall.check("cublasDestroy_v2", CudaAbi::cublasStatusName, () -> (int) destroy.invokeExact(handle));
        } finally {
            arena.close();
        }
    }
}
