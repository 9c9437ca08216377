package dev.twophase.backend;

import java.util.Arrays;
import java.util.Objects;

/**
 * The argument checks of the {@link Backend} contract, shared by every backend so a mistake gets
 * the same message wherever it runs: each names the operation, the argument and the values.
 */
public final class BufferChecks {
    private BufferChecks() { }

    /** {@code b} must have as many floats as {@code ref}. */
    public static void sameLength(String op, String refName, Buffer ref, String name, Buffer b) {
        if (b.length() != ref.length()) {
            throw new IllegalArgumentException(op + ": " + name + " has " + b.length() + " floats, " + refName + " has " + ref.length());
        }
    }

    /** The error for a buffer that is not one of {@code expected}'s: names the op, the argument and both backends. */
    public static IllegalArgumentException foreign(String op, String arg, Buffer b, VectorBackend expected) {
        VectorBackend owner = b.backend();
        String whose = owner == null ? "no backend"
                : owner.name().equals(expected.name()) ? "another " + owner.name() + " backend instance"
                : "another backend (" + owner.name() + ")";
        return new IllegalArgumentException(op + ": " + arg + " belongs to " + whose + ", expected this " + expected.name() + " backend");
    }

    /**
     * Checks a copy between {@code length} floats at {@code offset} of a host array and a buffer:
     * the range must lie inside the array ({@link IndexOutOfBoundsException}) and have the
     * buffer's length ({@link IllegalArgumentException}).
     */
    public static void checkTransfer(String op, String arrayName, float[] array, int offset, int length, String bufferName, Buffer b) {
        Objects.requireNonNull(array, op + ": " + arrayName);
        Objects.requireNonNull(b, op + ": " + bufferName);
        if (offset < 0 || length < 0 || offset > array.length - length) {
            throw new IndexOutOfBoundsException(op + ": " + arrayName + " range [" + offset + ", " + ((long) offset + length)
                    + ") is outside an array of " + array.length + " floats");
        }
        if (length != b.length()) {
            throw new IllegalArgumentException(op + ": " + length + " floats of " + arrayName + " for " + bufferName + " of "
                    + b.length() + " floats; the lengths must be equal");
        }
    }

    /**
     * The floats of {@code array} from {@code offset} to its end, which must be exactly
     * {@code b.length()}: fewer is an {@link IndexOutOfBoundsException}, more (a silent prefix
     * copy) an {@link IllegalArgumentException}.
     */
    public static int rest(String op, String arrayName, float[] array, int offset, String bufferName, Buffer b) {
        Objects.requireNonNull(array, op + ": " + arrayName);
        if (offset < 0 || offset > array.length) {
            throw new IndexOutOfBoundsException(op + ": " + arrayName + " offset " + offset + " is outside an array of " + array.length + " floats");
        }
        long rest = array.length - offset;
        if (rest < b.length()) {
            throw new IndexOutOfBoundsException(op + ": " + arrayName + " has " + rest + " floats from offset " + offset + ", "
                    + bufferName + " has " + b.length());
        }
        if (rest > b.length()) {
            throw new IllegalArgumentException(op + ": " + arrayName + " has " + rest + " floats from offset " + offset + ", "
                    + bufferName + " has " + b.length() + "; the lengths must be equal (the form with a length copies part of an array)");
        }
        return (int) rest;
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

    /** The buffers of {@link Backend#gatherRows}; returns the rows of {@code src}. */
    public static long checkGather(Buffer src, int cols, Buffer indices, Buffer dst) {
        Objects.requireNonNull(src, "gatherRows: src");
        Objects.requireNonNull(indices, "gatherRows: indices");
        Objects.requireNonNull(dst, "gatherRows: dst");
        long srcRows = rowsOf("gatherRows (src)", src, cols);
        checkIndexCount("gatherRows: src", srcRows);
        checkIndexCount("gatherRows: indices", indices.length());
        if (dst.length() != indices.length() * cols) {
            throw new IllegalArgumentException("gatherRows: dst has " + dst.length() + " floats; " + indices.length() + " indices of rows of "
                    + cols + " need " + indices.length() * cols);
        }
        return srcRows;
    }

    /** The buffers of {@link Backend#oneHot}. */
    public static void checkOneHot(Buffer labels, int classes, Buffer dst) {
        Objects.requireNonNull(labels, "oneHot: labels");
        Objects.requireNonNull(dst, "oneHot: dst");
        if (classes <= 0) throw new IllegalArgumentException("oneHot: " + classes + " classes; expected at least 1");
        checkIndexCount("oneHot: labels", labels.length());
        if (dst.length() != labels.length() * classes) {
            throw new IllegalArgumentException("oneHot: dst has " + dst.length() + " floats; " + labels.length() + " labels of " + classes
                    + " classes need " + labels.length() * classes);
        }
    }

    /** The buffers of {@link Backend#countCorrect}. */
    public static void checkCountCorrect(Buffer outputs, int cols, Buffer labels) {
        Objects.requireNonNull(outputs, "countCorrect: outputs");
        Objects.requireNonNull(labels, "countCorrect: labels");
        long rows = rowsOf("countCorrect (outputs)", outputs, cols);
        checkIndexCount("countCorrect: labels", labels.length());
        if (rows != labels.length()) {
            throw new IllegalArgumentException("countCorrect: outputs has " + rows + " rows of " + cols + ", labels has " + labels.length());
        }
    }

    private static void checkIndexCount(String what, long n) {
        if (n > Backend.MAX_INDEX) {
            throw new IllegalArgumentException(what + " has " + n + " rows; float row numbers and labels are exact up to " + Backend.MAX_INDEX);
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

    /** The buffers of an Adam step: param's length must be the update's, the others param's; AMSGrad's maximum is optional. */
    public static void checkAdam(AdamUpdate u, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq, Buffer maxExpAvgSq) {
        Objects.requireNonNull(u, "adamStep: update");
        if (param.length() != u.length()) {
            throw new IllegalArgumentException("adamStep: param has " + param.length() + " floats, the update's segments cover " + u.length());
        }
        sameLength("adamStep", "param", param, "grad", grad);
        sameLength("adamStep", "param", param, "expAvg", expAvg);
        sameLength("adamStep", "param", param, "expAvgSq", expAvgSq);
        if (maxExpAvgSq != null) sameLength("adamStep", "param", param, "maxExpAvgSq", maxExpAvgSq);
    }
}
