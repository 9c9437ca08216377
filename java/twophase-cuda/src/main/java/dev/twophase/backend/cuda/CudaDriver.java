package dev.twophase.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;

/**
 * Whether the NVIDIA driver can be used in this process, found out in about a millisecond by
 * asking the dynamic loader for {@code libcuda.so.1} before anything heavier runs: without it the
 * GPU backends are unavailable at once, without extracting or loading their native libraries (and
 * without loading JCuda's natives, whose failure to load would make JCuda unusable in this JVM,
 * also for {@code jcuda-emu}). A {@code libcuda.so.1} that is twophase's emulated driver (loaded
 * by {@code jcuda-emu} earlier in this JVM: the loader then resolves the name to it) is no NVIDIA
 * driver either.
 */
public final class CudaDriver {
    private CudaDriver() { }

    /** The driver library the GPU backends need. */
    public static final String LIBRARY = "libcuda.so.1";

    /** Null when the NVIDIA driver loads in this process, else a one-line reason why not. */
    public static String unavailableReason() {
        SymbolLookup driver;
        try {
            driver = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
        } catch (IllegalArgumentException e) {
            return "no NVIDIA driver: " + LIBRARY + " cannot be loaded";
        }
        if (driver.find(Emulation.MARKER_SYMBOL).isPresent()) {
            return "the " + LIBRARY + " of this JVM is twophase's emulated driver (jcuda-emu was opened first): "
                    + "the NVIDIA driver cannot be used in the same JVM";
        }
        return null;
    }
}
