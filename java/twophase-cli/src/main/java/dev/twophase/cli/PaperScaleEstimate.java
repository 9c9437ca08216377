package dev.twophase.cli;

import java.util.Locale;

/**
 * The wall time of one row of the paper's Table 1 at its scale ({@code repro MODEL --scale full}:
 * Adam alone, Adam then CG from the fixed swap, CG alone, each for {@code epochs} epochs on
 * {@code trainSize} samples, with the per-epoch evaluation of {@code trainSize + valSize} samples),
 * from per-sample costs measured on one backend: an Adam epoch as the trainer runs it (the sample
 * order uploaded, batches gathered on the backend), a full-batch gradient pass and a forward pass
 * as CG's objective runs them. A CG epoch costs {@code cgPasses} passes of compute: one gradient
 * and {@code 3 (cgPasses - 1)} loss evaluations (a loss-only pass counts 1/3 of a pass), the shape
 * of the paper's value-only line search.
 */
record PaperScaleEstimate(int trainSize, int valSize, int epochs, int swapEpoch, double cgPasses,
                          double adamSecondsPerSample, double gradientSecondsPerSample, double forwardSecondsPerSample) {

    PaperScaleEstimate {
        if (trainSize < 1 || valSize < 0 || epochs < 1 || swapEpoch < 0 || swapEpoch > epochs || !(cgPasses >= 1)) {
            throw new IllegalArgumentException("paper-scale estimate: " + trainSize + " + " + valSize + " samples, " + epochs + " epochs, swap "
                    + swapEpoch + ", " + cgPasses + " passes per CG epoch");
        }
    }

    double adamEpochSeconds() { return trainSize * adamSecondsPerSample; }

    double cgEpochSeconds() {
        return trainSize * (gradientSecondsPerSample + 3 * (cgPasses - 1) * forwardSecondsPerSample);
    }

    /** The reporting pass after every epoch: loss and accuracy on the training and validation sets. */
    double evaluationSeconds() { return (long) (trainSize + valSize) * forwardSecondsPerSample; }

    double adamRunSeconds() { return epochs * (adamEpochSeconds() + evaluationSeconds()); }

    double twoPhaseRunSeconds() {
        return swapEpoch * (adamEpochSeconds() + evaluationSeconds()) + (epochs - swapEpoch) * (cgEpochSeconds() + evaluationSeconds());
    }

    double cgOnlyRunSeconds() { return epochs * (cgEpochSeconds() + evaluationSeconds()); }

    double totalSeconds() { return adamRunSeconds() + twoPhaseRunSeconds() + cgOnlyRunSeconds(); }

    /** One line: the three runs and the row in hours. */
    String describe() {
        return String.format(Locale.ROOT, "paper scale (%,d + %,d images, %d epochs, swap after %d, CG epochs of %.2f passes): "
                        + "Adam %.2f h, Adam+CG %.2f h, CG alone %.2f h; the Table 1 row %.2f h",
                trainSize, valSize, epochs, swapEpoch, cgPasses, adamRunSeconds() / 3600, twoPhaseRunSeconds() / 3600,
                cgOnlyRunSeconds() / 3600, totalSeconds() / 3600);
    }
}
