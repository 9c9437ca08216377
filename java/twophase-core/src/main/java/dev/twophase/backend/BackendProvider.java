package dev.twophase.backend;

/** Opens one kind of backend, or says why it cannot run on this machine. */
public interface BackendProvider {

    /** The name users select it by: {@code cpu}, {@code jcuda}, {@code ffm}, {@code jcuda-emu}, {@code ffm-emu}. */
    String name();

    /** Whether {@code auto} should prefer this backend when it opens (the GPU backends). */
    boolean accelerated();

    /**
     * Whether this backend runs the CUDA kernels on the CPU through twophase's CUDA emulator: for
     * testing the kernels and the GPU bindings without a GPU, slow, never chosen by {@code auto}.
     */
    default boolean emulated() { return false; }

    /**
     * Opens the backend with {@code cpuThreads} worker threads for host-side work.
     *
     * @throws BackendUnavailableException with a one-line reason when it cannot run here
     */
    Backend open(int cpuThreads) throws BackendUnavailableException;
}
