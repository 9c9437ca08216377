package dev.twophase.backend;

import java.util.Arrays;
import java.util.Objects;

/**
 * One Adam step's scalars for a flat buffer, as a segment table: elements
 * {@code [offset(i), offset(i + 1))} are updated with {@code scalars(i)}. This is how per-tensor
 * hyperparameters (PyTorch's parameter groups; here weight decay by tensor) stay one fused pass:
 * a backend walks the table while it streams the buffer, and a kernel finds an element's segment
 * in the table. Adjacent tensors with the same scalars should share a segment (Adam merges
 * them), so the common case is a table of one. Segments may be empty.
 */
public record AdamUpdate(long[] offsets, AdamScalars[] scalars) {

    /** Checks that the offsets start at 0 and never decrease, with one scalar set per segment. */
    public AdamUpdate {
        offsets = offsets.clone();
        scalars = scalars.clone();
        if (scalars.length < 1 || offsets.length != scalars.length + 1 || offsets[0] != 0) {
            throw new IllegalArgumentException("AdamUpdate: " + scalars.length + " scalar sets need " + (scalars.length + 1)
                    + " offsets starting at 0; got " + Arrays.toString(offsets));
        }
        for (int i = 0; i < scalars.length; i++) {
            Objects.requireNonNull(scalars[i], "AdamUpdate: scalars of segment " + i);
            if (offsets[i + 1] < offsets[i]) {
                throw new IllegalArgumentException("AdamUpdate: offsets decrease at segment " + i + ": " + Arrays.toString(offsets));
            }
        }
    }

    /** One segment of {@code length} floats: the same scalars everywhere. */
    public static AdamUpdate uniform(AdamScalars s, long length) {
        return new AdamUpdate(new long[]{0, length}, new AdamScalars[]{s});
    }

    @Override public long[] offsets() { return offsets.clone(); }

    @Override public AdamScalars[] scalars() { return scalars.clone(); }

    public int segments() { return scalars.length; }

    /** First element of segment {@code i}; {@code offset(segments())} is the length. */
    public long offset(int i) { return offsets[i]; }

    public AdamScalars scalars(int i) { return scalars[i]; }

    /** The number of floats the table covers. */
    public long length() { return offsets[scalars.length]; }

    /** The segment that holds element {@code index} ({@code 0 <= index < length()}): the last one starting at or before it. */
    public int segmentOf(long index) {
        int lo = 0, hi = scalars.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (offsets[mid] <= index) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    @Override public String toString() {
        StringBuilder sb = new StringBuilder("AdamUpdate[");
        for (int i = 0; i < scalars.length; i++) {
            sb.append(i == 0 ? "" : ", ").append('[').append(offsets[i]).append(", ").append(offsets[i + 1]).append("): ").append(scalars[i]);
        }
        return sb.append(']').toString();
    }

    @Override public boolean equals(Object o) {
        return o instanceof AdamUpdate u && Arrays.equals(offsets, u.offsets) && Arrays.equals(scalars, u.scalars);
    }

    @Override public int hashCode() { return 31 * Arrays.hashCode(offsets) + Arrays.hashCode(scalars); }
}
