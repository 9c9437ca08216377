package dev.twophase.backend.ffm;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.cuda.GpuProvider;

/** Provides {@link FfmBackend} as {@code ffm}; registered in META-INF/services. */
public final class FfmProvider extends GpuProvider {
    @Override public String name() { return "ffm"; }

    @Override protected Backend openBackend(int cpuThreads) throws BackendUnavailableException {
        return FfmBackend.open();
    }
}
