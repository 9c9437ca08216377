package dev.twophase.optim;

import dev.twophase.backend.Buffer;

/**
 * A deterministic loss over a fixed data set, the embedding API for the CG phase: CG's line
 * search evaluates trial points, so it needs the loss (and gradient) at any point, not only the
 * gradients of a training loop. Implementations own their cost accounting.
 */
public interface Objective {

    /** The loss at {@code params} (a forward pass only; the line search calls this most). */
    double value(Buffer params);

    /** The loss at {@code params}; writes the gradient into {@code gradient} (same length). */
    double valueAndGradient(Buffer params, Buffer gradient);
}
