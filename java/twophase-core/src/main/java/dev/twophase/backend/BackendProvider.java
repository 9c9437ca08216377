package dev.twophase.backend;

/** Opens one kind of backend, or says why it cannot run on this machine. */
public interface BackendProvider {

    /** The name users select it by: {@code cpu}, {@code jcuda}, {@code ffm}. */
    String name();

    /** Whether {@code auto} should prefer this backend when it opens (the GPU backends). */
    boolean accelerated();

    /**
     * Opens the backend with {@code cpuThreads} worker threads for host-side work.
     *
     * @throws BackendUnavailableException with a one-line reason when it cannot run here
     */
    Backend open(int cpuThreads) throws BackendUnavailableException;
}
