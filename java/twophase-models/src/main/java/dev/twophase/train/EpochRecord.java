package dev.twophase.train;

/**
 * One epoch of a run. {@code evaluations}: cumulative compute in forward+backward-pass
 * equivalents over the training set (line-search forward passes count 1/3 each); {@code seconds}:
 * cumulative training wall time, excluding the per-epoch train/validation evaluation.
 */
public record EpochRecord(int epoch, String phase, double trainLoss, double trainAccuracy, double valLoss,
                          double valAccuracy, double gradNorm, double evaluations, double seconds) { }
