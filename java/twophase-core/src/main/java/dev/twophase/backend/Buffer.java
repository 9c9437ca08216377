package dev.twophase.backend;

/**
 * A float32 array owned by a {@link VectorBackend}: host memory for the CPU backend, device memory for
 * the GPU backends. {@link #slice} returns a view sharing the same memory, so layers can address
 * tensors inside the flat parameter buffer without copying. Closing the buffer that allocated the
 * memory releases it, and the ops then refuse it and its slices with an
 * {@link IllegalStateException}; closing a slice does nothing.
 */
public interface Buffer extends AutoCloseable {

    /** Number of floats in this buffer or slice. */
    long length();

    /** A view of {@code length} floats starting {@code offset} floats into this buffer. */
    Buffer slice(long offset, long length);

    /** The backend that owns the memory; ops only accept buffers of their own backend. */
    VectorBackend backend();

    @Override void close();

    /** Checks a slice request against a buffer length, naming the values when it is out of range. */
    static void checkSlice(long bufferLength, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > bufferLength) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + (offset + length) + ") outside a buffer of " + bufferLength + " floats");
        }
    }
}
