package dev.twophase.backend.cuda;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.BackendUnavailableException;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A GPU backend provider that fails cleanly, once: the first {@link #open} that cannot run here
 * (no driver, no device, a native library or class that does not load, a CUDA error while opening)
 * records a one-line reason, and every later open in this JVM throws {@link
 * BackendUnavailableException} with that same reason without touching native code again.
 * Providers are created anew by each {@code ServiceLoader} pass, so the reason is kept per name.
 */
public abstract class GpuProvider implements BackendProvider {
    private static final Map<String, String> UNAVAILABLE = new ConcurrentHashMap<>();

    /** A GPU backend that is not {@link #emulated()}: {@code auto} prefers it. */
    @Override public final boolean accelerated() { return !emulated(); }

    @Override public final Backend open(int cpuThreads) throws BackendUnavailableException {
        String cached = UNAVAILABLE.get(name());
        if (cached != null) throw new BackendUnavailableException(cached);
        try {
            return openBackend(cpuThreads);
        } catch (BackendUnavailableException e) {
            throw remember(OneLine.of(e.getMessage()), e);
        } catch (LinkageError | RuntimeException e) {
            // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError are LinkageErrors;
            // a CudaException (no device: error 100, driver too old: 35) is a RuntimeException
            throw remember(OneLine.describe(e), e);
        }
    }

    /** Opens the backend, or throws with a reason when it cannot run here. */
    protected abstract Backend openBackend(int cpuThreads) throws BackendUnavailableException;

    private BackendUnavailableException remember(String reason, Throwable cause) {
        String first = UNAVAILABLE.putIfAbsent(name(), reason);
        return new BackendUnavailableException(first != null ? first : reason, cause);
    }

}
