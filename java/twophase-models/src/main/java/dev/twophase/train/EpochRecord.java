package dev.twophase.train;

/**
 * One epoch of a run. {@code evaluations}: cumulative compute in forward+backward-pass
 * equivalents over the training set (line-search forward passes count 1/3 each); {@code seconds}:
 * cumulative training wall time, excluding the per-epoch train/validation evaluation.
 * {@code hostToDeviceBytes} and {@code deviceToHostBytes}: bytes the backend copied between host
 * and device memory during this epoch, its training and its evaluation together (not cumulative;
 * 0 on the CPU backend, see {@link dev.twophase.backend.VectorBackend#transfers()}).
 */
public record EpochRecord(int epoch, String phase, double trainLoss, double trainAccuracy, double valLoss,
                          double valAccuracy, double gradNorm, double evaluations, double seconds,
                          long hostToDeviceBytes, long deviceToHostBytes) {

    /** A record without transfer counts (both 0, as on the CPU backend). */
    public EpochRecord(int epoch, String phase, double trainLoss, double trainAccuracy, double valLoss,
                       double valAccuracy, double gradNorm, double evaluations, double seconds) {
        this(epoch, phase, trainLoss, trainAccuracy, valLoss, valAccuracy, gradNorm, evaluations, seconds, 0, 0);
    }
}
