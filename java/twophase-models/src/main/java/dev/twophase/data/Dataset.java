package dev.twophase.data;

import java.util.Arrays;

/**
 * A labelled classification data set in host memory: {@code size()} samples of
 * {@code features() = channels * height * width} floats (row-major, channel-major within a sample,
 * as in CIFAR's and PyTorch's NCHW layout) and integer labels in {@code 0..classes()-1}.
 * Flat data (no image structure) has channels = height = 1.
 */
public record Dataset(String name, int channels, int height, int width, int classes, float[] inputs, int[] labels) {

    public Dataset {
        if (channels <= 0 || height <= 0 || width <= 0 || classes <= 1) {
            throw new IllegalArgumentException(name + ": sample shape " + channels + "x" + height + "x" + width + " and " + classes + " classes");
        }
        long features = (long) channels * height * width;
        if ((long) labels.length * features != inputs.length) {
            throw new IllegalArgumentException(name + ": " + inputs.length + " input values for " + labels.length + " samples of " + features + " features");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) throw new IllegalArgumentException(name + ": label " + labels[i] + " of sample " + i + " outside 0.." + (classes - 1));
        }
    }

    /** Flat samples of {@code features} values. */
    public Dataset(String name, int features, int classes, float[] inputs, int[] labels) {
        this(name, 1, 1, features, classes, inputs, labels);
    }

    public int size() { return labels.length; }

    /** Values per sample. */
    public int features() { return channels * height * width; }

    /** The samples at {@code indices}, in that order. */
    public Dataset select(String newName, int[] indices) {
        int features = features();
        float[] x = new float[indices.length * features];
        int[] y = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(inputs, indices[i] * features, x, i * features, features);
            y[i] = labels[indices[i]];
        }
        return new Dataset(newName, channels, height, width, classes, x, y);
    }

    /** The first {@code n} samples (or all when n is 0 or at least the size). */
    public Dataset head(int n) {
        if (n <= 0 || n >= size()) return this;
        int[] idx = new int[n];
        Arrays.setAll(idx, i -> i);
        return select(name, idx);
    }

    /** A train/validation pair. */
    public record Split(Dataset train, Dataset validation) { }

    /**
     * A reproducible split: shuffles indices with {@code seed}, puts {@code validationFraction}
     * of the samples into validation and the rest into training.
     */
    public Split split(double validationFraction, long seed) {
        if (!(validationFraction > 0 && validationFraction < 1)) {
            throw new IllegalArgumentException("validation fraction " + validationFraction + "; expected a value in (0, 1)");
        }
        int[] perm = Shuffle.permutation(size(), seed);
        int nVal = (int) Math.round(size() * validationFraction);
        return new Split(select(name + "-train", Arrays.copyOfRange(perm, nVal, size())),
                select(name + "-val", Arrays.copyOfRange(perm, 0, nVal)));
    }
}
