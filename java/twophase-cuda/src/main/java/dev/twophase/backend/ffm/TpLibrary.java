package dev.twophase.backend.ffm;

import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.cuda.CudaAbi;
import dev.twophase.backend.cuda.NativeResources;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * libtwophase_cuda.so, loaded once per JVM: from the path in the system property {@value
 * #LIBRARY_PROPERTY} when set, otherwise extracted from the jar ({@code /native/libtwophase_cuda.so})
 * to a temporary file. Holds one downcall handle per {@link TpFunction}; the library's ABI version
 * must be {@link CudaAbi#ABI_VERSION}. Loading never touches CUDA (the library links the CUDA
 * runtime statically and only needs libcuda.so.1 once a device call is made).
 */
final class TpLibrary {
    static final String LIBRARY_PROPERTY = "twophase.cuda.library";

    private static TpLibrary instance;
    private static BackendUnavailableException failure;

    private final MethodHandle[] handles = new MethodHandle[TpFunction.values().length];

    private TpLibrary(Path path, SymbolLookup lookup) throws BackendUnavailableException {
        Linker linker = Linker.nativeLinker();
        for (TpFunction f : TpFunction.values()) {
            MemorySegment symbol = lookup.find(f.symbol()).orElseThrow(() -> new BackendUnavailableException(
                    path.getFileName() + " does not export " + f.symbol() + " (built from other sources than this jar?)"));
            handles[f.ordinal()] = f.heapAccess()
                    ? linker.downcallHandle(symbol, f.descriptor(), Linker.Option.critical(true))
                    : linker.downcallHandle(symbol, f.descriptor());
        }
    }

    /** The library, loading it on first use; a failure is remembered and thrown again. */
    static synchronized TpLibrary get() throws BackendUnavailableException {
        if (instance != null) return instance;
        if (failure != null) throw failure;
        try {
            instance = load();
            return instance;
        } catch (BackendUnavailableException e) {
            failure = e;
            throw e;
        }
    }

    private static TpLibrary load() throws BackendUnavailableException {
        String override = System.getProperty(LIBRARY_PROPERTY);
        Path path;
        if (override != null && !override.isBlank()) {
            path = Path.of(override);
            if (!Files.isRegularFile(path)) throw new BackendUnavailableException(LIBRARY_PROPERTY + "=" + override + ": no such file");
        } else {
            path = NativeResources.extract(NativeResources.LIBRARY, "libtwophase_cuda", ".so");
        }
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(path, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new BackendUnavailableException("cannot load " + path + ": " + e.getMessage(), e);
        }
        TpLibrary lib = new TpLibrary(path, lookup);
        int[] abi = {0};
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            lib.check("tp_abi_version", () -> (int) lib.h(TpFunction.ABI_VERSION).invokeExact(v));
            abi[0] = v.get(JAVA_INT, 0);
        }
        if (abi[0] != CudaAbi.ABI_VERSION) {
            throw new BackendUnavailableException(path.getFileName() + " has ABI version " + abi[0] + ", these bindings need "
                    + CudaAbi.ABI_VERSION + " (stale build: rebuild with cmake)");
        }
        return lib;
    }

    MethodHandle h(TpFunction f) { return handles[f.ordinal()]; }

    /** The one place where tp_* status codes are checked: {@link NativeCall#check} with tp_error_string. */
    void check(String what, NativeCall call) {
        NativeCall.check(what, this::errorString, call);
    }

    /** tp_error_string(code), e.g. "out of memory". */
    String errorString(int code) {
        try {
            MemorySegment s = (MemorySegment) h(TpFunction.ERROR_STRING).invokeExact(code);
            return s.equals(MemorySegment.NULL) ? "error " + code : s.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            return "error " + code + " (tp_error_string failed: " + t + ")";
        }
    }
}
