package dev.twophase.train;

import dev.twophase.nn.Loss;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.NormMeasure;

/**
 * What every run of a comparison shares: epochs (an epoch is one pass of mini-batch Adam over the
 * training set, or one full-batch CG iteration), Adam's mini-batch size (the paper's 512), the seed
 * for initial weights and batch order, the optimizers' settings and the loss.
 */
public record TrainSettings(int epochs, int batchSize, long seed, AdamConfig adam, CgConfig cg, NormMeasure normMeasure, Loss loss) {

    public TrainSettings {
        if (epochs < 1) throw new IllegalArgumentException("epochs = " + epochs + "; expected at least 1");
        if (batchSize < 1) throw new IllegalArgumentException("batch size = " + batchSize + "; expected at least 1");
    }
}
