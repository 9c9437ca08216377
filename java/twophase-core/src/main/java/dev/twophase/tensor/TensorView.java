package dev.twophase.tensor;

import java.util.Arrays;

/** A named tensor that lives at {@code offset} inside a flat parameter buffer. */
public record TensorView(String name, int[] shape, long offset) {

    public TensorView {
        shape = shape.clone();
        for (int d : shape) {
            if (d <= 0) throw new IllegalArgumentException("tensor '" + name + "': dimension " + d + " in shape "
                    + Arrays.toString(shape) + " must be positive");
        }
    }

    public long size() {
        long s = 1;
        for (int d : shape) s *= d;
        return s;
    }

    @Override public int[] shape() { return shape.clone(); }

    public int dim(int i) { return shape[i]; }

    @Override public String toString() { return name + Arrays.toString(shape) + "@" + offset; }
}
