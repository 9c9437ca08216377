package dev.twophase.backend.jcuda;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.cuda.GpuProvider;

/**
 * Provides {@link JCudaBackend} on twophase's emulated CUDA driver as {@code jcuda-emu}: the JCuda
 * backend's code, the kernels on the CPU (see {@link dev.twophase.backend.cuda.Emulation});
 * registered in META-INF/services.
 */
public final class JCudaEmuProvider extends GpuProvider {
    @Override public String name() { return "jcuda-emu"; }

    @Override public boolean emulated() { return true; }

    @Override protected Backend openBackend(int cpuThreads) throws BackendUnavailableException {
        return JCudaBackend.open(true);
    }
}
