package dev.twophase.backend.cuda;

/**
 * A layer op that a GPU backend has no kernel for would run through {@link
 * dev.twophase.backend.Backend}'s default method, copying its buffers to the host and back: refused
 * unless {@link GpuBackend#allowHostFallback} allows it. Names the backend and the op.
 */
public final class HostFallbackException extends UnsupportedOperationException {
    private final String backend;
    private final String op;

    public HostFallbackException(String backend, String op) {
        super(op + ": the " + backend + " backend has no kernel for this op, and running it through host copies of its buffers "
                + "is refused (a GPU run would move its activations through the host at every step); allow that with "
                + "GpuBackend.allowHostFallback(true), or use the cpu backend");
        this.backend = backend;
        this.op = op;
    }

    /** The backend's name ({@code ffm}, {@code jcuda-emu}, ...). */
    public String backend() { return backend; }

    /** The {@link dev.twophase.backend.Backend} method that has no kernel ({@code im2col}, {@code attention}, ...). */
    public String op() { return op; }
}
