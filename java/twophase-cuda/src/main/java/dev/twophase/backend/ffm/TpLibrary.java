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
import java.util.EnumMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A library with the C ABI of {@code cuda/twophase.h}, loaded once per JVM and {@link Kind}: the
 * CUDA build {@code libtwophase_cuda.so} or the emulated {@code libtwophase_emu.so}; from the path
 * in the kind's system property when set, otherwise extracted from the jar to a temporary file.
 * Holds one downcall handle per {@link TpFunction}; the library's ABI version must be {@link
 * CudaAbi#ABI_VERSION}. Loading never touches CUDA (the CUDA build links the runtime statically
 * and only needs libcuda.so.1 once a device call is made). Counts the backends open on it, so that
 * the last one to close releases the library's scratch buffers.
 */
final class TpLibrary {
    /** Which library. */
    enum Kind {
        CUDA("twophase.cuda.library", NativeResources.LIBRARY, "libtwophase_cuda"),
        EMULATED("twophase.emu.library", NativeResources.EMU_LIBRARY, "libtwophase_emu");

        final String property;
        final String resource;
        final String prefix;

        Kind(String property, String resource, String prefix) {
            this.property = property;
            this.resource = resource;
            this.prefix = prefix;
        }
    }

    private static final Map<Kind, TpLibrary> INSTANCES = new EnumMap<>(Kind.class);
    private static final Map<Kind, BackendUnavailableException> FAILURES = new EnumMap<>(Kind.class);

    private final MethodHandle[] handles = new MethodHandle[TpFunction.values().length];
    private final SymbolLookup lookup;
    private int openBackends;

    private TpLibrary(Path path, SymbolLookup lookup) throws BackendUnavailableException {
        this.lookup = lookup;
        Linker linker = Linker.nativeLinker();
        for (TpFunction f : TpFunction.values()) {
            MemorySegment symbol = lookup.find(f.symbol()).orElseThrow(() -> new BackendUnavailableException(
                    path.getFileName() + " does not export " + f.symbol() + " (built from other sources than this jar?)"));
            handles[f.ordinal()] = f.heapAccess()
                    ? linker.downcallHandle(symbol, f.descriptor(), Linker.Option.critical(true))
                    : linker.downcallHandle(symbol, f.descriptor());
        }
    }

    /** The library of this kind, loading it on first use; a failure is remembered and thrown again. */
    static synchronized TpLibrary get(Kind kind) throws BackendUnavailableException {
        TpLibrary lib = INSTANCES.get(kind);
        if (lib != null) return lib;
        if (FAILURES.containsKey(kind)) throw FAILURES.get(kind);
        try {
            lib = load(kind);
            INSTANCES.put(kind, lib);
            return lib;
        } catch (BackendUnavailableException e) {
            FAILURES.put(kind, e);
            throw e;
        }
    }

    private static TpLibrary load(Kind kind) throws BackendUnavailableException {
        String override = System.getProperty(kind.property);
        Path path;
        if (override != null && !override.isBlank()) {
            path = Path.of(override);
            if (!Files.isRegularFile(path)) throw new BackendUnavailableException(kind.property + "=" + override + ": no such file");
        } else {
            path = NativeResources.extract(kind.resource, kind.prefix, ".so");
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

    /** The library's symbols (the emulator's configuration functions beyond the ABI). */
    SymbolLookup lookup() { return lookup; }

    /** A backend opened on this library. */
    synchronized void acquire() { openBackends++; }

    /** A backend closed; true when it was the last one open on this library. */
    synchronized boolean release() { return --openBackends == 0; }

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
