package dev.twophase.train;

import dev.twophase.nn.Loss;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.NormMeasure;

/**
 * What every run of a comparison shares: epochs (an epoch is one pass of mini-batch Adam over the
 * training set, or one full-batch CG iteration), Adam's mini-batch size (the paper's 512), the seed
 * for initial weights and batch order, the optimizers' settings, the loss, and when a run counts as
 * diverged: a non-finite training loss or gradient norm, or a training loss above
 * {@code divergenceFactor} times the loss at the initial weights ({@link #DEFAULT_DIVERGENCE_FACTOR};
 * infinity turns that part off).
 */
public record TrainSettings(int epochs, int batchSize, long seed, AdamConfig adam, CgConfig cg, NormMeasure normMeasure, Loss loss,
                            double divergenceFactor) {
    /** A run whose training loss exceeds this multiple of its initial loss has diverged. */
    public static final double DEFAULT_DIVERGENCE_FACTOR = 1e3;

    public TrainSettings {
        if (epochs < 1) throw new IllegalArgumentException("epochs = " + epochs + "; expected at least 1");
        if (batchSize < 1) throw new IllegalArgumentException("batch size = " + batchSize + "; expected at least 1");
        if (!(divergenceFactor > 1)) throw new IllegalArgumentException("divergence factor = " + divergenceFactor + "; expected above 1 (or infinity)");
    }

    /** With the default divergence factor. */
    public TrainSettings(int epochs, int batchSize, long seed, AdamConfig adam, CgConfig cg, NormMeasure normMeasure, Loss loss) {
        this(epochs, batchSize, seed, adam, cg, normMeasure, loss, DEFAULT_DIVERGENCE_FACTOR);
    }
}
