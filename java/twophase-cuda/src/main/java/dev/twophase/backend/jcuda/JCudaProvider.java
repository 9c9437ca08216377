package dev.twophase.backend.jcuda;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.cuda.GpuProvider;

/** Provides {@link JCudaBackend} as {@code jcuda}; registered in META-INF/services. */
public final class JCudaProvider extends GpuProvider {
    @Override public String name() { return "jcuda"; }

    @Override protected Backend openBackend(int cpuThreads) throws BackendUnavailableException {
        return JCudaBackend.open();
    }
}
