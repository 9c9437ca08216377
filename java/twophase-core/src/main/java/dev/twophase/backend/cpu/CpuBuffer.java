package dev.twophase.backend.cpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A slice of CPU memory: of a Java float array ({@link #array} from {@link #offset}), or of a
 * wrapped {@link MemorySegment} ({@link #segment}, {@link #array} null). The ops index arrays
 * directly; segments are read and written through {@link #read}/{@link #write} in small pieces.
 * Slices share their root's open/closed state.
 */
final class CpuBuffer implements Buffer {
    /** Floats in native byte order at any alignment (a wrapped segment need not be 4-byte aligned). */
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** What the root buffer is, for messages, and whether it has been closed. */
    static final class Root {
        final CpuBackend owner;
        final String origin;
        volatile boolean closed;

        Root(CpuBackend owner, String origin) {
            this.owner = owner;
            this.origin = origin;
        }
    }

    /** Never started: asks a segment whether threads other than its owner may access it. */
    private static final Thread OTHER_THREAD = Thread.ofPlatform().unstarted(() -> { });

    final float[] array;
    final MemorySegment segment;
    final int offset;
    final int length;
    final Root root;
    /** A segment of a confined arena: only its owner thread may touch it, so ops run on the calling thread. */
    final boolean confined;

    /** A buffer over {@code array[offset, offset + length)}. */
    CpuBuffer(Root root, float[] array, int offset, int length) {
        this.root = root;
        this.array = array;
        this.segment = null;
        this.offset = offset;
        this.length = length;
        this.confined = false;
    }

    /** A buffer over all of {@code segment} (a whole number of floats). */
    CpuBuffer(Root root, MemorySegment segment) {
        this.root = root;
        this.array = null;
        this.segment = segment;
        this.offset = 0;
        this.length = (int) (segment.byteSize() / Float.BYTES);
        this.confined = !segment.isAccessibleBy(OTHER_THREAD);
    }

    boolean isArray() { return array != null; }

    @Override public long length() { return length; }

    @Override public Buffer slice(long off, long len) {
        Buffer.checkSlice(length, off, len);
        return array != null ? new CpuBuffer(root, array, offset + (int) off, (int) len)
                : new CpuBuffer(root, segment.asSlice(off * Float.BYTES, len * Float.BYTES));
    }

    @Override public Backend backend() { return root.owner; }

    /** Copies elements {@code [from, from + n)} into {@code dst[0, n)}. */
    void read(int from, float[] dst, int n) {
        if (array != null) System.arraycopy(array, offset + from, dst, 0, n);
        else MemorySegment.copy(segment, FLOAT, (long) from * Float.BYTES, dst, 0, n);
    }

    /** Copies {@code src[0, n)} into elements {@code [from, from + n)}. */
    void write(int from, float[] src, int n) {
        if (array != null) System.arraycopy(src, 0, array, offset + from, n);
        else MemorySegment.copy(src, 0, segment, FLOAT, (long) from * Float.BYTES, n);
    }

    /** This buffer's memory as a segment (a heap segment for arrays). */
    MemorySegment asSegment() {
        return array != null ? MemorySegment.ofArray(array).asSlice((long) offset * Float.BYTES, (long) length * Float.BYTES) : segment;
    }

    /**
     * Heap memory goes with the last reference and wrapped memory belongs to the caller; closing
     * only makes the backend refuse this buffer and its slices.
     */
    @Override public void close() { root.closed = true; }

    @Override public String toString() {
        return "cpu buffer of " + length + " floats (" + (array != null && offset != 0 ? "at " + offset + " of " : "") + root.origin + ")";
    }
}
