package dev.twophase.backend.cuda;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

/**
 * Device memory of a {@link GpuBackend}: either a root allocation (closing it frees the memory,
 * once) or a slice of one (closing a slice does nothing). Every buffer knows its root and its
 * offset in floats from the root's start; the backend subclass adds the device pointer in the form
 * its binding needs (a JCuda {@code CUdeviceptr}, an FFM address).
 */
public abstract class GpuBuffer implements Buffer {
    private final GpuBackend<?> owner;
    private final GpuBuffer root;
    private final long offset;
    private final long length;
    private volatile boolean freed;

    /** A root allocation of {@code length} floats. */
    protected GpuBuffer(GpuBackend<?> owner, long length) {
        this.owner = owner;
        this.root = this;
        this.offset = 0;
        this.length = length;
    }

    /** A slice of {@code root}: {@code length} floats from {@code offset} floats into it. */
    protected GpuBuffer(GpuBuffer root, long offset, long length) {
        this.owner = root.owner;
        this.root = root;
        this.offset = offset;
        this.length = length;
    }

    @Override public final long length() { return length; }

    /** Offset of this buffer in floats from the start of its root allocation. */
    public final long offset() { return offset; }


    public final GpuBuffer root() { return root; }

    public final boolean isRoot() { return root == this; }

    /** False once the root was closed or the backend closed: the memory is gone. */
    public final boolean isLive() { return !root.freed && !owner.isClosed(); }

    @Override public final Buffer slice(long off, long len) {
        Buffer.checkSlice(length, off, len);
        owner.checkLive(this, "slice");
        return owner.newSlice(root, offset + off, len);
    }

    @Override public final Backend backend() { return owner; }

    /** Frees the memory when this is the root (once); does nothing for a slice. */
    @Override public final void close() {
        if (isRoot()) owner.release(this);
    }

    /** Marks a root freed; returns false when it already was. */
    final boolean markFreed() {
        if (freed) return false;
        freed = true;
        return true;
    }

    /** True when the float ranges of the two buffers overlap in the same allocation. */
    public final boolean overlaps(GpuBuffer other) {
        return root == other.root && offset < other.offset + other.length && other.offset < offset + length
                && length > 0 && other.length > 0;
    }

    @Override public String toString() {
        return owner.name() + " buffer[" + length + " floats" + (isRoot() ? "" : " at +" + offset) + (isLive() ? "" : ", freed") + "]";
    }
}
