package dev.twophase.backend.ffm;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.cuda.GpuProvider;

/**
 * Provides {@link FfmBackend} on libtwophase_emu.so as {@code ffm-emu}: the FFM backend's code,
 * the kernels on the CPU (see {@link dev.twophase.backend.cuda.Emulation}); registered in
 * META-INF/services.
 */
public final class FfmEmuProvider extends GpuProvider {
    @Override public String name() { return "ffm-emu"; }

    @Override public boolean emulated() { return true; }

    @Override protected Backend openBackend(int cpuThreads) throws BackendUnavailableException {
        return FfmBackend.open(true);
    }
}
