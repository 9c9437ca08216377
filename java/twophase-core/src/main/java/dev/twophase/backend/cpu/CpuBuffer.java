package dev.twophase.backend.cpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

/** A slice of a Java float array. The CPU backend's ops read {@link #array} from {@link #offset}. */
final class CpuBuffer implements Buffer {
    final float[] array;
    final int offset;
    final int length;
    private final CpuBackend owner;

    CpuBuffer(CpuBackend owner, float[] array, int offset, int length) {
        this.owner = owner;
        this.array = array;
        this.offset = offset;
        this.length = length;
    }

    @Override public long length() { return length; }

    @Override public Buffer slice(long off, long len) {
        Buffer.checkSlice(length, off, len);
        return new CpuBuffer(owner, array, offset + (int) off, (int) len);
    }

    @Override public Backend backend() { return owner; }

    /** Heap memory goes with the last reference; nothing to release. */
    @Override public void close() { }
}
