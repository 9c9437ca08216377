package dev.twophase.backend;

import java.util.Arrays;

/**
 * The argument checks of the {@link Backend} contract, shared by every backend so a mistake gets
 * the same message wherever it runs: each names the operation and the values.
 */
public final class BufferChecks {
    private BufferChecks() { }

    public static void sameLength(String op, Buffer first, Buffer... others) {
        for (Buffer o : others) {
            if (o.length() != first.length()) {
                throw new IllegalArgumentException(op + ": buffer lengths differ: " + first.length() + " and " + o.length());
            }
        }
    }

    /** Rows of {@code m} read as a matrix of {@code cols} columns. */
    public static long rowsOf(String op, Buffer m, int cols) {
        if (cols <= 0 || m.length() % cols != 0) {
            throw new IllegalArgumentException(op + ": a buffer of " + m.length() + " floats is not a matrix with " + cols + " columns");
        }
        return m.length() / cols;
    }

    /** A row-major rows x cols matrix with leading dimension ld must fit in {@code x}. */
    public static void checkMatrix(String what, Buffer x, int rows, int cols, int ld) {
        if (rows < 0 || cols < 0 || ld < Math.max(1, cols)) {
            throw new IllegalArgumentException(what + ": " + rows + "x" + cols + " with leading dimension " + ld);
        }
        long need = rows == 0 ? 0 : (long) (rows - 1) * ld + cols;
        if (need > x.length()) {
            throw new IllegalArgumentException(what + ": " + rows + "x" + cols + " (ld " + ld + ") needs " + need + " floats, buffer has " + x.length());
        }
    }

    /** Segment boundaries for {@link Backend#segmentedNorms}: from 0 to {@code length}, never decreasing. */
    public static void checkSegments(long[] offsets, long length) {
        int tensors = offsets.length - 1;
        if (tensors < 1 || offsets[0] != 0 || offsets[tensors] != length) {
            throw new IllegalArgumentException("segmentedNorms: offsets must start at 0 and end at the buffer length " + length
                    + "; got " + Arrays.toString(offsets));
        }
        for (int t = 0; t < tensors; t++) {
            if (offsets[t + 1] < offsets[t]) throw new IllegalArgumentException("segmentedNorms: offsets decrease at tensor " + t);
        }
    }
}
