package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;

import java.util.SplittableRandom;

/**
 * One layer of a {@link Network}, acting on row-major mini-batches (one sample per row). Layers
 * hold no memory: parameters come as slices of the flat parameter buffer, activations and any
 * scratch the layer keeps between its forward and backward pass ({@link #workspaceSize}) from the
 * {@link NetworkRunner}, so the same layer runs on any backend.
 */
public interface Layer {

    /** Features per sample going in. */
    int inputSize();

    /** Features per sample coming out. */
    int outputSize();

    /** Appends this layer's tensors to the layout, names prefixed with {@code prefix}. */
    default void declareParameters(ParameterLayout.Builder layout, String prefix) { }

    /** Remembers where its tensors landed in the finished layout. */
    default void bind(ParameterLayout layout, String prefix) { }

    /** Writes initial values of its tensors into the host copy of the flat parameters. */
    default void initialize(float[] params, SplittableRandom rng) { }

    /** Floats of scratch this layer needs for a batch of {@code batch} samples (kept from forward to backward). */
    default long workspaceSize(int batch) { return 0; }

    /** {@code out = layer(in)} for {@code batch} rows; {@code ws} is this layer's workspace (null if it needs none). */
    void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch);

    /**
     * Given {@code dOut}, accumulates parameter gradients into {@code grads} and, when
     * {@code dIn} is not null, writes the gradient with respect to the input.
     */
    void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch);

    /** A short description for reports, e.g. {@code dense 64->32}. */
    String describe();
}
