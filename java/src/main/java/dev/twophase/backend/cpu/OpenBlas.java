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
 */
final class OpenBlas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    private final MethodHandle sgemm;
    private final String version;

    private OpenBlas(MethodHandle sgemm, String version) {
        this.sgemm = sgemm;
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
        MethodHandle sgemm = linker.downcallHandle(lookup.findOrThrow("cblas_sgemm"),
                FunctionDescriptor.ofVoid(i, i, i, i, i, i, f, ValueLayout.ADDRESS, i, ValueLayout.ADDRESS, i, f, ValueLayout.ADDRESS, i),
                Linker.Option.critical(true));
        MethodHandle setThreads = linker.downcallHandle(lookup.findOrThrow("openblas_set_num_threads"), FunctionDescriptor.ofVoid(i));
        MethodHandle config = linker.downcallHandle(lookup.findOrThrow("openblas_get_config"), FunctionDescriptor.of(ValueLayout.ADDRESS));
        try {
            setThreads.invokeExact(1);
            MemorySegment cfg = (MemorySegment) config.invokeExact();
            String version = cfg.reinterpret(256).getString(0);
            return new OpenBlas(sgemm, version);
        } catch (Throwable t) {
            throw new IllegalStateException("OpenBLAS initialisation failed: " + t, t);
        }
    }

    String version() { return version; }

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
