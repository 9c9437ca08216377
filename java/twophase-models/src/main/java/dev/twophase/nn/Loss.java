package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

import java.util.Locale;

/**
 * Training losses on one-hot targets, as means over the data set.
 * <ul>
 *   <li>{@code MSE} (the paper's loss): mean over samples and outputs of (out - target)^2, Keras'
 *       convention;</li>
 *   <li>{@code CROSS_ENTROPY}: softmax cross-entropy, mean over samples.</li>
 * </ul>
 */
public enum Loss {
    MSE("mse"), CROSS_ENTROPY("cross-entropy");

    private final String id;

    Loss(String id) { this.id = id; }

    public String id() { return id; }

    /** The denominator of the mean over {@code samples} rows of {@code outputs} columns. */
    public double normalizer(long samples, int outputs) {
        return this == MSE ? (double) samples * outputs : samples;
    }

    /**
     * The loss summed over a batch ({@link #normalizer} divides it into the mean); when
     * {@code dOut} is not null writes the gradient of the sum, times {@code gradScale}.
     */
    public double sum(Backend be, Buffer out, Buffer target, int outputs, float gradScale, Buffer dOut) {
        return switch (this) {
            case MSE -> be.squaredError(out, target, gradScale, dOut);
            case CROSS_ENTROPY -> be.softmaxCrossEntropy(out, target, outputs, gradScale, dOut);
        };
    }

    public static Loss parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (Loss l : values()) if (l.id.equals(k) || (l == CROSS_ENTROPY && k.equals("xent"))) return l;
        throw new IllegalArgumentException("unknown loss '" + s + "'; expected mse or cross-entropy");
    }
}
